#pragma once
// tw::sim::detail::board: one simulated readout board's state and its `Board`
// object (docs/WIRE_FORMATS.md, The simulated Board object), with the Tuber and JSON-RPC 2.0 request
// handling on top — bodies in, bodies out, no I/O here.
//
// Thread safety: none; a board is used by the fibers of one worker thread
// (its accept fiber and that fiber's connection fibers), which never run at
// the same time. A request suspends only in `pause` (every
// k_calls_per_pause calls of a batch), where requests of other connections
// may run, as on any server with concurrent clients; the calls of one batch
// still run in order.
//
// Limits (tw::sim::k_max_batch, k_reply_budget): a batch of more calls gets
// one error and runs nothing; once a reply has grown to the budget, the
// remaining calls are not run and get a short error each.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <tw/sim/physics.hpp>

namespace tw::sim::detail {

struct board_params {
    std::size_t index = 0;
    std::uint64_t seed = 1;
    std::size_t channels = 64;
    double fmin = 4.0e6;
    double fmax = 6.0e6;
    std::string serial;
    std::chrono::steady_clock::time_point epoch;  // for the temperature drift
};

class board {
public:
    board(board_params p, std::vector<resonator> resonators);

    // Called between the calls of a batch (the server passes
    // tw::this_fiber::yield); may throw to abandon the request. Every 8 calls
    // (a few µs of work each): a yield costs far less, and the runtime polls
    // I/O only every so many fiber switches, so pausing rarely would still let
    // a batch of 16,384 calls hold other connections for milliseconds.
    using pause_fn = std::function<void()>;
    static constexpr std::size_t k_calls_per_pause = 8;

    // POST /tuber: a call object or an array of them → the reply body.
    std::string tuber(std::string_view body, bool continue_on_error, const pause_fn& pause = {});
    // POST /rpc: a JSON-RPC 2.0 request or batch → the reply body, empty when
    // only notifications were sent.
    std::string jsonrpc(std::string_view body, const pause_fn& pause = {});

    const board_params& params() const noexcept { return p_; }
    const std::vector<resonator>& resonators() const noexcept { return res_; }

    // State, for the method table in board.cpp.
    struct channel_state {
        double frequency = 0;
        double amplitude = 0;
        std::uint64_t calls = 0;  // get_samples calls so far (the noise counter)
    };
    std::vector<channel_state> channels;
    std::uint64_t temperature_reads = 0;

private:
    board_params p_;
    std::vector<resonator> res_;
};

}  // namespace tw::sim::detail
