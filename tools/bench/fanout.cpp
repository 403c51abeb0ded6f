// tw bench fanout, the parent (fanout.hpp): checks the options, starts the
// simulator, runs each client in a child process of its own (child.hpp) and
// prints the report (report.hpp).
//
//   tw bench fanout --sim 100 --rounds 200 [--latency 200us] [--json]
//   tw bench fanout --targets 127.0.0.1:5025+4 --connections 16 --rounds 100

#include "fanout.hpp"

#include "child.hpp"
#include "fanout_clients.hpp"
#include "report.hpp"
#include "syscalls.hpp"

#include "../tw/board_list.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/algorithm/string/trim.hpp>
#include <boost/json/parse.hpp>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <tw/duration.hpp>

#ifndef TW_BENCH_DIR
#define TW_BENCH_DIR "tools/bench"
#endif

namespace tw::cli::bench {

namespace {

// A thread per board: more than this is refused, or skipped when not asked for.
constexpr std::size_t k_max_threads = 1000;

// The command that runs one client in a child process with `rounds` timed
// round trips per connection.
command impl_command(const std::string& impl, const std::vector<std::string>& targets, std::size_t n, std::size_t rounds,
                     const fanout_options& o) {
    std::string tlist;
    for (auto& t : targets) tlist += (tlist.empty() ? "" : ",") + t;
    if (impl == "python-asyncio") {
        // TW_BENCH_DIR in the environment: the scripts of an installed or moved tree.
        const char* dir = std::getenv("TW_BENCH_DIR");
        const std::string script = std::string(dir ? dir : TW_BENCH_DIR) + "/fanout_asyncio.py";
        return {"/usr/bin/python3",
                {"python3", script, "--targets", tlist, "--connections", std::to_string(n), "--rounds", std::to_string(rounds),
                 "--query", o.query}};
    }
    return {self_exe(),
            {"tw", "bench", "fanout", "--child-impl", impl, "--targets", tlist, "--connections", std::to_string(n), "--rounds",
             std::to_string(rounds), "--query", o.query}};
}

// Where --pin puts the processes (-1: where the scheduler likes).
struct placement {
    int client = -1;
    int server = -1;
};

// The first and last CPU this process may use, for --pin.
placement pinned_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) throw CLI::ValidationError("--pin", "cannot read the CPUs this process may use");
    placement p;
    for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (!CPU_ISSET(c, &set)) continue;
        if (p.client < 0) p.client = c;
        p.server = c;
    }
    if (p.client == p.server)
        throw CLI::ValidationError("--pin", fmt::format("needs two CPUs, one for the clients and one for the server; this process may use CPU {} only", p.client));
    return p;
}

// Runs one client in a child process (on `cpu`, if >= 0) and returns the JSON
// line it printed.
fanout_result run_impl(const std::string& impl, const std::vector<std::string>& targets, std::size_t n, const fanout_options& o,
                       int cpu) {
    const auto cmd = impl_command(impl, targets, n, o.rounds, o);
    child_process c(cmd.path, cmd.args, cpu);
    const auto out = c.read_all();
    const int rc = c.wait();
    if (rc != 0) throw std::runtime_error(fmt::format("bench fanout: the {} client failed (exit {})", impl, rc));
    boost::system::error_code ec;
    auto v = boost::json::parse(boost::algorithm::trim_copy(out), ec);
    if (ec || !v.is_object())
        throw std::runtime_error(fmt::format("bench fanout: the {} client printed '{}'", impl, boost::algorithm::trim_copy(out)));
    return {impl, v.as_object()};
}

// CPU time of a process, all its threads, in ns (/proc/PID/task/*/schedstat:
// its first field is time on a CPU, in ns, finer than getrusage's ticks).
double process_cpu_ns(pid_t pid) {
    double ns = 0;
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
        std::ifstream f(task.path() / "schedstat");
        double t = 0;
        if (f >> t) ns += t;
    }
    return ns;
}

