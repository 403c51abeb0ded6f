#pragma once
// tw::algorithms health: a quick look at many readout boards
// (docs/WIRE_FORMATS.md, Tuber)
// — is each one reachable, what are its serial and firmware, how warm is it,
// how long does one round trip take. Plain blocking functions, like the rest
// of tw::algorithms: call them directly, on a tw fiber or a plain thread, or
// inside tw::fan_out / tw::spawn.
//
//   check_board    one board: SERIAL and FIRMWARE (one Tuber batch, which also
//                  connects), then get_temperature(), whose round trip on the
//                  open connection is the latency; flags the board warm when
//                  its temperature is outside the limits.
//   health_check   tw::fan_out of check_board over addresses with a
//                  concurrency limit, a per-board timeout and an overall
//                  deadline; one board_health per address, in input order; a
//                  failing, stalled or unreachable board never stops the others.
//
// Status of a board:
//   ok           answered everything, temperature within the limits
//   warm         answered everything, temperature outside the limits
//   unreachable  no connection could be made (refused, no route, unknown host)
//   failed       connected, but a call failed (protocol error, broken reply)
//   timeout      no answer within the per-board timeout or the overall deadline
//   cancelled    the check was cancelled before this board finished
//
// Thread safety: the functions share nothing.
// Errors: never for a board — its entry holds the status and the error text;
// both throw tw::cancelled_error only if the caller itself is cancelled
// (health_check after every board has unwound).
//
// Example:
//   tw::algorithms::health_options o;
//   o.board.limits.max = 70;  // °C
//   auto boards = tw::algorithms::health_check(addresses, o);
//   for (auto& b : boards)
//       fmt::print("{} {} {}\n", b.address, to_string(b.status), b.temperature.value_or(NAN));

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <tw/algorithms/defaults.hpp>
#include <tw/drivers/tuber/board.hpp>
#include <tw/fan_out.hpp>

namespace tw::algorithms {

enum class health_status { ok, warm, unreachable, failed, timeout, cancelled };
// "ok", "warm", "unreachable", "failed", "timeout", "cancelled".
const char* to_string(health_status s) noexcept;

struct temperature_limits {
    std::optional<double> min;  // °C; below: warm (a reading that low means a broken sensor, or worse)
    std::optional<double> max;  // °C; above: warm
};

struct board_health {
    std::string address;
    health_status status = health_status::failed;
    std::string error;                  // why not ok; "" when ok
    bool reachable = false;             // the board answered at least one call
    std::string serial, firmware;       // "" until read
    std::optional<double> temperature;  // °C
    std::optional<double> latency_s;    // one get_temperature() round trip on the open connection
    double elapsed_s = 0;               // the whole check of this board, connecting included
};

struct check_options {
    clock::duration timeout = std::chrono::seconds(5);  // for the board, connecting and every call included
    temperature_limits limits{};
    tuber::options tuber{};        // its per-request timeout is capped at `timeout`
};

// Checks the board at `address` over a connection of its own. Never throws
// for the board's errors (they become its status and error); throws
// tw::cancelled_error when the caller is cancelled.
board_health check_board(const std::string& address, const check_options& opts = {});

struct health_options {
    check_options board{};
    std::size_t concurrency = k_default_concurrency;    // boards at once (0: all)
    clock::duration deadline = clock::duration::max();  // for all the boards
    std::function<void(const fan_out_progress&)> progress;  // after each board
    // After each board, with its index and health (same fiber as progress).
    std::function<void(std::size_t, const board_health&)> on_board;
};

// One board_health per address, in input order.
std::vector<board_health> health_check(const std::vector<std::string>& addresses, const health_options& opts = {});

}  // namespace tw::algorithms
