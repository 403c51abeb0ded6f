// tw::deadline_scope, tw::sleep_for and task::wait_for: deadlines fire, and
// never before they are due (no upper bound but the deadlock guard).
#include <tw/deadline.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tw::clock;
using tw_test::gate;

class Deadline : public tw_test::runtime_fixture {
protected:
    // A wait that only a deadline or cancellation can end.
    void wait_an_hour() {
        boost::asio::steady_timer t(tw::this_fiber::executor(), 1h);
        t.async_wait(tw::yield);
    }
};
TW_RUNTIME_TEST_SUITE(Deadline);

TEST_P(Deadline, ScopeAroundALongTimerWaitThrowsTimeoutError) {
    run_body([this] {
        const auto start = clock::now();
        tw::deadline_scope d(50ms);
        EXPECT_THROW(wait_an_hour(), tw::timeout_error);
        EXPECT_GE(clock::now() - start, 50ms) << "the deadline fired early";
    });
}

TEST_P(Deadline, DeadlineIsNotEarly) {
    run_body([this] {
        for (auto d : {1ms, 7ms, 30ms}) {
            tw::deadline_scope scope(d);
            const auto due = tw::current_deadline();
            try {
                wait_an_hour();
                ADD_FAILURE() << "no timeout";
            } catch (const tw::timeout_error&) {
                EXPECT_GE(clock::now(), due) << "deadline of " << d.count() << " ms fired early";
            }
        }
    });
}

TEST_P(Deadline, NestedScopesInnerEarlierWinsAndOuterIsRestored) {
    run_body([this] {
        tw::deadline_scope outer(300ms);
        const auto outer_due = tw::current_deadline();
        {
            tw::deadline_scope inner(50ms);
            const auto inner_due = tw::current_deadline();
            EXPECT_LT(inner_due, outer_due);
            try {
                wait_an_hour();
                ADD_FAILURE() << "inner deadline did not fire";
            } catch (const tw::timeout_error&) {
                EXPECT_GE(clock::now(), inner_due);
            }
        }
        EXPECT_EQ(tw::current_deadline(), outer_due) << "leaving the inner scope restores the outer deadline";
        try {
            wait_an_hour();
            ADD_FAILURE() << "outer deadline did not fire";
        } catch (const tw::timeout_error&) {
            EXPECT_GE(clock::now(), outer_due);
        }
    });
}

TEST_P(Deadline, ALaterInnerScopeDoesNotExtendTheOuter) {
    run_body([this] {
        tw::deadline_scope outer(50ms);
        const auto outer_due = tw::current_deadline();
        tw::deadline_scope inner(1h);
        EXPECT_EQ(tw::current_deadline(), outer_due);
        EXPECT_THROW(wait_an_hour(), tw::timeout_error);
        EXPECT_GE(clock::now(), outer_due);
    });
}

TEST_P(Deadline, NoDeadlineOutsideAScope) {
    run_body([] { EXPECT_EQ(tw::current_deadline(), clock::time_point::max()); });
    EXPECT_EQ(tw::current_deadline(), clock::time_point::max());  // plain thread
}

TEST_P(Deadline, ChildrenInheritTheDeadline) {
    run_body([this] {
        tw::task<clock::time_point> child;
        clock::time_point due;
        {
            tw::deadline_scope d(50ms);
            due = tw::current_deadline();
            child = tw::spawn([this] {
                auto mine = tw::current_deadline();
                wait_an_hour();  // the inherited deadline ends this
                return mine;
            });
        }
        // The parent's scope is gone; the child keeps the deadline it started with.
        EXPECT_EQ(tw::current_deadline(), clock::time_point::max());
        EXPECT_THROW(child.get(), tw::timeout_error);
        EXPECT_GE(clock::now(), due);

        tw::deadline_scope d(1h);
        const auto parent_due = tw::current_deadline();
        EXPECT_EQ(tw::spawn([] { return tw::current_deadline(); }).get(), parent_due);
    });
}

TEST_P(Deadline, SleepForUnderAnEarlierDeadlineThrowsTimeoutError) {
    run_body([] {
        tw::deadline_scope d(50ms);
        const auto due = tw::current_deadline();
        EXPECT_THROW(tw::sleep_for(1h), tw::timeout_error);
        EXPECT_GE(clock::now(), due);
    });
}

TEST_P(Deadline, SleepForIsNotEarly) {
    run_body([] {
        const auto start = clock::now();
        tw::sleep_for(20ms);
        EXPECT_GE(clock::now() - start, 20ms);
    });
}

TEST_P(Deadline, PassedDeadlineThrowsAtTheNextWaitPoint) {
    run_body([] {
        tw::deadline_scope d(clock::now() - 1ms);
        EXPECT_THROW(tw::check_cancelled(), tw::timeout_error);
        EXPECT_THROW(tw::this_fiber::yield(), tw::timeout_error);
        EXPECT_THROW(tw::sleep_for(1ms), tw::timeout_error);
    });
}

TEST_P(Deadline, TimeoutErrorNamesTheFiber) {
    run_body([] {
        auto t = tw::spawn(tw::spawn_options{.name = "slow-board"}, [] {
            tw::deadline_scope d(1ms);
            tw::sleep_for(1h);
        });
        try {
            t.get();
            ADD_FAILURE() << "no timeout";
        } catch (const tw::timeout_error& e) {
            EXPECT_THAT(e.what(), ::testing::HasSubstr("slow-board"));
        }
    });
}

