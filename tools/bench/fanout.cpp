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

#include "../tw/board_list.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
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

// Runs one client in a child process and returns the JSON line it printed.
fanout_result run_impl(const std::string& impl, const std::vector<std::string>& targets, std::size_t n, const fanout_options& o) {
    std::string tlist;
    for (auto& t : targets) tlist += (tlist.empty() ? "" : ",") + t;
    std::unique_ptr<child_process> c;
    if (impl == "python-asyncio") {
        // TW_BENCH_DIR in the environment: the scripts of an installed or moved tree.
        const char* dir = std::getenv("TW_BENCH_DIR");
        const std::string script = std::string(dir ? dir : TW_BENCH_DIR) + "/fanout_asyncio.py";
        c = std::make_unique<child_process>("/usr/bin/python3",
                                            std::vector<std::string>{"python3", script, "--targets", tlist, "--connections",
                                                                     std::to_string(n), "--rounds", std::to_string(o.rounds),
                                                                     "--query", o.query});
    } else {
        c = std::make_unique<child_process>(self_exe(), std::vector<std::string>{"tw", "bench", "fanout", "--child-impl", impl, "--targets",
                                                                                 tlist, "--connections", std::to_string(n), "--rounds",
                                                                                 std::to_string(o.rounds), "--query", o.query});
    }
    const auto out = c->read_all();
    const int rc = c->wait();
    if (rc != 0) throw std::runtime_error(fmt::format("bench fanout: the {} client failed (exit {})", impl, rc));
    boost::system::error_code ec;
    auto v = boost::json::parse(boost::algorithm::trim_copy(out), ec);
    if (ec || !v.is_object())
        throw std::runtime_error(fmt::format("bench fanout: the {} client printed '{}'", impl, boost::algorithm::trim_copy(out)));
    return {impl, v.as_object()};
}

void run_parent(const fanout_options& o) {
    // Implementations.
    const bool impls_given = !o.impls.empty();
    std::vector<std::string> impls = impls_given ? o.impls : std::vector<std::string>{"fiber", "asio-callbacks", "asio-spawn", "threads"};
    if (o.sim && !o.targets.empty()) throw CLI::ValidationError("--sim", "give either --sim N or --targets SPEC, not both");
    if (!o.sim && o.targets.empty()) throw CLI::ValidationError("--targets", "give --targets SPEC or --sim N");
    if (o.sim && o.connections && *o.connections != *o.sim)
        throw CLI::ValidationError("--connections", "with --sim N there are N connections, one per simulated instrument");
    if (!o.sim && (o.sim_ports || o.latency != "0"))
        throw CLI::ValidationError(o.sim_ports ? "--sim-ports" : "--latency", "--sim-ports and --latency apply to --sim only");
    try {
        (void)tw::parse_duration(o.latency);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError("--latency", e.what());
    }
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
        sim = std::make_unique<child_process>(self_exe(), args);
        const auto line = sim->read_line();
        if (line.rfind("scpi ", 0) != 0) {
            sim->wait();
            throw std::runtime_error(fmt::format("bench fanout: the simulator did not start (it printed '{}')", line));
        }
        targets = expand_targets({line.substr(5)});
        spdlog::info("bench fanout: simulator serving {} instruments on {} ports", n, targets.size());
    }

    std::vector<fanout_result> rs;
    for (std::size_t k = 0; k < impls.size(); ++k) {
        if (k) std::this_thread::sleep_for(std::chrono::milliseconds(100) + std::chrono::microseconds(50) * n);  // let the server see the closes
        spdlog::info("bench fanout: {} with {} connections", impls[k], n);
        rs.push_back(run_impl(impls[k], targets, n, o));
    }
    if (sim) {
        sim->terminate();
        sim->wait();
    }

    const fanout_run run{n, targets.size(), o.rounds, o.query, o.sim ? std::optional<std::string>(o.latency) : std::nullopt};
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
