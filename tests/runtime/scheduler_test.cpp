// The scheduler and the tw::yield token against the known failure modes of
// fibers on Asio: I/O starved by busy fibers, completions that
// arrive before their fiber suspends, lost cross-thread wake-ups, and order.
#include <tw/yield.hpp>

#include <array>
#include <atomic>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/async_result.hpp>
#include <boost/fiber/operations.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using boost::asio::ip::tcp;
using tw_test::gate;
using tw_test::k_guard;

class Scheduler : public tw_test::runtime_fixture {};
TW_RUNTIME_TEST_SUITE(Scheduler);

// A connected loopback pair on the calling fiber's worker.
struct socket_pair {
    tcp::socket a, b;
    explicit socket_pair(boost::asio::io_context::executor_type ex) : a(ex), b(ex) {
        tcp::acceptor acc(ex, tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
        auto accepting = tw::spawn([&] { acc.async_accept(b, tw::yield); });
        a.async_connect(acc.local_endpoint(), tw::yield);
        accepting.get();
    }
};

// An asynchronous operation whose completion is handed to `complete`, which
// may call it at once (before the fiber suspends) or from another thread.
template <class Complete>
int async_foreign(Complete complete) {
    return boost::asio::async_initiate<const tw::yield_t&, void(boost::system::error_code, int)>(
        [&](auto handler) { complete(std::move(handler)); }, tw::yield);
}

TEST_P(Scheduler, AYieldingFiberDoesNotStarveSocketIo) {
    run_body([this] {
        socket_pair p(tw::this_fiber::executor());
        bool stop = false;
        long yields = 0;
        auto busy = tw::spawn([&] {
            while (!stop) {
                tw::this_fiber::yield();
                ++yields;
            }
        });
        constexpr int n = 50;
        auto echo = tw::spawn([&] {
            std::array<char, 4> buf;
            for (int i = 0; i < n; ++i) {
                boost::asio::async_read(p.b, boost::asio::buffer(buf), tw::yield);
                boost::asio::async_write(p.b, boost::asio::buffer(buf), tw::yield);
            }
        });
        auto client = tw::spawn([&] {
            std::array<char, 4> out{'p', 'i', 'n', 'g'}, in{};
            for (int i = 0; i < n; ++i) {
                boost::asio::async_write(p.a, boost::asio::buffer(out), tw::yield);
                boost::asio::async_read(p.a, boost::asio::buffer(in), tw::yield);
                EXPECT_EQ(in, out);
            }
            stop = true;  // the busy fiber runs until the I/O is done
        });
        client.get();
        echo.get();
        busy.get();
        EXPECT_GT(yields, 0);
    });
}

TEST_P(Scheduler, AYieldingFiberDoesNotStarveTimers) {
    run_body([] {
        bool stop = false;
        auto busy = tw::spawn([&] {
            while (!stop) tw::this_fiber::yield();
        });
        for (int i = 0; i < 10; ++i) tw::sleep_for(1ms);
        stop = true;
        busy.get();
    });
}

TEST_P(Scheduler, ReadyFibersRunInFifoOrder) {
    run_body([] {
        std::vector<int> order;
        std::vector<tw::task<void>> tasks;
        for (int i = 0; i < 5; ++i) {
            tasks.push_back(tw::spawn([&order, i] {
                order.push_back(i);
                tw::this_fiber::yield();
                order.push_back(10 + i);
            }));
        }
        for (auto& t : tasks) t.get();
        EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 10, 11, 12, 13, 14}));
    });
}

TEST_P(Scheduler, CompletionCalledInlineBeforeTheFiberSuspends) {
    run_body([] {
        int v = async_foreign([](auto h) { std::move(h)(boost::system::error_code{}, 17); });
        EXPECT_EQ(v, 17);
    });
}

// A fiber resumed straight from a completion (so the worker sits in
// io_context::run()) that wakes many fibers stops that run once for all of
// them; the next round's run must be stoppable again, or the woken fibers
// would wait for I/O that never comes.
TEST_P(Scheduler, ManyFibersWokenFromACompletionRunRoundAfterRound) {
    run_body([] {
        constexpr std::size_t n = 200;
        tw::semaphore go(0, "round start"), done(0, "round done");
        std::vector<tw::task<void>> waiters;
        for (std::size_t i = 0; i < n; ++i) {
            waiters.push_back(tw::spawn([&] {
                for (int round = 0; round < 5; ++round) {
                    ASSERT_TRUE(go.try_acquire_for(tw_test::k_guard));
                    done.release();
                }
            }));
        }
        for (int round = 0; round < 5; ++round) {
            boost::asio::post(tw::this_fiber::executor(), tw::yield);  // resumed from a handler
            go.release(n);
            for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(done.try_acquire_for(tw_test::k_guard)) << "round " << round;
        }
        for (auto& w : waiters) w.get();
    });
}