// Starts a server (tw sim or tw bench line-server) and returns it with the
// addresses of its "scpi ADDRESS,..." start-up line.
std::unique_ptr<child_process> start_server(const std::vector<std::string>& args, std::vector<std::string>& targets, int cpu) {
    auto server = std::make_unique<child_process>(self_exe(), args, cpu);
    const auto line = server->read_line();
    if (line.rfind("scpi ", 0) != 0) {
        server->wait();
        throw std::runtime_error(fmt::format("bench fanout: `{} {}` did not start (it printed '{}')", args[0], args[1], line));
    }
    targets = expand_targets({line.substr(5)});
    return server;
}

// Runs `impl` against `server` and adds the server's CPU per round trip
// (connects and first round trips included) to the result.
fanout_result run_measuring_server(const std::string& impl, const std::vector<std::string>& targets, std::size_t n,
                                   const fanout_options& o, const child_process* server, int cpu) {
    const double c0 = server ? process_cpu_ns(server->pid()) : 0;
    auto r = run_impl(impl, targets, n, o, cpu);
    if (server)
        r.o["server_cpu_us_per_rt"] =
            (process_cpu_ns(server->pid()) - c0) / 1e3 / (static_cast<double>(n) * static_cast<double>(o.rounds + 1));
    return r;
}

void add_syscalls(fanout_result& r, const std::vector<std::string>& targets, std::size_t n, const fanout_options& o) {
    // 1 and R+1 timed round trips: the rate comes from one run (two runs'
    // rates differ with the load, and R against 2R once gave -0.57 failed
    // calls per round trip), and the short run cancels only start-up.
    spdlog::info("bench fanout: {} under strace (1 and {} round trips per connection)", r.impl, o.rounds + 1);
    const auto c = count_syscalls(impl_command(r.impl, targets, n, 1, o), impl_command(r.impl, targets, n, o.rounds + 1, o),
                                  static_cast<double>(n) * static_cast<double>(o.rounds));
    r.o["syscalls_per_rt"] = c.per_rt;
    r.o["failed_syscalls_per_rt"] = c.failed_per_rt;
    boost::json::object by_name;
    for (const auto& [name, per_rt] : c.by_name) by_name[name] = per_rt;
    r.o["syscalls"] = std::move(by_name);
}

// Between two runs against one server: let it see the last run's closes.
void pause_between_runs(std::size_t n) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100) + std::chrono::microseconds(50) * n);
}

