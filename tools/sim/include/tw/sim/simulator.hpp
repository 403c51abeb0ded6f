#pragma once
// tw::sim::simulator: simulated hardware on loopback, served by fibers of a
// tw::runtime — Tuber readout boards (with JSON-RPC 2.0 at /rpc), SCPI
// temperature controllers and Modbus TCP compressors, exactly as
// docs/WIRE_FORMATS.md describes them, with hidden physics and injectable faults.
//
// The constructor binds every port (so the addresses are known when it
// returns) and starts one accept fiber per port; every connection then runs on
// a fiber of its own. Ports 0 pick free ports, one per instrument (what tests
// use: ctest runs in parallel). stop() — or the destructor — cancels those
// fibers, waits for them and closes every socket.
//
// Ground truth (the resonators of each board) is available to tests here and
// never served over the wire.
//
// Limits: every connection is bounded in time and memory against clients that
// are broken or hostile (see config: idle_timeout, request_timeout,
// max_connections; and k_max_batch, k_reply_budget below), so one client can
// neither exhaust the process nor stall the other instruments of its worker.
//
// Thread safety: construct, query and stop from one thread or fiber at a time;
// the accessors return data fixed at construction (open_connections() is a
// live count, safe from any thread). The instruments' state
// lives on the runtime's worker threads and is touched only there.
// Errors: std::invalid_argument for a bad config (see validate());
// tw::io_error when a port cannot be bound (the message names the address).
//
// Example:
//   tw::runtime rt;
//   tw::sim::simulator sim({.boards = 4, .scpi = 1, .modbus = 1, .seed = 1}, rt);
//   std::string board0 = sim.tuber_addresses()[0];        // "127.0.0.1:41234"
//   const auto& truth = sim.boards()[0].resonators;       // f, q, depth
//   for (auto& line : sim.startup_lines()) std::cout << line << '\n';

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <tw/sim/fault.hpp>
#include <tw/sim/physics.hpp>

namespace tw {
class runtime;
}

namespace tw::sim {

using namespace std::chrono_literals;

// At most this many calls in one Tuber or JSON-RPC batch (docs/WIRE_FORMATS.md, Tuber): a
// larger batch gets one error and runs nothing. Our own clients send far fewer
// (a 500-point sweep batch is 1,000 calls; `tw apply` sends 512).
inline constexpr std::size_t k_max_batch = 16384;
// Once the reply to a batch has reached this many bytes, the batch's remaining
// calls are not run and each gets a short error instead. Bounds the memory a
// reply takes, whatever a batch within the cap asks for (16,384 describe
// calls would otherwise make tens of MB).
inline constexpr std::size_t k_reply_budget = 8 * 1024 * 1024;

// The most instruments of one kind a simulator serves (validate() refuses
// more): far beyond any descriptor limit, small enough that no count
// overflows the arithmetic done with it.
inline constexpr std::size_t k_max_instruments = 1'000'000;

struct config {
    std::size_t boards = 16;      // Tuber readout boards, one port each
    std::size_t channels = 64;    // channels (and resonators) per board, at most 256
    std::size_t scpi = 1;         // SCPI temperature controllers
    std::size_t scpi_ports = 0;   // >0: serve the `scpi` instruments on this many ports, one per connection
    std::size_t modbus = 1;       // Modbus TCP compressors
    std::uint64_t seed = 1;
    std::uint16_t port = 0;       // first Tuber port; 0: a free port for each board
    std::uint16_t scpi_port = 0;  // first SCPI port; 0: free ports
    std::uint16_t modbus_port = 0;  // first Modbus port; 0: free ports
    std::string bind = "127.0.0.1";
    std::chrono::nanoseconds latency{0};  // added to every reply of every instrument
    std::chrono::nanoseconds jitter{0};   // plus uniform 0..jitter
    std::chrono::nanoseconds tau = 2s;    // thermal time constant of the SCPI controllers
    std::vector<fault_spec> faults;       // see fault.hpp
    // How long a connection may keep the server waiting, 0 meaning forever:
    // idle_timeout for the first byte of the next request, and for the client
    // to take (read) a reply; request_timeout from the first byte of a request
    // to its last, so a client trickling a request (slowloris) is dropped.
    std::chrono::nanoseconds idle_timeout = 60s;
    std::chrono::nanoseconds request_timeout = 10s;
    // Open connections per port (0: no cap); one more is accepted and closed
    // at once. Ports of `scpi_ports` take as many as they serve instruments.
    std::size_t max_connections = 256;
    std::chrono::nanoseconds compressor_start = 3s;  // time in state 2 (starting) before 3 (running)
    std::chrono::nanoseconds compressor_stop = 2s;   // time in state 5 (stopping) before 0 (idle)
    double fmin = 4.0e6;          // Board FMIN, Hz
    double fmax = 6.0e6;          // Board FMAX, Hz
    // Serve fewer instruments when the file-descriptor limit cannot hold them
    // all (see warnings()); false: throw instead.
    bool fit_fd_limit = true;
};

// Throws std::invalid_argument naming the offending setting.
void validate(const config& c);

struct board_truth {
    std::string address;  // "127.0.0.1:41234"
    std::uint16_t port = 0;
    std::string serial;
    std::vector<resonator> resonators;  // sorted by frequency; channel k has no special relation to resonator k
};

class simulator {
public:
    simulator(config cfg, tw::runtime& rt);
    simulator(const simulator&) = delete;
    simulator& operator=(const simulator&) = delete;
    ~simulator();

    // Cancels the servers' fibers, waits for them, closes every socket. Idempotent.
    void stop();

    const config& options() const noexcept;
    const std::vector<board_truth>& boards() const noexcept;
    std::vector<std::string> tuber_addresses() const;
    std::vector<std::string> scpi_addresses() const;    // one per port
    std::vector<std::string> modbus_addresses() const;
    // "tuber 127.0.0.1:9000+16", "scpi ...", "modbus ..." for each kind served.
    std::vector<std::string> startup_lines() const;
    // {"seed": S, "boards": [{"address", "serial", "resonators": [{"f", "q", "depth"}]}]}
    std::string truth_json() const;
    // Things said at start, e.g. that the descriptor limit reduced a count.
    const std::vector<std::string>& warnings() const noexcept;
    // Connections being served now, over all ports (closed ones leave the
    // count once their socket is closed).
    std::size_t open_connections() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace tw::sim
