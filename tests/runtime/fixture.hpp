#pragma once
// tw_test::runtime_fixture: the one fixture of the runtime tests. Each test
// gets a fresh tw::runtime, parameterised over its worker-thread count (1 and
// 2), and usually runs its body on a fiber of it with run_body(). Every test
// doubles as a leak check: at teardown no fiber may be left (live_fibers == 0)
// and the runtime must shut down cleanly (shutdown() returns true — a fiber
// that is still parked on a socket or timer it owns would make it cancel).
//
// Deadlock guards instead of timing assertions: the body must finish within
// k_guard, every other wait in a test uses k_guard too, and a blocking call
// on the test thread itself (tw::run, host.run()) runs under a watchdog that
// aborts the process with a message rather than letting CTest time out.
//
// gate: a one-shot event for fibers of one worker thread, built on a
// steady_timer of tw::this_fiber::executor(): wait() parks the fiber until
// open().
//
// Example:
//   class Deadline : public tw_test::runtime_fixture {};
//   TW_RUNTIME_TEST_SUITE(Deadline);
//   TEST_P(Deadline, PassedDeadlineThrows) {
//       run_body([] {
//           tw::deadline_scope d(50ms);
//           EXPECT_THROW(tw::sleep_for(1h), tw::timeout_error);
//       });
//   }

#include <tw/tw.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tw_test {

using namespace std::chrono_literals;

// How long anything in a test may take before it counts as a deadlock.
inline constexpr std::chrono::seconds k_guard{20};

// Aborts the process with `what` if not destroyed within k_guard: the guard for
// calls that block the test thread itself and have no timeout of their own.
class watchdog {
public:
    explicit watchdog(std::string what) : what_(std::move(what)), thread_([this] { watch(); }) {}
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;
    ~watchdog() {
        {
            std::lock_guard lk(mtx_);
            done_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

private:
    void watch() {
        std::unique_lock lk(mtx_);
        if (!cv_.wait_for(lk, k_guard, [this] { return done_; })) {
            std::fprintf(stderr, "deadlock guard: '%s' did not finish within %lld s\n", what_.c_str(),
                         static_cast<long long>(k_guard.count()));
            std::fflush(stderr);
            std::abort();
        }
    }
    std::string what_;
    std::mutex mtx_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};

// Waits for f under the deadlock guard; false (and a test failure) on timeout.
template <class T>
bool ready(std::future<T>& f, const char* what = "future") {
    if (f.wait_for(k_guard) == std::future_status::ready) return true;
    ADD_FAILURE() << "deadlock guard: " << what << " not ready within " << k_guard.count() << " s";
    return false;
}

// A one-shot event for fibers of one worker thread.
class gate {
public:
    explicit gate(boost::asio::io_context::executor_type ex = tw::this_fiber::executor())
        : timer_(ex, tw::clock::time_point::max()) {}
    void open() {
        open_ = true;
        timer_.cancel();
    }
    bool is_open() const noexcept { return open_; }
    // Parks the calling fiber until open(); cancellable like any tw wait.
    void wait() {
        while (!open_) {
            boost::system::error_code ec;
            timer_.async_wait(tw::yield[ec]);
        }
    }

private:
    boost::asio::steady_timer timer_;
    bool open_ = false;
};

class runtime_fixture : public ::testing::TestWithParam<std::size_t> {
protected:
    // Options for the runtime; change them before the first rt() or run_body().
    // `threads` is always the test parameter.
    tw::runtime_options options;

    tw::runtime& rt() {
        if (!rt_) {
            auto o = options;
            o.threads = GetParam();
            rt_.emplace(std::move(o));
        }
        return *rt_;
    }

    // Runs body() on a fiber named "test-body" and waits for it under the
    // deadlock guard; an exception escaping the body fails the test.
    template <class F>
    void run_body(F&& body) {
        auto t = rt().spawn(tw::spawn_options{.name = "test-body"}, std::forward<F>(body));
        if (!t.wait_for(k_guard)) {
            ADD_FAILURE() << "deadlock guard: the test body did not finish within " << k_guard.count() << " s\n"
                          << rt().dump_text();
            t.cancel("deadlock guard");
            if (!t.wait_for(5s)) {
                t.detach();
                return;
            }
        }
        try {
            t.get();
        } catch (const std::exception& e) {
            ADD_FAILURE() << "the test body threw: " << e.what();
        } catch (...) {
            ADD_FAILURE() << "the test body threw a non-std exception";
        }
    }

    // For tests whose detached work (async_run) may still be finishing its
    // fiber after its completion handler ran: teardown then relies on
    // shutdown() alone, which waits for such fibers.
    // Runs f on a fiber of the runtime (not named, unlike run_body) and
    // returns its value or rethrows its exception, under the deadlock guard.
    template <class F>
    auto on_fiber(F f) {
        auto t = rt().spawn(std::move(f));
        EXPECT_TRUE(t.wait_for(k_guard)) << "deadlock guard\n" << rt().dump_text();
        return t.get();
    }

    void allow_in_flight_detached() noexcept { check_live_ = false; }

    void TearDown() override {
        if (!rt_) return;
        if (check_live_) {
            auto live = rt_->counters().live_fibers;
            EXPECT_EQ(live, 0u) << "fibers left behind:\n" << rt_->dump_text();
        }
        EXPECT_TRUE(rt_->shutdown("test finished")) << "fibers ignored cancellation at teardown";
        rt_.reset();
    }

private:
    std::optional<tw::runtime> rt_;
    bool check_live_ = true;
};

inline std::string thread_count_name(const ::testing::TestParamInfo<std::size_t>& info) {
    return std::to_string(info.param) + (info.param == 1 ? "thread" : "threads");
}

}  // namespace tw_test

// Instantiates a runtime_fixture suite for 1 and 2 worker threads.
#define TW_RUNTIME_TEST_SUITE(Suite) \
    INSTANTIATE_TEST_SUITE_P(Workers, Suite, ::testing::Values(std::size_t{1}, std::size_t{2}), tw_test::thread_count_name)
