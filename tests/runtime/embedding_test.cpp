// The Asio-host cells of docs/CALLERS.md's table: tw::run from a handler on a
// runtime's own loop fails fast; tw::async_run works with callbacks,
// use_future, use_awaitable and as_tuple(yield_context); and guest mode, where
// the runtime runs from handlers of a host's single-threaded io_context.
#include <tw/run.hpp>

#include <algorithm>
#include <atomic>
#include <functional>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tw_test::k_guard;

class Embedding : public tw_test::runtime_fixture {
protected:
    // async_run's fiber may still be ending after its handler ran.
    void SetUp() override { allow_in_flight_detached(); }
};
TW_RUNTIME_TEST_SUITE(Embedding);

// ---- a handler on the runtime's own loop ---------------------------------------

TEST_P(Embedding, RunFromAHandlerOnTheLoopThrowsUsageErrorNamingAsyncRun) {
    std::promise<std::string> caught;
    auto fut = caught.get_future();
    boost::asio::post(rt().executor(0), [&] {
        try {
            tw::run([] { return 1; });
            caught.set_value("no exception");
        } catch (const tw::usage_error& e) {
            caught.set_value(e.what());
        } catch (...) {
            caught.set_value("another exception");
        }
    });
    ASSERT_TRUE(tw_test::ready(fut));
    EXPECT_THAT(fut.get(), ::testing::HasSubstr("async_run"));
}

// The handler runs on the loop thread right after the fiber that posted it
// parked: the thread is on no fiber any more, whichever ran last.
TEST_P(Embedding, RunFromAHandlerPostedByAFiberThrowsUsageError) {
    run_body([] {
        for (const bool park_on_io : {false, true}) {
            tw::semaphore handled(0);
            std::string seen;
            boost::asio::post(tw::this_fiber::executor(), [&] {
                try {
                    tw::run([] { return 1; });
                    seen = "no exception";
                } catch (const tw::usage_error& e) {
                    seen = e.what();
                } catch (...) {
                    seen = "another exception";
                }
                handled.release();
            });
            if (park_on_io) boost::asio::post(tw::this_fiber::executor(), tw::yield);  // parked in tw::yield
            handled.acquire();  // parked in Boost.Fiber's scheduler
            EXPECT_THAT(seen, ::testing::HasSubstr("async_run")) << (park_on_io ? "after tw::yield" : "");
        }
    });
}

TEST_P(Embedding, BlockingCallsFromAHandlerOnTheLoopAllThrowUsageError) {
    auto& r = rt();
    auto t = r.spawn([] { return 1; });
    std::promise<int> caught;
    auto fut = caught.get_future();
    boost::asio::post(r.executor(0), [&] {
        int n = 0;
        try {
            r.run([] { return 1; });
        } catch (const tw::usage_error&) {
            ++n;
        }
        try {
            tw::sleep_for(1ms);
        } catch (const tw::usage_error&) {
            ++n;
        }
        try {
            // done() or not: waiting from the loop must never be attempted.
            (void)t.wait_for(1h);
            if (t.done()) ++n;  // a finished task returns at once without blocking
        } catch (const tw::usage_error&) {
            ++n;
        }
        caught.set_value(n);
    });
    ASSERT_TRUE(tw_test::ready(fut));
    EXPECT_EQ(fut.get(), 3);
    ASSERT_TRUE(t.wait_for(k_guard));
    EXPECT_EQ(t.get(), 1);
}

// ---- async_run with each kind of completion token ---------------------------------

TEST_P(Embedding, AsyncRunWithACallbackCompletesOnTheRuntimesLoop) {
    auto& r = rt();
    std::promise<std::tuple<int, bool, bool>> done;
    auto fut = done.get_future();
    tw::async_run(
        r,
        [] {
            tw::sleep_for(1ms);
            return 42;
        },
        [&](std::exception_ptr e, int v) {
            // A handler without an executor of its own runs as a handler of the
            // runtime's loop, not on the fiber.
            done.set_value({v, e == nullptr, r.executor(0).running_in_this_thread()});
        });
    ASSERT_TRUE(tw_test::ready(fut));
    auto [v, ok, on_loop] = fut.get();
    EXPECT_EQ(v, 42);
    EXPECT_TRUE(ok);
    EXPECT_TRUE(on_loop);
}