TEST_P(Scheduler, PostWithYieldToTheFibersOwnLoop) {
    run_body([this] {
        for (int i = 0; i < 100; ++i) boost::asio::post(tw::this_fiber::executor(), tw::yield);
        // Also to the other worker's loop, whose handler may run before this
        // fiber has suspended.
        for (std::size_t w = 0; w < rt().workers(); ++w)
            for (int i = 0; i < 100; ++i) boost::asio::post(rt().executor(w), tw::yield);
    });
}

TEST_P(Scheduler, ReadFromAnAlreadyReadableSocket) {
    run_body([this] {
        socket_pair p(tw::this_fiber::executor());
        const std::string msg = "ready before anyone asks";
        boost::asio::async_write(p.a, boost::asio::buffer(msg), tw::yield);
        // Wait until the bytes are surely there, so the read completes at once.
        p.b.async_wait(tcp::socket::wait_read, tw::yield);
        std::string in(msg.size(), '\0');
        std::size_t n = boost::asio::async_read(p.b, boost::asio::buffer(in), tw::yield);
        EXPECT_EQ(n, msg.size());
        EXPECT_EQ(in, msg);
    });
}

TEST_P(Scheduler, CompletionFromAnIoContextRunByAnotherThread) {
    boost::asio::io_context foreign;
    auto work = boost::asio::make_work_guard(foreign);
    std::thread foreign_thread([&] { foreign.run(); });
    run_body([&] {
        const auto me = std::this_thread::get_id();
        for (int i = 0; i < 20; ++i) {
            boost::asio::steady_timer t(foreign, 1ms);
            t.async_wait(tw::yield);  // completes on foreign_thread while we are parked
            EXPECT_EQ(std::this_thread::get_id(), me) << "the fiber resumes on its own thread";
        }
    });
    work.reset();
    foreign_thread.join();
}

TEST_P(Scheduler, WakeUpsFrom64ForeignThreads) {
    run_body([] {
        constexpr int n = 64;
        std::vector<std::thread> threads;
        std::mutex mtx;
        std::vector<tw::task<int>> waiters;
        for (int i = 0; i < n; ++i) {
            waiters.push_back(tw::spawn([&, i] {
                // Each completion comes from its own thread, racing with the
                // fiber's suspension: before, during or after it.
                return async_foreign([&, i](auto h) {
                    std::lock_guard lk(mtx);
                    threads.emplace_back([h = std::move(h), i]() mutable { std::move(h)(boost::system::error_code{}, i); });
                });
            }));
        }
        for (int i = 0; i < n; ++i) EXPECT_EQ(waiters[i].get(), i);
        std::lock_guard lk(mtx);
        for (auto& t : threads) t.join();
    });
}

TEST_P(Scheduler, CancellationsFrom64ForeignThreads) {
    auto& r = rt();
    constexpr int n = 64;
    std::vector<tw::task<void>> parked;
    std::atomic<int> started{0};
    for (int i = 0; i < n; ++i) parked.push_back(r.spawn([&] {
        ++started;
        tw::sleep_for(1h);
    }));
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) threads.emplace_back([&, i] { parked[i].cancel("from thread " + std::to_string(i)); });
    for (int i = 0; i < n; ++i) {
        ASSERT_TRUE(parked[i].wait_for(k_guard)) << "fiber " << i << " missed its wake-up";
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < n; ++i) {
        try {
            parked[i].get();
            ADD_FAILURE() << "fiber " << i << " was not cancelled";
        } catch (const tw::cancelled_error& e) {
            EXPECT_EQ(std::string(e.what()), "from thread " + std::to_string(i));
        }
    }
}

TEST_P(Scheduler, TasksWaitedOnBy64ForeignThreads) {
    auto& r = rt();
    constexpr int n = 64;
    std::vector<std::future<int>> results;
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        std::promise<int> p;
        results.push_back(p.get_future());
        threads.emplace_back([&r, i, p = std::move(p)]() mutable {
            try {
                auto t = r.spawn([i] {
                    tw::this_fiber::yield();
                    return i;
                });
                if (!t.wait_for(k_guard)) throw std::runtime_error("deadlock guard");
                p.set_value(t.get());
            } catch (...) {
                p.set_exception(std::current_exception());
            }
        });
    }
    for (int i = 0; i < n; ++i) {
        if (tw_test::ready(results[i], "a foreign thread's task")) {
            EXPECT_EQ(results[i].get(), i);
        }
    }
    for (auto& t : threads) t.join();
}