TEST_P(Deadline, TaskWaitForReturnsFalseThenTrue) {
    run_body([this] {
        gate g(tw::this_fiber::executor());
        auto t = tw::spawn([&] {
            g.wait();
            return 1;
        });
        EXPECT_FALSE(t.wait_for(10ms)) << "the task cannot be done before its gate opens";
        EXPECT_FALSE(t.done());
        g.open();
        EXPECT_TRUE(t.wait_for(tw_test::k_guard));
        EXPECT_TRUE(t.done());
        EXPECT_EQ(t.get(), 1);
    });
}

TEST_P(Deadline, TaskWaitForFromAPlainThread) {
    auto& r = rt();
    auto t = r.spawn([this] {
        gate g(tw::this_fiber::executor());
        // Nothing opens the gate; cancellation ends the wait below.
        try {
            g.wait();
        } catch (const tw::cancelled_error&) {
        }
    });
    EXPECT_FALSE(t.wait_for(10ms));
    t.cancel();
    ASSERT_TRUE(t.wait_for(tw_test::k_guard));
    t.get();
}

TEST_P(Deadline, ADeadlineEndsATaskWaitOfTheWaitingFiber) {
    run_body([this] {
        gate g(tw::this_fiber::executor());
        auto t = tw::spawn([&] { g.wait(); });
        {
            tw::deadline_scope d(20ms);
            EXPECT_THROW(t.get(), tw::timeout_error);  // get() throws before retrieving
        }
        EXPECT_TRUE(t.valid());
        g.open();
        t.get();
    });
}

TEST_P(Deadline, ScopeReportsTheDeadlineInForce) {
    run_body([] {
        tw::deadline_scope outer(10s);
        EXPECT_EQ(outer.deadline(), tw::current_deadline());
        {
            tw::deadline_scope later(1h);  // cannot extend the outer deadline
            EXPECT_EQ(later.deadline(), outer.deadline());
        }
        tw::deadline_scope inner(1s);
        EXPECT_EQ(inner.deadline(), tw::current_deadline());
        EXPECT_LT(inner.deadline(), outer.deadline());
    });
}

// A fiber stays on its worker's list of timed waiters after a wait under a
// deadline; once it waits without that deadline, the deadline passing must
// not cut the new wait short.
TEST_P(Deadline, APassedDeadlineOfAnEarlierWaitDoesNotInterruptALaterOne) {
    run_body([] {
        boost::asio::steady_timer t(tw::this_fiber::executor());
        {
            tw::deadline_scope d(100ms);
            boost::asio::post(tw::this_fiber::executor(), tw::yield);  // a wait under the deadline, over at once
        }
        t.expires_after(300ms);  // outlasts the deadline above
        EXPECT_NO_THROW(t.async_wait(tw::yield)) << "no deadline applies to this wait";
        {
            tw::deadline_scope d(100ms);
            boost::asio::post(tw::this_fiber::executor(), tw::yield);
        }
        tw::deadline_scope later(1h);
        t.expires_after(300ms);
        EXPECT_NO_THROW(t.async_wait(tw::yield)) << "only the later deadline applies to this wait";
    });
}

// ---- the deadline value type -------------------------------------------------

TEST(DeadlineValue, DurationsTooLongToAddAreNoDeadline) {
    EXPECT_FALSE(tw::deadline::after(std::chrono::hours::max()).is_set());
    EXPECT_FALSE(tw::deadline::after(clock::duration::max()).is_set());
    EXPECT_FALSE(tw::deadline::after(std::chrono::seconds::max() / 3).is_set());
    EXPECT_FALSE(tw::deadline::after(std::chrono::duration<double>(1e300)).is_set());
    EXPECT_EQ(tw::deadline::after(clock::duration::max()).time_point(), clock::time_point::max());
    EXPECT_EQ(tw::deadline::none().left(), clock::duration::max());
    EXPECT_FALSE(tw::deadline::none().passed());
}

TEST(DeadlineValue, ZeroAndNegativeDurationsHaveAlreadyPassed) {
    for (auto d : {clock::duration::zero(), clock::duration(-1), clock::duration::min()}) {
        auto dl = tw::deadline::after(d);
        EXPECT_TRUE(dl.is_set());
        EXPECT_TRUE(dl.passed());
        EXPECT_EQ(dl.left(), clock::duration::zero());
    }
    EXPECT_TRUE(tw::deadline::after(std::chrono::hours::min()).passed());
}

TEST(DeadlineValue, AnOrdinaryTimeoutIsNowPlusItRoundedUp) {
    const auto now = clock::now();
    auto d = tw::deadline::after(std::chrono::duration<double, std::milli>(1.0000001), now);
    EXPECT_EQ(d.time_point(), now + 1000001ns);  // ceil: never earlier than asked
    EXPECT_EQ(tw::deadline::after(2s, now).time_point(), now + 2s);
    EXPECT_EQ(tw::earliest(tw::deadline::after(2s, now), tw::deadline::none()), tw::deadline::after(2s, now));
    EXPECT_LT(tw::deadline::after(1s, now), tw::deadline::after(2s, now));
}

TEST_P(Deadline, AScopeFromAHugeDurationIsNoDeadline) {
    run_body([] {
        tw::deadline_scope d(std::chrono::hours::max());
        EXPECT_EQ(tw::current_deadline(), clock::time_point::max());
        tw::deadline_scope e(tw::deadline::after(1h));
        EXPECT_NE(tw::current_deadline(), clock::time_point::max());
    });
}

}  // namespace
