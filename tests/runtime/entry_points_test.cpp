// tw::run / tw::spawn / tworoutine from each caller of docs/CALLERS.md's table that
// is not an Asio host (those are in embedding_test.cpp): a plain thread with
// the default runtime, a fiber, a fiber nested three deep, and a foreign
// thread while the runtime runs elsewhere.
#include <tw/run.hpp>

#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tw_test::gate;
using tw_test::k_guard;

// ---- main() / a plain thread: the default runtime ---------------------------

TEST(EntryPointsMainThread, RunBlocksAndReturnsTheValue) {
    tw_test::watchdog guard("tw::run from the main thread");
    bool on_fiber = false;
    int v = tw::run([&] {
        tw::sleep_for(1ms);
        on_fiber = tw::current_deadline() == tw::clock::time_point::max() && &tw::current_runtime() == &tw::default_runtime();
        return 42;
    });
    EXPECT_EQ(v, 42);
    EXPECT_TRUE(on_fiber) << "the call should run on a fiber of the default runtime";
}

TEST(EntryPointsMainThread, RunRethrowsTheError) {
    tw_test::watchdog guard("tw::run from the main thread");
    EXPECT_THROW(tw::run([]() -> int { throw std::out_of_range("no such board"); }), std::out_of_range);
}

TEST(EntryPointsMainThread, SpawnReturnsATaskWhoseGetBlocks) {
    auto t = tw::spawn([] {
        tw::sleep_for(1ms);
        return std::string("done");
    });
    static_assert(std::is_same_v<decltype(t), tw::task<std::string>>);
    ASSERT_TRUE(t.wait_for(k_guard));
    EXPECT_EQ(t.get(), "done");
    EXPECT_FALSE(t.valid());
}

TEST(EntryPointsMainThread, TworoutineCallIsSyncAndTildeIsATask) {
    tw_test::watchdog guard("tworoutine from the main thread");
    tw::tworoutine double_slowly = [](int x) {
        tw::sleep_for(1ms);
        return 2 * x;
    };
    EXPECT_EQ(double_slowly(1), 2);
    tw::task<int> t = (~double_slowly)(2);
    ASSERT_TRUE(t.wait_for(k_guard));
    EXPECT_EQ(t.get(), 4);
}

// ---- a fiber of the runtime ----------------------------------------------------

class EntryPoints : public tw_test::runtime_fixture {};
TW_RUNTIME_TEST_SUITE(EntryPoints);

TEST_P(EntryPoints, RunOnAFiberRunsInline) {
    run_body([] {
        const auto thread = std::this_thread::get_id();
        auto [name, tid] = tw::run([] { return std::pair(std::string(tw::this_fiber::name()), std::this_thread::get_id()); });
        EXPECT_EQ(name, "test-body") << "tw::run on a fiber must not start another fiber";
        EXPECT_EQ(tid, thread);
    });
}

TEST_P(EntryPoints, RunOnAFiberLetsOtherFibersProgressWhileItWaits) {
    run_body([this] {
        gate g(tw::this_fiber::executor());
        auto opener = tw::spawn([&] { g.open(); });
        // If the blocking call blocked the thread, the opener (same thread)
        // could never run and this would hang until the deadlock guard.
        tw::run([&] { g.wait(); });
        EXPECT_TRUE(g.is_open());
        opener.get();
    });
}

TEST_P(EntryPoints, SpawnOnAFiberStartsAChildOnTheSameWorker) {
    run_body([] {
        const auto thread = std::this_thread::get_id();
        auto t = tw::spawn(tw::spawn_options{.name = "child"}, [] {
            return std::pair(std::string(tw::this_fiber::name()), std::this_thread::get_id());
        });
        auto [name, tid] = t.get();
        EXPECT_EQ(name, "child");
        EXPECT_EQ(tid, thread) << "fibers stay on the thread that created them";
    });
}

TEST_P(EntryPoints, GetOnAFiberSuspendsOnlyThatFiber) {
    run_body([this] {
        gate g(tw::this_fiber::executor());
        std::vector<int> order;
        auto waiter = tw::spawn([&] {
            g.wait();
            order.push_back(2);
            return 7;
        });
        auto opener = tw::spawn([&] {
            order.push_back(1);
            g.open();
        });
        EXPECT_EQ(waiter.get(), 7);  // the opener runs while we are suspended here
        opener.get();
        EXPECT_EQ(order, (std::vector<int>{1, 2}));
    });
}

