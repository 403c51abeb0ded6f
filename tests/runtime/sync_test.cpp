#include <tw/sync.hpp>

#include "fixture.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <tw/deadline.hpp>
#include <tw/offload.hpp>
#include <tw/run.hpp>
#include <tw/runtime.hpp>

using namespace std::chrono_literals;

namespace {

class Sync : public tw_test::runtime_fixture {};
TW_RUNTIME_TEST_SUITE(Sync);

TEST_P(Sync, SemaphoreHandsPermitsOutInArrivalOrder) {
    std::vector<int> order;
    on_fiber([&] {
        tw::semaphore s(0);
        std::vector<tw::task<void>> ts;
        for (int i = 0; i < 5; ++i) {
            ts.push_back(tw::spawn([&, i] {
                s.acquire();
                order.push_back(i);
            }));
            tw::this_fiber::yield();  // let fiber i queue before i+1
            tw::this_fiber::yield();
        }
        s.release(5);
        for (auto& t : ts) t.get();
    });
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST_P(Sync, SemaphoreAcquireIsCancellableAndTakesNoPermit) {
    tw::semaphore s(0);
    auto t = rt().spawn([&] { s.acquire(); });
    auto probe = rt().spawn([] { tw::this_fiber::yield(); });
    probe.get();
    t.cancel("stop waiting");
    EXPECT_THROW(t.get(), tw::cancelled_error);
    s.release();
    EXPECT_EQ(s.available(), 1u);
}

TEST_P(Sync, SemaphoreTimedAcquireHonoursDeadline) {
    bool got = on_fiber([] {
        tw::semaphore s(0);
        return s.try_acquire_for(20ms);
    });
    EXPECT_FALSE(got);
    EXPECT_THROW(on_fiber([] {
        tw::semaphore s(0);
        tw::deadline_scope d(20ms);
        s.acquire();
    }), tw::timeout_error);
}

TEST_P(Sync, SemaphoreWakesPlainThreadsAndFibersAcrossThreads) {
    tw::semaphore s(0);
    std::atomic<int> got{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) threads.emplace_back([&] { s.acquire(); ++got; });
    std::vector<tw::task<void>> fibers;
    for (int i = 0; i < 8; ++i) fibers.push_back(rt().spawn([&] { s.acquire(); ++got; }));
    std::vector<std::thread> releasers;
    for (int i = 0; i < 16; ++i) releasers.emplace_back([&] { s.release(); });
    for (auto& t : releasers) t.join();
    for (auto& t : threads) t.join();
    for (auto& f : fibers) ASSERT_TRUE(f.wait_for(tw_test::k_guard));
    EXPECT_EQ(got.load(), 16);
}

TEST_P(Sync, DeviceLockSerialisesOneBoardsTransactions) {
    tw::device_lock lock("board-7");
    int inside = 0, peak = 0;
    on_fiber([&] {
        std::vector<tw::task<void>> ts;
        for (int i = 0; i < 10; ++i)
            ts.push_back(tw::spawn([&] {
                std::lock_guard g(lock);
                peak = std::max(peak, ++inside);
                tw::sleep_for(1ms);  // a transaction in flight
                --inside;
            }));
        for (auto& t : ts) t.get();
    });
    EXPECT_EQ(peak, 1);
}

TEST_P(Sync, OffloadRunsBlockingCallsWithoutBlockingTheWorker) {
    tw::offload_pool pool("vendor", 2);
    std::atomic<bool> release{false};
    std::atomic<int> ticks{0};
    on_fiber([&] {
        // A blocking vendor call on the pool, while another fiber on this
        // same worker keeps running: it is the one that lets the call finish.
        auto blocked = tw::spawn([&] {
            return pool.run([&] {
                while (!release) std::this_thread::yield();
                return 7;
            });
        });
        auto ticker = tw::spawn([&] {
            for (int i = 0; i < 5; ++i) {
                tw::sleep_for(1ms);
                ++ticks;
            }
            release = true;
        });
        ticker.get();
        EXPECT_EQ(blocked.get(), 7);
    });
    EXPECT_EQ(ticks.load(), 5);
}

TEST_P(Sync, OffloadRethrowsTheJobsError) {
    EXPECT_THROW(on_fiber([] { return tw::offload([]() -> int { throw std::runtime_error("vendor error"); }); }), std::runtime_error);
    EXPECT_EQ(tw::offload([] { return 3; }), 3);  // from a plain thread too
}


}  // namespace
