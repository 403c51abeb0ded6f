// tw health: check every board of a list (or N simulated boards started
// in-process) with tw::algorithms::health_check and print one table row per
// board — status, serial, firmware, FPGA temperature, round-trip latency,
// error — then a summary line; or, with --json, the same as a JSON report.
//
//   tw health --sim 8 [--fault refuse@3]
//   tw health --boards 10.0.0.1:9000+64 --concurrency 32 --timeout 2s --max-temp 70
//
// The flags after --boards/--sim are the shell's `health` too: see health.hpp.
//
// Exit 1 if any board is not ok (unreachable, failed, timeout, warm, or
// cancelled by SIGINT/SIGTERM — the table is still printed, unfinished boards
// marked "cancelled"); 2 for usage errors.
//
// JSON (schema 1): {"schema": 1, "tool": "tw VERSION", "command": "...",
// "elapsed_s": X, "boards": [{"address", "name", "status", "error",
// "reachable", "serial", "firmware", "temperature_c"|null, "latency_ms"|null,
// "elapsed_s"}], "summary": {"boards", "ok", "warm", "unreachable", "failed",
// "timeout", "cancelled", "interrupted"}}

#include "health.hpp"

#include "board_set.hpp"
#include "commands.hpp"
#include "interrupt.hpp"
#include "tune_report.hpp"
#include "verb_util.hpp"

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/core.h>

#include <tw/algorithms/health.hpp>
#include <tw/duration.hpp>
#include <tw/errors.hpp>
#include <tw/run.hpp>
#include <tw/runtime.hpp>

