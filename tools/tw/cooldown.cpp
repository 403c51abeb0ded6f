// tw cooldown: start the compressor and bring a temperature controller's
// sensor to a setpoint with tw::algorithms::cooldown, printing each step and
// a reading at most once a second, then a summary table (or, with --json, a
// JSON report).
//
//   tw cooldown --sim                                   (a demo of a few seconds)
//   tw cooldown --sim --fault modbus/alarm:overheat     (a compressor that trips)
//   tw cooldown --controller 10.0.0.5:5025 --compressor 10.0.0.6:1502
//               --setpoint 4.2 --deadline 2h --tolerance 0.02 --hold 5m --ramp 0.5
//
// --sim starts a simulated controller and compressor in-process with short
// time constants (tau 300 ms, compressor start 500 ms); with it --setpoint
// defaults to 10 K, --hold to 1s and --poll to 100ms.
//
// Exit 1 if the compressor is or goes into fault, the deadline passes, an
// instrument fails, or SIGINT/SIGTERM cancels the run (the compressor is left
// running); 2 for usage errors.
//
// JSON (schema 1): {"schema": 1, "tool": "tw VERSION", "command": "...",
// "status": "ok"|"fault"|"timeout"|"failed"|"cancelled", "error": "...",
// "setpoint_k", "final_temperature_k", "time_to_running_s", "time_to_stable_s",
// "warnings": [...], "alarms": [...], "steps": [{"at_s", "what"}]}

#include "commands.hpp"
#include "interrupt.hpp"
#include "tune_report.hpp"
#include "verb_util.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/core.h>

#include <tw/algorithms/cooldown.hpp>
#include <tw/duration.hpp>
#include <tw/errors.hpp>
#include <tw/run.hpp>
#include <tw/runtime.hpp>
#include <tw/sim/simulator.hpp>
#include <tw/yield.hpp>

