#include <tw/fan_out.hpp>

#include "fixture.hpp"

#include <atomic>
#include <chrono>
#include <iterator>
#include <memory>
#include <numeric>
#include <ranges>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include <tw/runtime.hpp>
#include <tw/yield.hpp>

using namespace std::chrono_literals;

namespace {

// Parks the calling fiber until cancelled or its deadline passes.
void park_forever() { tw::sleep_for(1h); }

class FanOut : public tw_test::runtime_fixture {};
TW_RUNTIME_TEST_SUITE(FanOut);

TEST_P(FanOut, ResultsComeBackInInputOrder) {
    std::vector<int> items{5, 1, 4, 2, 3};
    auto r = on_fiber([&] {
        return tw::fan_out(items, [](int x) {
            tw::sleep_for(std::chrono::milliseconds(x));  // finish out of order
            return x * 10;
        });
    });
    EXPECT_EQ(r.values(), (std::vector<int>{50, 10, 40, 20, 30}));
    EXPECT_EQ(r.summary(), "5 ok, 0 failed");
}

TEST_P(FanOut, EveryFailureIsKeptPerItem) {
    std::vector<int> items{0, 1, 2, 3, 4, 5};
    auto r = on_fiber([&] {
        return tw::fan_out(items, [](int x) {
            if (x % 2) throw std::runtime_error("odd " + std::to_string(x));
            return x;
        });
    });
    EXPECT_EQ(r.succeeded, 3u);
    EXPECT_EQ(r.failed, 3u);
    EXPECT_EQ(r.outcomes[3].error_message(), "odd 3");
    EXPECT_TRUE(r.outcomes[4].ok());
    EXPECT_THROW(r.values(), std::runtime_error);
}

TEST_P(FanOut, ConcurrencyLimitIsNeverExceeded) {
    std::vector<int> items(40);
    int in_flight = 0, peak = 0;
    on_fiber([&] {
        tw::fan_out(items, [&](int) {
            peak = std::max(peak, ++in_flight);
            tw::sleep_for(1ms);
            --in_flight;
        }, {.concurrency = 4});
    });
    EXPECT_EQ(peak, 4);
}

TEST_P(FanOut, ProgressCountsEveryItem) {
    std::vector<int> items{1, 2, 3, 4};
    std::vector<tw::fan_out_progress> seen;
    on_fiber([&] {
        tw::fan_out(items, [](int x) { if (x == 2) throw std::runtime_error("two"); }, {.progress = [&](const tw::fan_out_progress& p) { seen.push_back(p); }});
    });
    ASSERT_EQ(seen.size(), 4u);
    EXPECT_EQ(seen.back().done, 4u);
    EXPECT_EQ(seen.back().failed, 1u);
    EXPECT_EQ(seen.back().in_flight, 0u);
    EXPECT_EQ(seen.back().total, 4u);
}

TEST_P(FanOut, DeadlineTimesOutSlowItemsAndKeepsFastOnes) {
    std::vector<int> items{0, 1, 2, 3};
    auto r = on_fiber([&] {
        return tw::fan_out(items, [](int x) {
            if (x >= 2) park_forever();
            return x;
        }, {.deadline = 50ms});
    });
    EXPECT_TRUE(r.outcomes[0].ok());
    EXPECT_TRUE(r.outcomes[1].ok());
    EXPECT_THROW(r.outcomes[2].value(), tw::timeout_error);
    EXPECT_THROW(r.outcomes[3].value(), tw::timeout_error);
}

TEST_P(FanOut, CancellingMidFlightCancelsEveryCallAndLeavesNothing) {
    std::vector<int> items(100);
    std::atomic<int> started{0}, unwound{0};
    tw::semaphore all_started(0);
    auto t = rt().spawn([&] {
        tw::fan_out(items, [&](int) {
            struct guard {
                std::atomic<int>& n;
                ~guard() { ++n; }
            } g{unwound};
            if (++started == 10) all_started.release();
            park_forever();
        }, {.concurrency = 10});
    });
    auto waiter = rt().spawn([&] { all_started.acquire(); });
    ASSERT_TRUE(waiter.wait_for(tw_test::k_guard));
    t.cancel("operator pressed Ctrl-C");
    ASSERT_TRUE(t.wait_for(tw_test::k_guard));
    try {
        t.get();
        FAIL() << "fan_out should rethrow the cancellation";
    } catch (const tw::cancelled_error& e) {
        EXPECT_STREQ(e.what(), "operator pressed Ctrl-C");
    }
    EXPECT_EQ(started.load(), 10);
    EXPECT_EQ(unwound.load(), 10);
}

TEST_P(FanOut, NestsBoardsModulesChannels) {
    std::vector<int> boards{0, 1, 2}, modules{0, 1}, channels{0, 1, 2, 3};
    auto r = on_fiber([&] {
        return tw::fan_out(boards, [&](int b) {
            int sum = 0;
            for (auto& m : tw::fan_out(modules, [&](int m) {
                     int s = 0;
                     for (int c : tw::fan_out(channels, [&](int c) { tw::sleep_for(1ms); return b * 100 + m * 10 + c; }).values()) s += c;
                     return s;
                 }).values())
                sum += m;
            return sum;
        });
    });
    // board b: Σ over 2 modules × 4 channels of 100·b + 10·m + c = 800·b + 40 + 12
    EXPECT_EQ(r.values(), (std::vector<int>{52, 852, 1652}));
}

TEST_P(FanOut, WorksFromAPlainThread) {
    std::vector<std::string> names{"a", "bb", "ccc"};
    auto r = tw::fan_out(names, [](const std::string& s) { return s.size(); });
    EXPECT_EQ(r.values(), (std::vector<std::size_t>{1, 2, 3}));
}

// ---- ranges whose elements exist only during iteration ----------------------

std::vector<int> zero_to(int n) {
    std::vector<int> v(static_cast<std::size_t>(n));
    std::iota(v.begin(), v.end(), 0);
    return v;
}

TEST_P(FanOut, IotaElementsAreCopiedNotReadFromDeadTemporaries) {
    auto r = on_fiber([] { return tw::fan_out(std::views::iota(0, 100), [](int i) { return i; }); });
    EXPECT_EQ(r.values(), zero_to(100));
}

TEST_P(FanOut, TransformedElementsArePassedAsRvalues) {
    std::vector<int> items = zero_to(50);
    auto r = on_fiber([&] {
        return tw::fan_out(items | std::views::transform([](int x) { return std::to_string(x); }),
                           [](std::string&& s) { return std::stoi(s); });
    });
    EXPECT_EQ(r.values(), zero_to(50));
}

TEST_P(FanOut, MoveOnlyElementsFromATransformAreMovedIntoTheCalls) {
    auto r = on_fiber([] {
        return tw::fan_out(std::views::iota(0, 20) | std::views::transform([](int x) { return std::make_unique<int>(x); }),
                           [](std::unique_ptr<int> p) { return *p; });
    });
    EXPECT_EQ(r.values(), zero_to(20));
}

TEST_P(FanOut, MoveIteratorsMoveTheElementsOut) {
    std::vector<std::unique_ptr<int>> owned;
    for (int i = 0; i < 20; ++i) owned.push_back(std::make_unique<int>(i));
    auto r = on_fiber([&] {
        auto moved = std::ranges::subrange(std::make_move_iterator(owned.begin()), std::make_move_iterator(owned.end()));
        return tw::fan_out(moved, [](std::unique_ptr<int> p) { return *p; });
    });
    EXPECT_EQ(r.values(), zero_to(20));
    for (auto& p : owned) EXPECT_EQ(p, nullptr) << "each element should have been moved into its call";
}

TEST_P(FanOut, SinglePassRangeElementsAreCopiedBeforeTheNextIsRead) {
    // istream_view's reference is an lvalue, but into one cache that every
    // increment overwrites: fan_out must copy it, not point at it.
    std::istringstream in("3 1 4 1 5 9 2 6");
    auto r = on_fiber([&] { return tw::fan_out(std::views::istream<int>(in), [](int x) { return x; }); });
    EXPECT_EQ(r.values(), (std::vector<int>{3, 1, 4, 1, 5, 9, 2, 6}));
}

TEST_P(FanOut, LvalueElementsArePassedByReference) {
    std::vector<int> items{1, 2, 3};
    auto r = on_fiber([&] {
        return tw::fan_out(items, [](int& x) {
            x *= 10;
            return &x;
        });
    });
    EXPECT_EQ(items, (std::vector<int>{10, 20, 30}));
    EXPECT_EQ(r.values(), (std::vector<int*>{&items[0], &items[1], &items[2]}));
}

TEST_P(FanOut, WhenAllReturnsEveryValue) {
    auto [a, b, c] = on_fiber([] {
        return tw::when_all([] { tw::sleep_for(2ms); return 1; }, [] { return std::string("two"); }, [] {});
    });
    EXPECT_EQ(a, 1);
    EXPECT_EQ(b, "two");
    (void)c;
}

TEST_P(FanOut, WhenAllRethrowsAfterAllFinished) {
    std::atomic<bool> slow_done{false};
    EXPECT_THROW(on_fiber([&] {
        return tw::when_all([] { throw std::runtime_error("fast failure"); }, [&] { tw::sleep_for(5ms); slow_done = true; });
    }), std::runtime_error);
    EXPECT_TRUE(slow_done);
}

TEST_P(FanOut, WhenAnyTakesFirstSuccessAndCancelsTheRest) {
    std::atomic<bool> loser_cancelled{false};
    auto [i, v] = on_fiber([&] {
        return tw::when_any(
            [&] {
                try {
                    park_forever();
                } catch (const tw::cancelled_error&) {
                    loser_cancelled = true;
                    throw;
                }
                return 0;
            },
            [] { throw std::runtime_error("fails first"); return 1; },
            [] { tw::sleep_for(2ms); return 2; });
    });
    EXPECT_EQ(i, 2u);
    EXPECT_EQ(v, 2);
    EXPECT_TRUE(loser_cancelled);
}

TEST_P(FanOut, WhenAnyRethrowsWhenAllFail) {
    EXPECT_THROW(on_fiber([] {
        return tw::when_any([] { throw std::runtime_error("a"); return 1; }, [] { throw std::logic_error("b"); return 2; });
    }), std::exception);
}


}  // namespace