int tree(int depth) {
    if (depth == 0) {
        tw::sleep_for(1ms);
        return 1;
    }
    auto a = tw::spawn(tree, depth - 1);  // asynchronous half
    int b = tw::run(tree, depth - 1);     // synchronous half, inline
    return a.get() + b;
}

TEST_P(EntryPoints, RunAndSpawnComposeNestedThreeDeep) {
    run_body([] { EXPECT_EQ(tw::run(tree, 3), 8); });
}

TEST_P(EntryPoints, AtDepthThreeGetStillSuspendsOnlyTheFiber) {
    run_body([this] {
        auto& r = rt();
        auto depth3 = [&r] {
            gate g(tw::this_fiber::executor());
            auto waiter = tw::spawn([&] {
                g.wait();
                return tw::run([] { return 3; });
            });
            auto opener = tw::spawn([&] { g.open(); });
            int v = waiter.get();
            opener.get();
            return v;
        };
        auto level1 = tw::spawn([&] { return tw::spawn([&] { return tw::spawn(depth3).get(); }).get(); });
        EXPECT_EQ(level1.get(), 3);
    });
}

TEST_P(EntryPoints, TworoutineOnAFiber) {
    run_body([] {
        tw::tworoutine double_slowly = [](int x) {
            tw::sleep_for(1ms);
            return 2 * x;
        };
        EXPECT_EQ(double_slowly(1), 2);
        tw::task<int> t = (~double_slowly)(2);
        static_assert(std::is_same_v<decltype((~double_slowly)(2)), tw::task<int>>);
        EXPECT_EQ(t.get(), 4);
    });
}

// ---- a foreign thread while the runtime runs elsewhere ------------------------

TEST_P(EntryPoints, ForeignThreadRunBlocksOnlyThatThread) {
    auto& r = rt();
    // A fiber that keeps ticking shows the runtime is not blocked meanwhile.
    std::atomic<bool> stop{false};
    std::atomic<int> ticks{0};
    auto ticker = r.spawn([&] {
        while (!stop) {
            tw::sleep_for(1ms);
            ++ticks;
        }
    });
    std::promise<int> result;
    auto fut = result.get_future();
    std::thread foreign([&] {
        try {
            result.set_value(r.run([&] {
                const int seen = ticks.load();
                while (ticks.load() < seen + 3) tw::sleep_for(1ms);  // the ticker progresses
                return 5;
            }));
        } catch (...) {
            result.set_exception(std::current_exception());
        }
    });
    if (tw_test::ready(fut, "run from a foreign thread")) {
        EXPECT_EQ(fut.get(), 5);
    }
    foreign.join();
    stop = true;
    ASSERT_TRUE(ticker.wait_for(k_guard));
    ticker.get();
}

TEST_P(EntryPoints, ForeignThreadSpawnTaskIsUsableFromThatThread) {
    auto& r = rt();
    std::promise<int> result;
    auto fut = result.get_future();
    std::thread foreign([&] {
        try {
            auto t = r.spawn([] {
                tw::sleep_for(1ms);
                return 11;
            });
            if (!t.wait_for(k_guard)) throw std::runtime_error("deadlock guard");
            result.set_value(t.get());
        } catch (...) {
            result.set_exception(std::current_exception());
        }
    });
    if (tw_test::ready(fut, "spawn from a foreign thread")) {
        EXPECT_EQ(fut.get(), 11);
    }
    foreign.join();
}

TEST_P(EntryPoints, ForeignThreadsManyConcurrentRuns) {
    auto& r = rt();
    constexpr int n = 16;
    std::vector<std::future<int>> results;
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        std::promise<int> p;
        results.push_back(p.get_future());
        threads.emplace_back([&r, i, p = std::move(p)]() mutable {
            try {
                p.set_value(r.run([i] {
                    tw::this_fiber::yield();
                    return i * i;
                }));
            } catch (...) {
                p.set_exception(std::current_exception());
            }
        });
    }
    for (int i = 0; i < n; ++i) {
        if (tw_test::ready(results[i], "run from one of 16 threads")) {
            EXPECT_EQ(results[i].get(), i * i);
        }
    }
    for (auto& t : threads) t.join();
}

}  // namespace
