// tw bench micro and tw bench fanout: the command lines (options, defaults,
// help). The benchmarks themselves live under tools/bench/: micro.cpp (figures
// and baselines), fanout.cpp (the fan-out parent), fanout_clients.cpp (the
// clients), syscalls.cpp (system calls counted under strace), line_server.cpp
// (tw bench line-server, the server baseline), child.cpp (child processes),
// report.cpp (tables and JSON); docs/BENCHMARKS.md says what they measure.
//
// Errors: bad option values are usage errors (exit 2) from CLI11 or the
// benchmarks' own checks; a failed measurement is exit 1.
//
//   tw bench micro                    table on stdout
//   tw bench micro --json             {"machine": ..., "figures": [...]}
//   tw bench micro --only a,b         just these figures
//   tw bench micro --quick            tiny counts (smoke test; numbers meaningless)
//   tw bench fanout --sim 100 --rounds 200 [--latency 200us] [--json]
//   tw bench fanout --targets 127.0.0.1:5025+4 --connections 16 --rounds 100
//   tw bench fanout --sim 1000 --syscalls --server-baseline
//   tw bench line-server --ports 16 [--latency 200us]

#include "commands.hpp"
#include "verb_util.hpp"

#include <memory>

#include "../bench/fanout.hpp"
#include "../bench/line_server.hpp"
#include "../bench/micro.hpp"

#include <tw/duration.hpp>

namespace tw::cli {

void add_bench_command(CLI::App& app) {
    auto* bench = app.add_subcommand("bench", "Measure the runtime beside baselines");
    bench->require_subcommand(1);
    auto opts = std::make_shared<bench::micro_options>();
    auto* micro = bench->add_subcommand("micro", "Micro-benchmarks: fiber switch, I/O suspend/resume, spawn, memory, idle CPU");
    micro->add_flag("--json", opts->json, "Print JSON instead of a table");
    micro->add_option("--only", opts->only, "Only these figures (comma-separated)")->delimiter(',')->option_text("NAME[,NAME]");
    micro->add_flag("--quick", opts->quick, "Tiny iteration counts (smoke test; the numbers mean nothing)");
    micro->add_option("--side", opts->side, "Measure only tw, only the baseline, or both")
        ->check(CLI::IsMember({"tw", "baseline", "both"}))
        ->capture_default_str();
    // A billion switches or spawns already take minutes: more is a typo.
    count_option(*micro, "--iterations", opts->iterations,
                 "Run exactly N iterations once, without warm-up (timing figures; for profilers)", 1, 1'000'000'000);
    count_option(*micro, "--runs", opts->runs, "Runs per side and figure, taking turns: medians, and the spread of the ratios", 1, 100)
        ->capture_default_str();
    micro->add_option("--child-side", opts->child_side, "internal: measure one side in this process")
        ->check(CLI::IsMember({"tw", "baseline"}))
        ->group("");
    micro->callback([opts] { bench::run_micro(*opts); });
    add_bench_fanout_command(*bench);

    auto line = std::make_shared<bench::line_server_options>();
    auto* ls = bench->add_subcommand("line-server", "A minimal Asio line server: the baseline tw bench fanout --server-baseline holds tw sim to");
    count_option(*ls, "--ports", line->ports, "Ports to listen on (picked by the system)", 1, k_max_ports)->capture_default_str();
    ls->add_option("--latency", line->latency, "Delay before each reply (DUR: 200us)")
        ->capture_default_str()
        ->check([](const std::string& v) {
            try {
                (void)tw::parse_duration(v);
                return std::string();
            } catch (const std::invalid_argument& e) {
                return std::string(e.what());
            }
        });
    ls->callback([line] { bench::run_line_server(*line); });
}

void add_bench_fanout_command(CLI::App& bench) {
    using namespace tw::cli::bench;
    auto o = std::make_shared<fanout_options>();
    auto* cmd = bench.add_subcommand("fanout", "Many connections doing SCPI round trips: tw fibers beside Asio callbacks, asio::spawn, threads, Python");
    cmd->add_option("--targets", o->targets, "Targets HOST:PORT[+K][,...] answering each line with one line")->delimiter(',')->option_text("SPEC");
    count_option(*cmd, "--connections", o->connections, "Connections, round-robin over the targets (default: one per target)", 1,
                 k_max_connections);
    count_option(*cmd, "--sim", o->sim, "Start `tw sim --scpi N` and drive N connections against it", 1, k_max_connections);
    count_option(*cmd, "--sim-ports", o->sim_ports, "With --sim: serve on K ports (default 16 when N > 1000, else one per instrument)",
                 1, k_max_ports)
        ->type_name("K");
    cmd->add_option("--latency", o->latency, "With --sim: the simulator's reply latency (DUR: 200us)")->capture_default_str();
    count_option(*cmd, "--rounds", o->rounds, "Timed round trips per connection (after one untimed first round trip)", 1, k_max_rounds)
        ->capture_default_str();
    cmd->add_option("--impl", o->impls, "Implementations (default: all but python-asyncio)")
        ->delimiter(',')
        ->check(CLI::IsMember(k_fanout_impls))
        ->option_text("fiber,asio-callbacks,asio-spawn,threads,python-asyncio");
    cmd->add_option("--query", o->query, "The query line sent each round trip")->capture_default_str();
    cmd->add_flag("--json", o->json, "Print JSON instead of a table");
    cmd->add_flag("--syscalls", o->syscalls,
                  "Also count system calls per round trip: each client twice more under strace (R and 2R round trips)");
    cmd->add_flag("--server-baseline", o->server_baseline,
                  "With --sim: also serve the same ports from a minimal Asio line server and compare the servers' CPU");
    cmd->add_flag("--pin", o->pin,
                  "Run the clients on the first CPU this process may use and the simulator or line server on the last, so "
                  "that CPU ratios compare the clients' own work, not where the scheduler put them (needs two CPUs)");
    cmd->add_option("--child-impl", o->child_impl, "internal: measure one implementation in this process")->group("");
    cmd->callback([o] { run_fanout(*o); });
}

}  // namespace tw::cli