namespace tw::cli {

namespace {

namespace alg = tw::algorithms;
namespace json = boost::json;

struct health_cli_options : board_flags {
    std::vector<std::string> faults;
    health_words words;
};

std::string temperature_text(const alg::board_health& h) {
    return h.temperature ? fmt::format("{:.1f}", *h.temperature) : "-";
}
std::string latency_text(const alg::board_health& h) {
    return h.latency_s ? fmt::format("{:.2f}", *h.latency_s * 1e3) : "-";
}

void run_health(const health_cli_options& o) {
    early_interrupts keep_ctrl_c;  // from here on, a Ctrl-C ends the run with its summary
    auto ho = health_options_of(o.words);
    // health reads no channel: 4 per simulated board keep start-up light.
    auto set = board_set::from_flags(o.boards, o.sim, std::nullopt, 4, false, o.faults);
    const auto& boards = set.boards;
    const auto addresses = set.addresses();
    std::vector<std::optional<alg::board_health>> results(boards.size());
    ho.on_board = [&](std::size_t i, const alg::board_health& h) { results[i] = h; };

    const auto t0 = std::chrono::steady_clock::now();
    tw::runtime rt({.threads = 1, .name = "tw-health"});
    const bool interrupted = run_interruptible(rt, [&] { alg::health_check(addresses, ho); });
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    print_health(boards, std::move(results), interrupted, elapsed, o.words.json);
}

}  // namespace

void add_health_words(CLI::App& cmd, health_words& w) {
    count_option(cmd, "--concurrency", w.concurrency, "Boards checked at once (0: all)", 0, k_max_concurrency)
        ->capture_default_str();
    cmd.add_option("--timeout", w.timeout, "Per board, connecting included (DUR: 500ms, 2s)")->capture_default_str();
    cmd.add_option("--deadline", w.deadline, "For the whole check (DUR; 0: none); boards still running time out")
        ->capture_default_str();
    // From absolute zero to far above any board's limit: a typo, not a limit, beyond.
    real_option(cmd, "--max-temp", w.max_temp, "Flag boards warmer than this many °C as warm", -273.15, 1000)->type_name("C");
    real_option(cmd, "--min-temp", w.min_temp, "Flag boards colder than this many °C as warm (a suspect sensor)", -273.15, 1000)
        ->type_name("C");
    cmd.add_flag("--json", w.json, "Print a JSON report instead of the table");
}

alg::health_options health_options_of(const health_words& w) {
    const auto timeout = timeout_option(w.timeout);
    const auto deadline = duration_option("--deadline", w.deadline);
    alg::health_options ho;
    ho.concurrency = w.concurrency;
    ho.board.timeout = std::chrono::duration_cast<tw::clock::duration>(timeout);
    ho.board.limits.max = w.max_temp;
    ho.board.limits.min = w.min_temp;
    ho.board.tuber.timeout = timeout;
    if (deadline.count() > 0) ho.deadline = std::chrono::duration_cast<tw::clock::duration>(deadline);
    return ho;
}

void print_health(const std::vector<board_entry>& boards, std::vector<std::optional<alg::board_health>> results,
                  bool interrupted, double elapsed, bool as_json) {
    std::map<alg::health_status, std::size_t> count;
    for (std::size_t i = 0; i < results.size(); ++i) {
        if (!results[i]) {  // the run was cancelled before this board ended
            alg::board_health h;
            h.address = boards[i].address;
            h.status = alg::health_status::cancelled;
            h.error = "cancelled before it finished";
            results[i] = h;
        }
        ++count[results[i]->status];
    }
    const std::size_t ok = count[alg::health_status::ok];

    if (as_json) {
        auto r = report_header(1, command_line());
        r["elapsed_s"] = elapsed;
        json::array bs;
        for (std::size_t i = 0; i < boards.size(); ++i) {
            const auto& h = *results[i];
            json::object b;
            b["address"] = h.address;
            b["name"] = boards[i].name;
            b["status"] = alg::to_string(h.status);
            b["error"] = h.error;
            b["reachable"] = h.reachable;
            b["serial"] = h.serial;
            b["firmware"] = h.firmware;
            if (h.temperature)
                b["temperature_c"] = *h.temperature;
            else
                b["temperature_c"] = nullptr;
            if (h.latency_s)
                b["latency_ms"] = *h.latency_s * 1e3;
            else
                b["latency_ms"] = nullptr;
            b["elapsed_s"] = h.elapsed_s;
            bs.push_back(std::move(b));
        }
        r["boards"] = std::move(bs);
        json::object s{{"boards", boards.size()}, {"interrupted", interrupted}};
        for (auto st : {alg::health_status::ok, alg::health_status::warm, alg::health_status::unreachable,
                        alg::health_status::failed, alg::health_status::timeout, alg::health_status::cancelled})
            s[alg::to_string(st)] = count[st];
        r["summary"] = std::move(s);
        fmt::print("{}\n", json::serialize(r));
    } else {
        std::size_t wa = 7, wn = 4, ws = 6;
        for (std::size_t i = 0; i < boards.size(); ++i) {
            wa = std::max(wa, results[i]->address.size());
            wn = std::max(wn, boards[i].name.size());
            ws = std::max(ws, results[i]->serial.size());
        }
        fmt::print("{:<{}}  {:<{}}  {:<11}  {:<{}}  {:<10}  {:>8}  {:>11}  {}\n", "ADDRESS", wa, "NAME", wn, "STATUS",
                   "SERIAL", ws, "FIRMWARE", "TEMP_C", "LATENCY_MS", "ERROR");
        for (std::size_t i = 0; i < boards.size(); ++i) {
            const auto& h = *results[i];
            fmt::print("{:<{}}  {:<{}}  {:<11}  {:<{}}  {:<10}  {:>8}  {:>11}  {}\n", h.address, wa,
                       boards[i].name.empty() ? "-" : boards[i].name, wn, alg::to_string(h.status),
                       h.serial.empty() ? "-" : h.serial, ws, h.firmware.empty() ? "-" : h.firmware, temperature_text(h),
                       latency_text(h), h.error);
        }
        std::string summary = fmt::format("\nhealth: {} board{}: {} ok", boards.size(), boards.size() == 1 ? "" : "s", ok);
        for (auto st : {alg::health_status::warm, alg::health_status::unreachable, alg::health_status::failed,
                        alg::health_status::timeout, alg::health_status::cancelled})
            if (count[st]) summary += fmt::format(", {} {}", count[st], alg::to_string(st));
        fmt::print("{} ({:.2f} s)\n", summary, elapsed);
    }
    std::fflush(stdout);

    end_of_board_run("health", interrupted, ok, boards.size(), "not ok");
}

void add_health_command(CLI::App& app) {
    auto o = std::make_shared<health_cli_options>();
    auto* cmd = app.add_subcommand("health", "Check boards: reachable, serial, firmware, temperature, latency");
    add_board_flags(*cmd, *o, "and check them", /*seed_and_channels=*/false);
    cmd->add_option("--fault", o->faults, "Fault of the simulated boards (--sim; repeatable), e.g. refuse@1, stall@2")
        ->option_text("SPEC");
    add_health_words(*cmd, o->words);
    cmd->footer("Exit status 1 if any board is not ok (unreachable, failed, timeout, warm, or cancelled by Ctrl-C).\n");
    cmd->callback([o] { run_health(*o); });
}

}  // namespace tw::cli