TEST_P(Scheduler, YieldWithErrorCodeReportsIoErrors) {
    run_body([this] {
        // A port nobody listens on: bind one, then close it.
        tcp::endpoint closed;
        {
            tcp::acceptor acc(tw::this_fiber::executor(), tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
            closed = acc.local_endpoint();
        }
        tcp::socket s(tw::this_fiber::executor());
        boost::system::error_code ec;
        s.async_connect(closed, tw::yield[ec]);
        EXPECT_EQ(ec, boost::asio::error::connection_refused);
        s.close();
        try {
            s.async_connect(closed, tw::yield);
            ADD_FAILURE() << "connect to a closed port succeeded";
        } catch (const tw::io_error& e) {
            EXPECT_EQ(e.code(), std::errc::connection_refused) << e.code().message();
        }
    });
}

TEST(SchedulerPlainThread, YieldOutsideAFiberThrowsUsageError) {
    boost::asio::io_context io;
    boost::asio::steady_timer t(io, 1ms);
    try {
        t.async_wait(tw::yield);
        ADD_FAILURE() << "tw::yield worked outside a fiber";
    } catch (const tw::usage_error& e) {
        EXPECT_THAT(e.what(), ::testing::HasSubstr("outside a tw fiber"));
    }
}

}  // namespace

// A fiber resumed straight from an I/O completion (inside the loop's handler)
// that then enters one of Boost.Fiber's own timed waits must still wake on
// time: only the dispatcher's loop turns those into a timer.
TEST_P(Scheduler, BoostTimedWaitAfterAnIoCompletionWakes) {
    run_body([] {
        for (int i = 0; i < 3; ++i) {
            boost::asio::post(tw::this_fiber::executor(), tw::yield);  // resumed from a handler
            const auto t0 = std::chrono::steady_clock::now();
            boost::this_fiber::sleep_for(5ms);
            EXPECT_GE(std::chrono::steady_clock::now() - t0, 5ms);  // not early; the guard catches "never"
        }
        tw::semaphore s(0);
        boost::asio::post(tw::this_fiber::executor(), tw::yield);
        EXPECT_FALSE(s.try_acquire_for(5ms));
    });
}

namespace {

// An operation that records whether `posted` had run when it was started,
// then waits on `t`.
void timer_wait_recording(boost::asio::steady_timer& t, bool& started, const bool& posted, bool& posted_at_start,
                          tw::yield_t token) {
    boost::asio::async_initiate<tw::yield_t, void(boost::system::error_code)>(
        [&](auto handler) {
            started = true;
            posted_at_start = posted;
            t.async_wait(std::move(handler));
        },
        token);
}

}  // namespace

TEST_P(Scheduler, AQueuedOperationStartsAfterTheHandlersQueuedBeforeIt) {
    run_body([] {
        boost::asio::steady_timer t(tw::this_fiber::executor(), 0ms);
        for (const bool queued : {false, true}) {
            bool posted = false, started = false, posted_at_start = false;
            boost::asio::post(tw::this_fiber::executor(), [&] { posted = true; });
            timer_wait_recording(t, started, posted, posted_at_start, queued ? tw::yield.queued() : tw::yield);
            EXPECT_TRUE(started);
            EXPECT_EQ(posted_at_start, queued) << (queued ? "yield.queued()" : "yield");
            EXPECT_TRUE(posted);
        }
    });
}

// A cancellation that arrives while the operation waits in the queue finds
// nothing to cancel yet: the operation must not start (it would wait out its
// hour), and the fiber ends cancelled.
TEST_P(Scheduler, CancellingAQueuedOperationBeforeItStartsEndsTheWait) {
    run_body([] {
        gate parking(tw::this_fiber::executor());
        bool started = false, posted_at_start = false;
        const bool posted = false;
        auto waiter = tw::spawn([&] {
            boost::asio::steady_timer t(tw::this_fiber::executor(), 1h);
            // Opening the gate queues this body's wake-up ahead of the start.
            parking.open();
            timer_wait_recording(t, started, posted, posted_at_start, tw::yield.queued());
        });
        parking.wait();
        waiter.cancel("stop before start");
        try {
            waiter.get();
            ADD_FAILURE() << "not cancelled";
        } catch (const tw::cancelled_error& e) {
            EXPECT_STREQ(e.what(), "stop before start");
        }
        EXPECT_FALSE(started);
    });
}

// A cancellation from another thread reaches the fiber's worker as a posted
// interrupt, which may run before the queued start (nothing to cancel yet) or
// after it (the operation is cancelled): either way the wait ends cancelled.
TEST_P(Scheduler, CancellingAQueuedOperationFromAnotherThreadEndsTheWait) {
    run_body([] {
        for (int i = 0; i < 50; ++i) {
            std::atomic<bool> waiting{false};
            auto waiter = tw::spawn([&] {
                boost::asio::steady_timer t(tw::this_fiber::executor(), 1h);
                waiting = true;
                t.async_wait(tw::yield.queued());
            });
            std::thread canceller([&] {
                while (!waiting) std::this_thread::yield();
                waiter.cancel("from another thread");
            });
            EXPECT_THROW(waiter.get(), tw::cancelled_error);
            canceller.join();
        }
    });
}