TEST_P(Embedding, AsyncRunPropagatesTheExceptionToTheCallback) {
    std::promise<std::exception_ptr> done;
    auto fut = done.get_future();
    tw::async_run(
        rt(), []() -> int { throw std::runtime_error("board 7 on fire"); },
        [&](std::exception_ptr e, int v) {
            EXPECT_EQ(v, 0);
            done.set_value(e);
        });
    ASSERT_TRUE(tw_test::ready(fut));
    auto e = fut.get();
    ASSERT_TRUE(e);
    EXPECT_THROW(std::rethrow_exception(e), std::runtime_error);
    EXPECT_EQ(tw::describe(e), "board 7 on fire");
}

TEST_P(Embedding, AsyncRunVoidCallback) {
    std::promise<bool> done;
    auto fut = done.get_future();
    std::atomic<bool> ran{false};
    tw::async_run(rt(), [&] { ran = true; }, [&](std::exception_ptr e) { done.set_value(e == nullptr); });
    ASSERT_TRUE(tw_test::ready(fut));
    EXPECT_TRUE(fut.get());
    EXPECT_TRUE(ran);
}

TEST_P(Embedding, AsyncRunWithUseFuture) {
    std::future<int> ok = tw::async_run(rt(), [] { return 6 * 7; }, boost::asio::use_future);
    std::future<int> bad = tw::async_run(rt(), []() -> int { throw tw::timeout_error("too slow"); }, boost::asio::use_future);
    ASSERT_TRUE(tw_test::ready(ok));
    EXPECT_EQ(ok.get(), 42);
    ASSERT_TRUE(tw_test::ready(bad));
    EXPECT_THROW(bad.get(), tw::timeout_error);
}

TEST_P(Embedding, AsyncRunWithUseAwaitableFromACoroutineOnAHostThread) {
    auto& r = rt();
    boost::asio::io_context host;
    auto co = [&r]() -> boost::asio::awaitable<std::string> {
        int v = co_await tw::async_run(
            r,
            [] {
                tw::sleep_for(1ms);
                return 21;
            },
            boost::asio::use_awaitable);
        std::string err;
        try {
            co_await tw::async_run(r, []() -> int { throw std::invalid_argument("bad channel"); }, boost::asio::use_awaitable);
        } catch (const std::invalid_argument& e) {
            err = e.what();
        }
        co_return std::to_string(2 * v) + " " + err;
    };
    std::future<std::string> result = boost::asio::co_spawn(host, co(), boost::asio::use_future);
    std::thread host_thread([&] { host.run(); });
    if (tw_test::ready(result, "co_spawn with use_awaitable")) {
        EXPECT_EQ(result.get(), "42 bad channel");
    }
    host_thread.join();
}

TEST_P(Embedding, AsyncRunWithAsTupleYieldContextOnAHostThread) {
    auto& r = rt();
    boost::asio::io_context host;
    std::promise<std::string> result;
    auto fut = result.get_future();
    // Boost 1.81's spawn cannot take exception_ptr results: as_tuple(yield)
    // hands both parts of void(std::exception_ptr, T) to the coroutine.
    boost::asio::spawn(
        host,
        [&](boost::asio::yield_context yield) {
            auto [e1, v] = tw::async_run(r, [] { return 5; }, boost::asio::as_tuple(yield));
            auto [e2, w] = tw::async_run(r, []() -> int { throw tw::cancelled_error("stopped"); }, boost::asio::as_tuple(yield));
            result.set_value(std::to_string(v) + (e1 ? " e1" : "") + " " + (e2 ? tw::describe(e2) : "no error") + " " +
                             std::to_string(w));
        },
        boost::asio::detached);
    std::thread host_thread([&] { host.run(); });
    if (tw_test::ready(fut, "spawn with as_tuple(yield)")) {
        EXPECT_EQ(fut.get(), "5 stopped 0");
    }
    host_thread.join();
}

