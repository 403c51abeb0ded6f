// tw sim: serve simulated readout boards (Tuber, JSON-RPC at /rpc), SCPI
// temperature controllers and Modbus TCP compressors until SIGINT or SIGTERM.
//
// Prints one start-up line per kind served (docs/WIRE_FORMATS.md, Addresses, ports,
// start-up lines), e.g.
//   tuber 127.0.0.1:9000+16
//   scpi 127.0.0.1:5025+1
//   modbus 127.0.0.1:1502+1
// or, with port 0, the comma-separated list of the ports picked. Warnings
// (e.g. the file-descriptor limit) go to stderr.

#include "commands.hpp"
#include "verb_util.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/signal_set.hpp>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <tw/deadline.hpp>
#include <tw/duration.hpp>
#include <tw/run.hpp>
#include <tw/runtime.hpp>
#include <tw/sim/simulator.hpp>
#include <tw/yield.hpp>

namespace tw::cli {

namespace {

// The library's defaults are the command's: one definition (simulator.hpp).
const tw::sim::config k_defaults{};

struct sim_options {
    std::optional<std::size_t> boards, scpi, modbus;
    std::size_t channels = k_defaults.channels;
    std::size_t scpi_ports = k_defaults.scpi_ports;
    // The command serves on well-known ports by default (the library on free ones).
    std::uint16_t port = 9000, scpi_port = 5025, modbus_port = 1502;
    std::uint64_t seed = k_defaults.seed;
    std::string truth;
    std::string latency = tw::format_duration(k_defaults.latency), jitter = tw::format_duration(k_defaults.jitter),
                tau = tw::format_duration(k_defaults.tau), idle_timeout = tw::format_duration(k_defaults.idle_timeout),
                request_timeout = tw::format_duration(k_defaults.request_timeout);
    std::size_t max_connections = k_defaults.max_connections;
    std::vector<std::string> faults;
    std::string bind = k_defaults.bind;
    std::size_t threads = 1;
};

// Ranges of the counts. Boards and compressors get a port each; SCPI
// instruments may share ports (--scpi-ports), so only the descriptor limit
// bounds them — the simulator serves fewer, with a warning, when it binds.
constexpr std::uint64_t k_max_scpi = 1'000'000;
constexpr std::uint64_t k_max_connections = 1'000'000;
constexpr std::uint64_t k_max_threads = 64;

void run_sim(const sim_options& o) {
    tw::sim::config c;
    const bool any = o.boards || o.scpi || o.modbus;
    c.boards = o.boards.value_or(any ? 0 : 16);
    c.scpi = o.scpi.value_or(any ? 0 : 1);
    c.modbus = o.modbus.value_or(any ? 0 : 1);
    c.channels = o.channels;
    c.scpi_ports = o.scpi_ports;
    c.port = o.port;
    c.scpi_port = o.scpi_port;
    c.modbus_port = o.modbus_port;
    c.seed = o.seed;
    c.bind = o.bind;
    c.latency = duration_option("--latency", o.latency);
    c.jitter = duration_option("--jitter", o.jitter);
    c.tau = duration_option("--tau", o.tau);
    c.idle_timeout = duration_option("--idle-timeout", o.idle_timeout);
    c.request_timeout = duration_option("--request-timeout", o.request_timeout);
    c.max_connections = o.max_connections;
    try {
        for (const auto& f : o.faults) c.faults.push_back(tw::sim::parse_fault(f));
        tw::sim::validate(c);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError(e.what());
    }

    tw::runtime rt({.threads = o.threads, .name = "tw-sim"});
    // Catch the signals before saying we serve: a supervisor may send SIGTERM
    // as soon as it has read the start-up lines.
    boost::asio::signal_set signals(rt.executor(0), SIGINT, SIGTERM);
    tw::sim::simulator sim(c, rt);
    for (const auto& w : sim.warnings()) fmt::print(stderr, "{}\n", w);
    if (!o.truth.empty()) {
        std::ofstream f(o.truth);
        f << sim.truth_json() << '\n';
        if (!f) throw std::runtime_error("cannot write the ground truth to '" + o.truth + "': " + std::strerror(errno));
    }
    for (const auto& line : sim.startup_lines()) fmt::print("{}\n", line);
    std::fflush(stdout);

    int sig = rt.run([&] { return signals.async_wait(tw::yield); });
    spdlog::info("tw sim: {} received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    sim.stop();
}

}  // namespace

void add_sim_command(CLI::App& app) {
    auto o = std::make_shared<sim_options>();
    auto* cmd = app.add_subcommand("sim", "Serve simulated readout boards, temperature controllers and compressors on loopback");
    count_option(*cmd, "--boards", o->boards,
                 "Tuber readout boards to serve (default 16 when none of --boards, --scpi, --modbus is given)", 0, k_max_ports);
    count_option(*cmd, "--port", o->port, "First Tuber port; boards get consecutive ports; 0 picks free ports", 0, 65535)
        ->capture_default_str()
        ->type_name("P");
    count_option(*cmd, "--channels", o->channels, "Channels (and hidden resonators) per board", 1, tw::sim::k_max_resonators)
        ->capture_default_str();
    count_option(*cmd, "--scpi", o->scpi, "SCPI temperature controllers to serve (default 1)", 0, k_max_scpi);
    count_option(*cmd, "--scpi-port", o->scpi_port, "First SCPI port; 0 picks free ports", 0, 65535)
        ->capture_default_str()
        ->type_name("P");
    count_option(*cmd, "--scpi-ports", o->scpi_ports,
                 "Serve the --scpi instruments on K ports instead of one each; every connection is an instrument of its own",
                 0, k_max_ports)
        ->type_name("K");
    count_option(*cmd, "--modbus", o->modbus, "Modbus TCP compressors to serve (default 1)", 0, k_max_ports);
    count_option(*cmd, "--modbus-port", o->modbus_port, "First Modbus port; 0 picks free ports", 0, 65535)
        ->capture_default_str()
        ->type_name("P");
    count_option(*cmd, "--seed", o->seed, "Seed of the resonators, noise and fault choices", 0,
                 std::numeric_limits<std::uint64_t>::max())
        ->capture_default_str()
        ->type_name("S");
    output_option(*cmd, "--truth", o->truth,
                  "Write the ground truth (resonators of every board) to FILE as JSON (not stdout: it lists the ports)",
                  false);
    cmd->add_option("--latency", o->latency, "Added to every reply (DUR: 200us, 1.5s, bare number = seconds)")
        ->type_name("DUR")
        ->capture_default_str();
    cmd->add_option("--jitter", o->jitter, "Further random delay 0..DUR for every reply")->type_name("DUR")->capture_default_str();
    cmd->add_option("--tau", o->tau, "Thermal time constant of the temperature controllers")
        ->type_name("DUR")
        ->capture_default_str();
    cmd->add_option("--idle-timeout", o->idle_timeout,
                    "Close a connection that sends no next request, or does not read its reply, for this long (0: never)")
        ->type_name("DUR")
        ->capture_default_str();
    cmd->add_option("--request-timeout", o->request_timeout,
                    "Close a connection whose request takes longer than this from first byte to last (0: no limit)")
        ->type_name("DUR")
        ->capture_default_str();
    count_option(*cmd, "--max-connections", o->max_connections,
                 "Open connections per port; one more is accepted and closed at once (0: no cap)", 0, k_max_connections)
        ->capture_default_str();
    cmd->add_option("--fault", o->faults, "Inject a fault: [SERVICE/]KIND[:PARAM][@WHICH] (repeatable; grammar below)")
        ->option_text("SPEC");
    cmd->add_option("--bind", o->bind, "Address to listen on")->capture_default_str();
    count_option(*cmd, "--threads", o->threads, "Worker threads of the runtime serving everything", 1, k_max_threads)
        ->capture_default_str();
    cmd->footer(std::string(tw::sim::fault_grammar_help()) +
                "Serves until SIGINT (Ctrl-C) or SIGTERM. Ground truth is never served over the wire; see --truth.\n");
    cmd->callback([o] { run_sim(*o); });
}

}  // namespace tw::cli
