#pragma once
// tw bench fanout: many connections doing request/response round trips (one
// outstanding request each, all concurrently) against SCPI targets
// (docs/WIRE_FORMATS.md, Benchmark targets), by the project's fiber client and
// by in-tree baselines, each implementation in a child process of its own so
// that getrusage and RSS measure that client alone (docs/BENCHMARKS.md
// "Fan-out"). The command line is declared in tools/tw/bench.cpp; the parent
// (simulator, one child per client, report) is fanout.cpp, the clients
// fanout_clients.cpp.
//
// Errors: contradictory or out-of-range options throw CLI::ValidationError
// (exit 2) before anything starts; a simulator or client that fails throws
// std::runtime_error (exit 1); a failing child prints one line on stderr and
// exits 1.
//
// Example:
//   fanout_options o;
//   o.sim = 100;
//   o.rounds = 200;
//   run_fanout(o);   // tw bench fanout --sim 100 --rounds 200

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tw::cli::bench {

// Every --impl name; the default runs all but python-asyncio.
inline const std::vector<std::string> k_fanout_impls = {"fiber", "asio-callbacks", "asio-spawn", "threads", "python-asyncio"};

// Ranges. One latency sample (4 bytes) is kept per connection and round trip:
// at most k_max_samples of them (400 MB).
inline constexpr std::uint64_t k_max_connections = 1'000'000;
inline constexpr std::uint64_t k_max_rounds = 1'000'000;
inline constexpr std::uint64_t k_max_samples = 100'000'000;

struct fanout_options {
    std::vector<std::string> targets;
    std::optional<std::size_t> connections;
    std::optional<std::size_t> sim;
    std::optional<std::size_t> sim_ports;
    std::string latency = "0";
    std::size_t rounds = 100;
    std::vector<std::string> impls;
    std::string query = "MEAS?";
    bool json = false;
    bool syscalls = false;         // count system calls per round trip (strace, syscalls.hpp)
    bool server_baseline = false;  // --sim: also measure the minimal Asio line server (line_server.hpp)
    bool pin = false;              // clients on this process's first CPU, the server on its last
    std::string child_impl;  // hidden: measure one implementation in this process
};

// The parent, or with child_impl the child (fanout_clients.hpp).
void run_fanout(const fanout_options& o);

// Board-list syntax (board_list.hpp): "H:P", "H:P+K" (K consecutive ports),
// comma-separated, possibly repeated. A bad spec is a usage error on --targets.
std::vector<std::string> expand_targets(const std::vector<std::string>& specs);

// Refuses (usage error on --rounds) more latency samples than k_max_samples.
void check_samples(std::size_t n, std::size_t rounds);

}  // namespace tw::cli::bench