TEST_P(Embedding, AsyncRunFromAMultiThreadedHost) {
    auto& r = rt();
    boost::asio::io_context host(4);
    constexpr int n = 100;
    std::atomic<int> sum{0};
    std::atomic<int> done{0};
    std::promise<void> all;
    auto fut = all.get_future();
    for (int i = 0; i < n; ++i) {
        boost::asio::post(host, [&, i] {
            tw::async_run(
                r,
                [i] {
                    tw::this_fiber::yield();
                    return i;
                },
                [&](std::exception_ptr e, int v) {
                    if (!e) sum += v;
                    if (++done == n) all.set_value();
                });
        });
    }
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) threads.emplace_back([&] { host.run(); });
    ASSERT_TRUE(tw_test::ready(fut));
    EXPECT_EQ(sum, n * (n - 1) / 2);
    for (auto& t : threads) t.join();
}

TEST_P(Embedding, AsyncRunIsCancelledThroughItsCancellationSlot) {
    auto& r = rt();
    boost::asio::cancellation_signal signal;
    std::promise<std::exception_ptr> done;
    auto fut = done.get_future();
    std::promise<void> started;
    auto started_fut = started.get_future();
    boost::asio::post(r.executor(0), [&] {
        // Emitting must happen where the slot's handler lives: on this loop.
        tw::async_run(
            r,
            [&] {
                started.set_value();
                tw::sleep_for(1h);
            },
            boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) { done.set_value(e); }));
    });
    ASSERT_TRUE(tw_test::ready(started_fut));
    boost::asio::post(r.executor(0), [&] { signal.emit(boost::asio::cancellation_type::terminal); });
    ASSERT_TRUE(tw_test::ready(fut));
    auto e = fut.get();
    ASSERT_TRUE(e);
    EXPECT_THROW(std::rethrow_exception(e), tw::cancelled_error);
}

// ---- guest mode: the runtime on a host's single-threaded io_context ---------------

TEST(EmbeddingGuest, AsyncRunIntoAGuestRuntime) {
    tw_test::watchdog guard("guest host.run()");
    boost::asio::io_context host;
    tw::runtime guest(host);
    const auto host_thread = std::this_thread::get_id();
    int value = 0;
    bool fiber_on_host = false, handler_on_host = false;
    tw::async_run(
        guest,
        [&] {
            fiber_on_host = std::this_thread::get_id() == host_thread;
            tw::sleep_for(1ms);
            return 42;
        },
        [&](std::exception_ptr e, int v) {
            EXPECT_FALSE(e);
            value = v;
            handler_on_host = std::this_thread::get_id() == host_thread;
            host.stop();
        });
    host.run();
    EXPECT_EQ(value, 42);
    EXPECT_TRUE(fiber_on_host);
    EXPECT_TRUE(handler_on_host);
    EXPECT_TRUE(guest.shutdown());
}

// tw::yield.queued() posts the start to the fiber's worker loop, which for a
// guest is the host's: it runs there, after the host's handlers queued first.
TEST(EmbeddingGuest, AQueuedOperationStartsOnTheHostsLoop) {
    tw_test::watchdog guard("guest host.run()");
    boost::asio::io_context host;
    tw::runtime guest(host);
    const auto host_thread = std::this_thread::get_id();
    bool posted = false, posted_at_start = false, started_on_host = false;
    tw::async_run(
        guest,
        [&] {
            boost::asio::steady_timer t(host, 1ms);
            boost::asio::post(host, [&] { posted = true; });
            auto token = tw::yield.queued();
            boost::asio::async_initiate<tw::yield_t, void(boost::system::error_code)>(
                [&](auto handler) {
                    posted_at_start = posted;
                    started_on_host = std::this_thread::get_id() == host_thread;
                    t.async_wait(std::move(handler));
                },
                token);
        },
        [&](std::exception_ptr e) {
            EXPECT_FALSE(e);
            host.stop();
        });
    host.run();
    EXPECT_TRUE(posted_at_start);
    EXPECT_TRUE(started_on_host);
    EXPECT_TRUE(guest.shutdown());
}