void run_parent(const fanout_options& o) {
    // Implementations.
    const bool impls_given = !o.impls.empty();
    std::vector<std::string> impls = impls_given ? o.impls : std::vector<std::string>{"fiber", "asio-callbacks", "asio-spawn", "threads"};
    if (o.sim && !o.targets.empty()) throw CLI::ValidationError("--sim", "give either --sim N or --targets SPEC, not both");
    if (!o.sim && o.targets.empty()) throw CLI::ValidationError("--targets", "give --targets SPEC or --sim N");
    if (o.sim && o.connections && *o.connections != *o.sim)
        throw CLI::ValidationError("--connections", "with --sim N there are N connections, one per simulated instrument");
    if (o.server_baseline && !o.sim) throw CLI::ValidationError("--server-baseline", "needs --sim N (the simulator it is held to)");
    if (o.syscalls && strace_path().empty())
        throw CLI::ValidationError("--syscalls", "needs strace, which is not installed (Debian: apt-get install strace)");
    if (!o.sim && (o.sim_ports || o.latency != "0"))
        throw CLI::ValidationError(o.sim_ports ? "--sim-ports" : "--latency", "--sim-ports and --latency apply to --sim only");
    try {
        (void)tw::parse_duration(o.latency);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError("--latency", e.what());
    }
    const placement where = o.pin ? pinned_cpus() : placement{};
    std::vector<std::string> targets;
    std::size_t n = 0;
    if (!o.targets.empty()) {
        targets = expand_targets(o.targets);
        if (targets.empty()) throw CLI::ValidationError("--targets", "no targets");
        n = o.connections.value_or(targets.size());
    } else {
        n = *o.sim;
    }
    check_samples(n, o.rounds);
    if (n > k_max_threads) {
        auto it = std::find(impls.begin(), impls.end(), "threads");
        if (it != impls.end()) {
            if (impls_given)
                throw CLI::ValidationError("--impl", fmt::format("threads: a thread per board is refused above {} boards ({} asked)",
                                                                 k_max_threads, n));
            spdlog::warn("bench fanout: skipping 'threads' (a thread per board) above {} boards", k_max_threads);
            impls.erase(it);
        }
    }

    // The simulator.
    std::unique_ptr<child_process> sim;
    if (o.sim) {
        std::vector<std::string> args = {"tw", "sim", "--scpi", std::to_string(n), "--scpi-port", "0", "--latency", o.latency};
        // 10,000 connections on one port would exceed the server's descriptor limit.
        std::size_t ports = o.sim_ports.value_or(n > 1000 ? 16 : 0);
        if (ports) {
            args.push_back("--scpi-ports");
            args.push_back(std::to_string(ports));
        }
        sim = start_server(args, targets, where.server);
        spdlog::info("bench fanout: simulator serving {} instruments on {} ports", n, targets.size());
    }

    std::vector<fanout_result> rs;
    for (std::size_t k = 0; k < impls.size(); ++k) {
        if (k) pause_between_runs(n);
        spdlog::info("bench fanout: {} with {} connections", impls[k], n);
        rs.push_back(run_measuring_server(impls[k], targets, n, o, sim.get(), where.client));
        if (o.syscalls) add_syscalls(rs.back(), targets, n, o);
    }

    // The servers side by side, each driven by the same client (asio-callbacks,
    // the cheapest, so that the server's share of the work is largest).
    std::vector<server_row> servers;
    if (o.server_baseline) {
        const std::string client = "asio-callbacks";
        auto it = std::find_if(rs.begin(), rs.end(), [&](const fanout_result& r) { return r.impl == client; });
        double sim_cpu = it != rs.end() ? it->get("server_cpu_us_per_rt") : std::nan("");
        if (it == rs.end()) {
            pause_between_runs(n);
            sim_cpu = run_measuring_server(client, targets, n, o, sim.get(), where.client).get("server_cpu_us_per_rt");
        }
        sim->terminate();
        sim->wait();
        sim.reset();
        std::vector<std::string> line_targets;
        auto line = start_server({"tw", "bench", "line-server", "--ports", std::to_string(targets.size()), "--latency", o.latency},
                                 line_targets, where.server);
        spdlog::info("bench fanout: {} against the Asio line server", client);
        const double line_cpu = run_measuring_server(client, line_targets, n, o, line.get(), where.client).get("server_cpu_us_per_rt");
        line->terminate();
        line->wait();
        servers = {{"tw sim", sim_cpu}, {"asio line server", line_cpu}};
    }
    if (sim) {
        sim->terminate();
        sim->wait();
    }

    std::optional<std::string> pinned;
    if (o.pin)
        pinned = o.sim ? fmt::format("clients on CPU {}, server on CPU {}", where.client, where.server)
                       : fmt::format("clients on CPU {}", where.client);
    const fanout_run run{n, targets.size(), o.rounds, o.query, o.sim ? std::optional<std::string>(o.latency) : std::nullopt,
                         servers, pinned};
    if (o.json)
        print_fanout_json(machine_string(), run, rs);
    else
        print_fanout_table(machine_string(), run, rs);
}

}  // namespace

std::vector<std::string> expand_targets(const std::vector<std::string>& specs) {
    std::vector<std::string> out;
    for (const auto& spec : specs) {
        try {
            for (const auto& b : parse_board_list(spec)) out.push_back(b.address);
        } catch (const std::invalid_argument& e) {
            throw CLI::ValidationError("--targets", e.what());
        }
    }
    return out;
}

void check_samples(std::size_t n, std::size_t rounds) {
    if (n > k_max_samples / rounds)
        throw CLI::ValidationError("--rounds", fmt::format("{} connections x {} round trips is more than {} samples to keep", n,
                                                          rounds, k_max_samples));
}

void run_fanout(const fanout_options& o) {
    if (!o.child_impl.empty()) return run_fanout_child(o);
    run_parent(o);
}

}  // namespace tw::cli::bench
