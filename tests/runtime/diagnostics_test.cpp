// Diagnostics: the live fiber dump and the counters (the slow-fiber warning
// is in slow_fiber_test.cpp).
#include <tw/runtime.hpp>

#include <algorithm>
#include <future>
#include <string>
#include <vector>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tw_test::gate;
using tw_test::k_guard;

class Diagnostics : public tw_test::runtime_fixture {};
TW_RUNTIME_TEST_SUITE(Diagnostics);

TEST_P(Diagnostics, DumpShowsAParkedFiberWithWhatItWaitsOnAndItsDeadline) {
    run_body([this] {
        gate parked;
        auto probe = tw::spawn(tw::spawn_options{.name = "board-17"}, [&] {
            tw::deadline_scope d(1h);
            parked.open();  // we park below before the body runs again (same thread)
            tw::sleep_for(2h);
        });
        parked.wait();
        auto fibers = rt().dump();
        auto it = std::find_if(fibers.begin(), fibers.end(), [](auto& f) { return f.name == "board-17"; });
        ASSERT_NE(it, fibers.end()) << rt().dump_text();
        EXPECT_EQ(it->state, "waiting");
        EXPECT_FALSE(it->waiting_on.empty());
        ASSERT_TRUE(it->deadline_in.has_value());
        EXPECT_GT(*it->deadline_in, 0ms);
        EXPECT_LE(*it->deadline_in, 1h);
        EXPECT_FALSE(it->cancel_requested);

        auto self = std::find_if(fibers.begin(), fibers.end(), [](auto& f) { return f.name == "test-body"; });
        ASSERT_NE(self, fibers.end());
        EXPECT_EQ(self->state, "running");
        EXPECT_FALSE(self->deadline_in.has_value());

        EXPECT_THAT(rt().dump_text(), ::testing::HasSubstr("'board-17' waiting"));
        probe.cancel();
        EXPECT_THROW(probe.get(), tw::cancelled_error);
    });
}

TEST_P(Diagnostics, CountersCountLiveFibers) {
    run_body([this] {
        auto before = rt().counters();
        EXPECT_EQ(before.workers, GetParam());
        EXPECT_EQ(before.live_fibers, 1u);  // the test body
        gate release;
        std::vector<tw::task<void>> tasks;
        for (int i = 0; i < 5; ++i) tasks.push_back(tw::spawn([&] { release.wait(); }));
        EXPECT_EQ(rt().counters().live_fibers, 6u);
        release.open();
        for (auto& t : tasks) t.get();
        auto after = rt().counters();
        EXPECT_EQ(after.live_fibers, 1u);
        EXPECT_GT(after.switches, before.switches);

        // Finished fibers' stacks are reused: a second batch maps no new ones.
        tw::this_fiber::yield();  // lets the scheduler release the finished fibers
        for (int i = 0; i < 5; ++i) tasks[i] = tw::spawn([] { tw::this_fiber::yield(); });
        for (auto& t : tasks) t.get();
        EXPECT_LE(rt().counters().guarded_stacks, after.guarded_stacks);
    });
}

}  // namespace
