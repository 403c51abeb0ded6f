// tw::algorithms health: see health.hpp.
#include <tw/algorithms/health.hpp>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <numeric>
#include <string>
#include <system_error>

#include <tw/deadline.hpp>
#include <tw/drivers/errors.hpp>
#include <tw/errors.hpp>
#include <tw/run.hpp>

#include "per_board.hpp"

namespace tw::algorithms {

namespace {

double seconds_since(clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); }

std::string celsius(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f °C", v);
    return buf;
}

// A connection that could not be made at all, as opposed to one that broke
// after connecting (reset, end of stream in the middle of a reply).
bool is_connect_failure(const tw::connection_error& e) {
    const auto& c = e.code();
    return c == std::errc::connection_refused || c == std::errc::host_unreachable ||
           c == std::errc::network_unreachable || c == std::errc::network_down ||
           c == std::errc::address_not_available || std::string_view(e.what()).find("cannot resolve") != std::string_view::npos;
}

// The status and error of a board whose check ended with `e`.
void classify(board_health& h, std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const tw::timeout_error& x) {
        h.status = health_status::timeout;
        h.error = x.what();
    } catch (const tw::cancelled_error& x) {
        h.status = health_status::cancelled;
        h.error = x.what();
    } catch (const tw::connection_error& x) {
        h.status = !h.reachable && is_connect_failure(x) ? health_status::unreachable : health_status::failed;
        h.error = x.what();
    } catch (const std::exception& x) {
        h.status = health_status::failed;
        h.error = x.what();
    } catch (...) {
        h.status = health_status::failed;
        h.error = "unknown exception";
    }
}

}  // namespace

const char* to_string(health_status s) noexcept {
    switch (s) {
        case health_status::ok: return "ok";
        case health_status::warm: return "warm";
        case health_status::unreachable: return "unreachable";
        case health_status::failed: return "failed";
        case health_status::timeout: return "timeout";
        case health_status::cancelled: return "cancelled";
    }
    return "failed";
}

board_health check_board(const std::string& address, const check_options& opts) {
    // A plain thread has no fiber for the driver's I/O: run on the default runtime.
    if (!tw::detail::current_fiber()) return tw::run([&] { return check_board(address, opts); });
    const auto t0 = clock::now();
    board_health h;
    h.address = address;
    try {
        tw::deadline_scope d(opts.timeout);
        tuber::options topts = opts.tuber;
        topts.timeout = std::min(topts.timeout, std::chrono::duration_cast<std::chrono::nanoseconds>(opts.timeout));
        tuber::board b(address, topts);
        h.serial = b.serial();  // one batch of the properties; connects first
        h.firmware = b.firmware();
        h.reachable = true;
        // On the open connection: the round trip alone, without connecting.
        const auto t1 = clock::now();
        const double t = b.get_temperature();
        h.latency_s = seconds_since(t1);
        h.temperature = t;
        h.status = health_status::ok;
        if (opts.limits.max && t > *opts.limits.max) {
            h.status = health_status::warm;
            h.error = "temperature " + celsius(t) + " above the limit of " + celsius(*opts.limits.max);
        } else if (opts.limits.min && t < *opts.limits.min) {
            h.status = health_status::warm;
            h.error = "temperature " + celsius(t) + " below the limit of " + celsius(*opts.limits.min);
        }
    } catch (const tw::cancelled_error&) {
        throw;  // the caller's own cancellation: not a property of the board
    } catch (...) {
        classify(h, std::current_exception());
    }
    h.elapsed_s = seconds_since(t0);
    return h;
}

std::vector<board_health> health_check(const std::vector<std::string>& addresses, const health_options& opts) {
    // check_board throws only the caller's cancellation: it is recorded for
    // the board, and fan_out rethrows it once every board has unwound.
    auto from_error = [](const std::string& address, const std::exception_ptr& e) {
        board_health h;
        h.address = address;
        classify(h, e);
        return h;
    };
    return detail::per_board<board_health>(
        addresses, [&](const std::string& address) { return check_board(address, opts.board); }, from_error,
        {.concurrency = opts.concurrency, .deadline = opts.deadline, .progress = opts.progress, .name = "health_check"},
        opts.on_board);
}

}  // namespace tw::algorithms