namespace tw::cli {

namespace {

namespace alg = tw::algorithms;
namespace json = boost::json;
using namespace std::chrono_literals;

struct cooldown_cli_options {
    std::string controller, compressor;
    std::optional<double> setpoint;
    bool sim = false;
    std::vector<std::string> faults;
    std::string deadline = "1h";
    int loop = 1;
    int sensor = 1;
    double tolerance = 0.05;
    std::optional<std::string> hold, poll;
    double ramp = 0;
    bool acknowledge_fault = false;
    std::string timeout = "5s";
    bool json = false;
};

std::string names_text(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out.empty() ? "none" : out;
}

void run_cooldown(const cooldown_cli_options& o) {
    early_interrupts keep_ctrl_c;  // from here on, a Ctrl-C ends the run with its summary
    if (o.sim == !(o.controller.empty() && o.compressor.empty()))
        throw CLI::ValidationError("cooldown", "give either --controller and --compressor, or --sim");
    if (!o.sim && (o.controller.empty() || o.compressor.empty()))
        throw CLI::ValidationError("cooldown", "give both --controller HOST:PORT and --compressor HOST:PORT");
    if (!o.sim && !o.setpoint) throw CLI::ValidationError("--setpoint", "required (kelvin)");
    if (!o.faults.empty() && !o.sim) throw CLI::ValidationError("--fault", "only with --sim");

    alg::cooldown_options co;
    co.loop = o.loop;
    co.sensor = o.sensor;
    co.tolerance = o.tolerance;
    co.ramp_rate = o.ramp;
    co.acknowledge_fault = o.acknowledge_fault;
    co.hold = o.hold ? duration_option("--hold", *o.hold) : (o.sim ? tw::clock::duration(1s) : co.hold);
    co.poll = o.poll ? duration_option("--poll", *o.poll) : (o.sim ? tw::clock::duration(100ms) : co.poll);
    if (co.poll.count() <= 0) throw CLI::ValidationError("--poll", "must be more than 0");
    auto deadline = duration_option("--deadline", o.deadline);
    if (deadline.count() == 0) deadline = tw::clock::duration::max();
    const auto timeout = timeout_option(o.timeout);
    const double setpoint = o.setpoint.value_or(10.0);
    if (o.tolerance == 0) throw CLI::ValidationError("--tolerance", "must be more than 0 K");

    // The simulated instruments, in-process, on a runtime of their own.
    std::optional<tw::runtime> sim_rt;
    std::optional<tw::sim::simulator> sim;
    std::string controller = o.controller, compressor = o.compressor;
    if (o.sim) {
        tw::sim::config c;
        c.boards = 0;
        c.scpi = 1;
        c.modbus = 1;
        c.tau = 300ms;
        c.compressor_start = 500ms;
        c.compressor_stop = 300ms;
        try {
            for (const auto& f : o.faults) c.faults.push_back(tw::sim::parse_fault(f));
            tw::sim::validate(c);
        } catch (const std::invalid_argument& e) {
            throw CLI::ValidationError(e.what());
        }
        sim_rt.emplace(tw::runtime_options{.threads = 1, .name = "tw-sim"});
        sim.emplace(c, *sim_rt);
        controller = sim->scpi_addresses().at(0);
        compressor = sim->modbus_addresses().at(0);
    }

    // Steps as they happen; a reading at most once a second. In --json mode
    // stdout holds the report alone, so the lines go to stderr.
    std::FILE* lines = o.json ? stderr : stdout;
    fmt::print(lines, "cooldown: controller {}, compressor {}{}, setpoint {} K, deadline {}\n", controller, compressor,
               o.sim ? " (simulated)" : "", setpoint,
               deadline == tw::clock::duration::max() ? "none" : tw::format_duration(deadline));
    std::fflush(lines);
    auto last_line = std::chrono::steady_clock::now() - 1h;
    co.on_step = [&](const alg::cooldown_step& s) {
        fmt::print(lines, "cooldown: [{:7.1f} s] {}\n", s.at_s, s.what);
        std::fflush(lines);
        last_line = std::chrono::steady_clock::now();  // a reading only after a second of quiet
    };
    co.progress = [&](const alg::cooldown_progress& p) {
        const auto now = std::chrono::steady_clock::now();
        if (now - last_line < 1s) return;
        last_line = now;
        if (p.stage == alg::cooldown_progress::phase::compressor)
            fmt::print(lines, "cooldown: [{:7.1f} s] compressor {}\n", p.elapsed_s, tw::modbus::to_string(p.state));
        else
            fmt::print(lines, "cooldown: [{:7.1f} s] sensor {} at {:.4f} K (setpoint {} K), in band for {:.1f} s\n",
                       p.elapsed_s, o.sensor, p.temperature, p.setpoint, p.in_band_s);
        std::fflush(lines);
    };

    std::optional<alg::cooldown_result> result;
    std::string status = "ok", error;
    tw::runtime rt({.threads = 1, .name = "tw-cooldown"});
    const bool interrupted = run_interruptible(rt, [&] {
        try {
            tw::modbus::compressor comp(compressor, tw::modbus::options{.timeout = timeout, .log = verb_log()});
            tw::scpi::temperature_controller tc(controller, tw::scpi::options{.timeout = timeout, .log = verb_log()});
            result = alg::cooldown(comp, tc, setpoint, deadline, co);
        } catch (const alg::cooldown_error& e) {
            status = "fault";
            error = e.what();
            result = e.result();
        } catch (const tw::timeout_error& e) {
            status = "timeout";
            error = e.what();
        } catch (const tw::cancelled_error& e) {
            status = "cancelled";
            error = e.what();
        } catch (const std::exception& e) {
            status = "failed";
            error = e.what();
        }
    });
    if (sim) sim->stop();

    if (o.json) {
        auto r = report_header(1, command_line());
        r["status"] = status;
        r["error"] = error;
        r["setpoint_k"] = setpoint;
        json::array steps, warnings, alarms;
        if (result) {
            r["final_temperature_k"] = result->final_temperature;
            r["time_to_running_s"] = result->time_to_running_s;
            r["time_to_stable_s"] = result->time_to_stable_s;
            for (const auto& w : result->warnings) warnings.push_back(json::string(w));
            for (const auto& a : result->alarms) alarms.push_back(json::string(a));
            for (const auto& s : result->steps) steps.push_back(json::object{{"at_s", s.at_s}, {"what", s.what}});
        } else {
            r["final_temperature_k"] = nullptr;
            r["time_to_running_s"] = nullptr;
            r["time_to_stable_s"] = nullptr;
        }
        r["warnings"] = std::move(warnings);
        r["alarms"] = std::move(alarms);
        r["steps"] = std::move(steps);
        fmt::print("{}\n", json::serialize(r));
    } else if (result) {
        const bool ok = status == "ok";
        fmt::print("\n{:<20}{}\n", "status", status);
        fmt::print("{:<20}{} K\n", "setpoint", setpoint);
        if (ok) {
            fmt::print("{:<20}{:.4f} K\n", "final temperature", result->final_temperature);
            fmt::print("{:<20}{:.2f} s\n", "time to running", result->time_to_running_s);
            fmt::print("{:<20}{:.2f} s\n", "time to stable", result->time_to_stable_s);
        }
        fmt::print("{:<20}{}\n", "warnings", names_text(result->warnings));
        fmt::print("{:<20}{}\n", "alarms", names_text(result->alarms));
    }
    std::fflush(stdout);

    if (interrupted) throw tw::cancelled_error("cooldown: interrupted");
    if (status != "ok") throw std::runtime_error(error);
}

}  // namespace

void add_cooldown_command(CLI::App& app) {
    auto o = std::make_shared<cooldown_cli_options>();
    auto* cmd = app.add_subcommand("cooldown", "Start the compressor and wait until a sensor is stable at a setpoint");
    auto* controller = cmd->add_option("--controller", o->controller, "SCPI temperature controller")
                            ->option_text("HOST:PORT")
                            ->check(address_check());
    auto* compressor = cmd->add_option("--compressor", o->compressor, "Modbus compressor")
                            ->option_text("HOST:PORT")
                            ->check(address_check());
    auto* sim = cmd->add_flag("--sim", o->sim, "Start a simulated controller and compressor in-process (a demo of seconds)");
    sim->excludes(controller);
    sim->excludes(compressor);
    cmd->add_option("--fault", o->faults, "Fault of the simulated instruments (--sim; repeatable), e.g. modbus/alarm:overheat")
        ->option_text("SPEC");
    // Ranges: a cryostat's controller (a Lakeshore 336 takes setpoints to
    // 1500 K and ramps of 0.1 mK/min to 100 K/min).
    real_option(*cmd, "--setpoint", o->setpoint, "Target temperature in kelvin (--sim: default 10)", 0, 1500)->type_name("K");
    cmd->add_option("--deadline", o->deadline, "For the whole cooldown (DUR: 90s, 2h; 0: none)")->capture_default_str();
    count_option(*cmd, "--loop", o->loop, "Heater loop of the setpoint", 1, 2)->capture_default_str();
    count_option(*cmd, "--sensor", o->sensor, "Sensor that must settle", 1, 8)->capture_default_str();
    real_option(*cmd, "--tolerance", o->tolerance, "Kelvin either side of the setpoint, more than 0", 0, 100)->capture_default_str();
    cmd->add_option("--hold", o->hold, "Time within the tolerance that counts as stable (DUR; default 30s, --sim 1s)")
        ->option_text("DUR");
    cmd->add_option("--poll", o->poll, "Between readings (DUR; default 1s, --sim 100ms)")->option_text("DUR");
    real_option(*cmd, "--ramp", o->ramp, "Ramp the setpoint at this many K/min (0: step)", 0, 100)
        ->type_name("K/min")
        ->capture_default_str();
    cmd->add_flag("--acknowledge-fault", o->acknowledge_fault,
                  "Acknowledge a compressor found in fault and start it again (default: refuse)");
    cmd->add_option("--timeout", o->timeout, "Per request to an instrument")->capture_default_str();
    cmd->add_flag("--json", o->json, "Print a JSON report instead of the table (progress lines go to stderr)");
    cmd->footer("Exit status 1 if the compressor faults, the deadline passes, an instrument fails or Ctrl-C cancels "
                "the run (the compressor is left running).\n");
    cmd->callback([o] { run_cooldown(*o); });
}

}  // namespace tw::cli