TEST(EmbeddingGuest, RunFromAHostHandlerThrowsUsageError) {
    tw_test::watchdog guard("guest host.run()");
    boost::asio::io_context host;
    tw::runtime guest(host);
    std::string message;
    int usage_errors = 0;
    boost::asio::post(host, [&] {
        try {
            guest.run([] { return 1; });
        } catch (const tw::usage_error& e) {
            ++usage_errors;
            message = e.what();
        }
        try {
            tw::run([] { return 1; });  // would block the guest's only thread too
        } catch (const tw::usage_error&) {
            ++usage_errors;
        }
        host.stop();
    });
    host.run();
    EXPECT_EQ(usage_errors, 2);
    EXPECT_THAT(message, ::testing::HasSubstr("async_run"));
    EXPECT_TRUE(guest.shutdown());
}

TEST(EmbeddingGuest, WaitingOnTheHostThreadOutsideTheLoopThrowsUsageError) {
    tw_test::watchdog guard("guest host.run()");
    boost::asio::io_context host;
    tw::runtime guest(host);
    auto t = guest.spawn([&] {
        boost::asio::post(host, [&] { host.stop(); });
        return 3;
    });
    EXPECT_THROW(t.wait(), tw::usage_error);
    host.run();
    ASSERT_TRUE(t.done());
    EXPECT_EQ(t.get(), 3);
    EXPECT_TRUE(guest.shutdown());
}

TEST(EmbeddingGuest, SleepingFibersAndHostHandlersInterleave) {
    tw_test::watchdog guard("guest host.run()");
    boost::asio::io_context host;
    tw::runtime guest(host);
    std::vector<char> events;  // host thread only: 'f' fiber step, 'h' host tick
    bool fiber_done = false;
    boost::asio::steady_timer tick(host);
    std::function<void()> arm = [&] {
        tick.expires_after(1ms);
        tick.async_wait([&](boost::system::error_code ec) {
            if (ec || fiber_done) return;
            events.push_back('h');
            arm();
        });
    };
    arm();
    tw::async_run(
        guest,
        [&] {
            for (int i = 0; i < 5; ++i) {
                tw::sleep_for(5ms);
                events.push_back('f');
            }
        },
        [&](std::exception_ptr e) {
            EXPECT_FALSE(e);
            fiber_done = true;
            tick.cancel();
            host.stop();
        });
    host.run();
    ASSERT_EQ(std::count(events.begin(), events.end(), 'f'), 5);
    auto first_f = std::find(events.begin(), events.end(), 'f');
    auto last_f = std::find(events.rbegin(), events.rend(), 'f').base();
    EXPECT_NE(std::find(first_f, last_f, 'h'), last_f) << "host handlers should run between the fiber's steps";
    EXPECT_TRUE(guest.shutdown());
}

TEST(EmbeddingGuest, AYieldingGuestFiberLetsHostHandlersRun) {
    tw_test::watchdog guard("guest host.run()");
    boost::asio::io_context host;
    tw::runtime guest(host);
    bool host_ran = false;
    int yields = 0;
    tw::async_run(
        guest,
        [&] {
            // Ready all the time: the host's handler can only run if the guest
            // hands the thread back after each batch.
            boost::asio::post(host, [&] { host_ran = true; });
            while (!host_ran) {
                tw::this_fiber::yield();
                ++yields;
            }
        },
        [&](std::exception_ptr e) {
            EXPECT_FALSE(e);
            host.stop();
        });
    host.run();
    EXPECT_TRUE(host_ran);
    EXPECT_GE(yields, 1);
    EXPECT_TRUE(guest.shutdown());
}

TEST(EmbeddingGuest, ShutdownCancelsParkedGuestFibers) {
    tw_test::watchdog guard("guest shutdown");
    boost::asio::io_context host;
    tw::runtime guest(host);
    bool cancelled = false;
    auto t = guest.spawn([&] {
        try {
            tw::sleep_for(1h);
        } catch (const tw::cancelled_error&) {
            cancelled = true;
            throw;
        }
    });
    boost::asio::post(host, [&] { host.stop(); });
    host.run();  // the fiber starts and parks
    EXPECT_TRUE(guest.shutdown("host going away"));
    EXPECT_TRUE(cancelled);
    ASSERT_TRUE(t.done());
    EXPECT_THROW(t.get(), tw::cancelled_error);
}

}  // namespace
