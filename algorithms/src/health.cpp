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
    std::vector<std::size_t> index(addresses.size());
    std::iota(index.begin(), index.end(), std::size_t{0});
    // Boards that did not end ok come back as values, so fan_out counts only
    // those never started as failed: add the others here.
    std::size_t not_ok = 0;
    std::function<void(const fan_out_progress&)> progress;
    if (opts.progress)
        progress = [&](const fan_out_progress& p) {
            auto q = p;
            q.failed += not_ok;
            opts.progress(q);
        };
    auto tell = [&](std::size_t i, const board_health& h) {
        if (opts.on_board) try {
                opts.on_board(i, h);
            } catch (...) {
            }
    };
    auto r = tw::fan_out(
        index,
        [&](std::size_t i) {
            board_health h;
            try {
                h = check_board(addresses[i], opts.board);
            } catch (...) {
                // Cancelled with the whole check: record it; fan_out rethrows
                // the cancellation to our caller once every board has unwound.
                h.address = addresses[i];
                classify(h, std::current_exception());
            }
            if (h.status != health_status::ok) ++not_ok;
            tell(i, h);
            return h;
        },
        {.concurrency = opts.concurrency, .deadline = opts.deadline, .progress = progress, .name = "health_check"});
    std::vector<board_health> out;
    out.reserve(addresses.size());
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        if (r.outcomes[i].ok()) {
            out.push_back(r.outcomes[i].value());
        } else {  // never started: the overall deadline passed first
            board_health h;
            h.address = addresses[i];
            classify(h, r.outcomes[i].error());
            out.push_back(std::move(h));
            tell(i, out.back());
        }
    }
    return out;
}

}  // namespace tw::algorithms
