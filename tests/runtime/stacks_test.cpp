// Fiber stacks: an overflow is a clear report naming the fiber (death test);
// past the guard-page budget stacks fall back to canary-checked ones with one
// warning; many parked fibers are cheap. Not under valgrind (label
// nomemcheck): death tests fork, and 20,000 stacks are slow there.
#include <tw/runtime.hpp>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tw_test::gate;
using tw_test::k_guard;

// Deep recursion that the optimiser can neither flatten nor turn into a loop.
__attribute__((noinline)) int recurse(int depth) {
    volatile char frame[1024];
    frame[0] = static_cast<char>(depth);
    if (depth == 0) return frame[0];
    return recurse(depth - 1) + frame[0];
}

TEST(StacksDeathTest, OverflowReportsTheFiberByName) {
    testing::GTEST_FLAG(death_test_style) = "threadsafe";
    EXPECT_DEATH(
        {
            tw::runtime rt;
            auto t = rt.spawn(tw::spawn_options{.name = "deep-recursion", .stack_size = 64 * 1024},
                              [] { return recurse(1'000'000); });
            (void)t.wait_for(k_guard);
        },
        "stack overflow in fiber 'deep-recursion'");
}

class Stacks : public tw_test::runtime_fixture {};
TW_RUNTIME_TEST_SUITE(Stacks);

TEST_P(Stacks, ALargerStackSizeIsHonoured) {
    const int expected = recurse(500);  // on this thread's 8 MiB stack
    run_body([expected] {
        // ~512 KiB of frames: fine on a 1 MiB stack (the default is 128 KiB).
        auto t = tw::spawn(tw::spawn_options{.name = "deep", .stack_size = 1024 * 1024}, [] { return recurse(500); });
        EXPECT_EQ(t.get(), expected);
    });
}

// Warnings may arrive until the runtime is gone: the handler's state lives in
// the fixture.
class StacksBudget : public tw_test::runtime_fixture {
protected:
    void SetUp() override {
        options.guarded_stacks = 3;
        options.on_warning = [this](std::string_view m) {
            std::lock_guard lk(mtx_);
            warnings_.emplace_back(m);
        };
    }
    std::vector<std::string> warnings() {
        std::lock_guard lk(mtx_);
        return warnings_;
    }

private:
    std::mutex mtx_;
    std::vector<std::string> warnings_;
};
TW_RUNTIME_TEST_SUITE(StacksBudget);

TEST_P(StacksBudget, PastTheGuardPageBudgetStacksFallBackWithOneWarning) {
    run_body([this] {
        gate release;
        std::vector<tw::task<int>> tasks;
        for (int i = 0; i < 10; ++i) {
            tasks.push_back(tw::spawn([&release, i] {
                release.wait();
                return recurse(20) + i - recurse(20);
            }));
        }
        tw::this_fiber::yield();  // all ten are parked, each on its own stack
        EXPECT_LE(rt().counters().guarded_stacks, 3u);
        release.open();
        for (int i = 0; i < 10; ++i) EXPECT_EQ(tasks[i].get(), i);
    });
    auto w = warnings();
    ASSERT_EQ(w.size(), 1u);
    EXPECT_THAT(w[0], ::testing::HasSubstr("guard-page budget"));
}

TEST_P(Stacks, TwentyThousandParkedFibersThenCancelAll) {
    run_body([] {
        constexpr int n = 20'000;
        std::atomic<int> parked{0}, cancelled{0};
        std::vector<tw::task<void>> tasks;
        tasks.reserve(n);
        for (int i = 0; i < n; ++i) {
            tasks.push_back(tw::spawn([&] {
                ++parked;
                try {
                    tw::sleep_for(1h);
                } catch (const tw::cancelled_error&) {
                    ++cancelled;
                    throw;
                }
            }));
        }
        while (parked < n) tw::this_fiber::yield();  // bounded by the fibers starting, not by time
        for (auto& t : tasks) t.cancel("enough");
        for (auto& t : tasks) EXPECT_THROW(t.get(), tw::cancelled_error);
        EXPECT_EQ(cancelled, n);
    });
}

}  // namespace
