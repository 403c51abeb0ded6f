// Cancellation: task::cancel interrupts the wait with cancelled_error carrying
// the reason and unwinds the stack; shields defer it; task handles own their
// fibers; children follow their parent.
#include <tw/task.hpp>

#include <atomic>
#include <thread>

#include <boost/asio/steady_timer.hpp>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tw_test::gate;
using tw_test::k_guard;

class Cancellation : public tw_test::runtime_fixture {
protected:
    void wait_an_hour() {
        boost::asio::steady_timer t(tw::this_fiber::executor(), 1h);
        t.async_wait(tw::yield);
    }
};
TW_RUNTIME_TEST_SUITE(Cancellation);

// Sets a flag when destroyed: proves the stack was unwound.
struct raii_flag {
    std::atomic<bool>& flag;
    ~raii_flag() { flag = true; }
};

TEST_P(Cancellation, CancelInterruptsATimerWaitWithTheReason) {
    run_body([this] {
        gate parked(tw::this_fiber::executor());
        std::string seen;
        auto t = tw::spawn([&] {
            parked.open();
            try {
                wait_an_hour();
            } catch (const tw::cancelled_error& e) {
                seen = e.what();
                throw;
            }
        });
        parked.wait();
        t.cancel("operator pressed stop");
        try {
            t.get();
            ADD_FAILURE() << "not cancelled";
        } catch (const tw::cancelled_error& e) {
            EXPECT_EQ(std::string(e.what()), "operator pressed stop");
        }
        EXPECT_EQ(seen, "operator pressed stop");
    });
}

TEST_P(Cancellation, CancelRunsDestructors) {
    run_body([this] {
        std::atomic<bool> destroyed{false};
        gate parked(tw::this_fiber::executor());
        auto t = tw::spawn([&] {
            raii_flag f{destroyed};
            parked.open();
            wait_an_hour();
        });
        parked.wait();
        EXPECT_FALSE(destroyed);
        t.cancel();
        EXPECT_THROW(t.get(), tw::cancelled_error);
        EXPECT_TRUE(destroyed);
    });
}

TEST_P(Cancellation, CancelBeforeTheFiberRunsStopsItAtItsFirstWaitPoint) {
    run_body([] {
        bool reached = false;
        auto t = tw::spawn([&] { reached = true; });
        t.cancel("never mind");
        EXPECT_THROW(t.get(), tw::cancelled_error);
        EXPECT_FALSE(reached);
    });
}

TEST_P(Cancellation, CancelFromAnotherThread) {
    auto& r = rt();
    std::atomic<bool> destroyed{false};
    std::promise<void> parked;
    auto parked_fut = parked.get_future();
    auto t = r.spawn([&] {
        raii_flag f{destroyed};
        parked.set_value();
        tw::sleep_for(1h);
    });
    ASSERT_TRUE(tw_test::ready(parked_fut));
    std::thread other([&] { t.cancel("from another thread"); });
    other.join();
    ASSERT_TRUE(t.wait_for(k_guard));
    try {
        t.get();
        ADD_FAILURE() << "not cancelled";
    } catch (const tw::cancelled_error& e) {
        EXPECT_EQ(std::string(e.what()), "from another thread");
    }
    EXPECT_TRUE(destroyed);
}

TEST_P(Cancellation, ShieldDefersCancellationToTheNextWaitPoint) {
    run_body([this] {
        gate in_shield(tw::this_fiber::executor()), resume(tw::this_fiber::executor());
        bool shielded_wait_completed = false;
        auto t = tw::spawn([&] {
            {
                tw::cancellation_shield shield;
                in_shield.open();
                resume.wait();        // cancel() arrives while we wait here...
                tw::sleep_for(1ms);   // ...and a shielded wait still completes
                shielded_wait_completed = true;
            }
            tw::sleep_for(1h);  // the first wait point outside the shield throws
        });
        in_shield.wait();
        t.cancel("deferred");
        resume.open();
        try {
            t.get();
            ADD_FAILURE() << "not cancelled";
        } catch (const tw::cancelled_error& e) {
            EXPECT_EQ(std::string(e.what()), "deferred");
        }
        EXPECT_TRUE(shielded_wait_completed);
    });
}

TEST_P(Cancellation, ShieldDefersTheOuterDeadline) {
    run_body([] {
        tw::deadline_scope d(1ms);
        tw::cancellation_shield shield;
        tw::sleep_for(20ms);  // past the deadline, but shielded
        SUCCEED();
    });
}

TEST_P(Cancellation, ADeadlineScopeInsideAShieldStillApplies) {
    run_body([this] {
        gate in_shield(tw::this_fiber::executor());
        auto t = tw::spawn([&] {
            tw::cancellation_shield shield;
            in_shield.open();
            tw::deadline_scope cleanup(50ms);
            const auto due = tw::current_deadline();
            try {
                tw::sleep_for(1h);  // cancelled meanwhile, but shielded: the cleanup deadline ends it
                ADD_FAILURE() << "the cleanup deadline did not fire";
            } catch (const tw::timeout_error&) {
                EXPECT_GE(tw::clock::now(), due);
            }
            return 5;
        });
        in_shield.wait();
        t.cancel();
        EXPECT_EQ(t.get(), 5);  // no later wait point: the cancellation is never observed
    });
}

TEST_P(Cancellation, DestroyingARunningTaskCancelsAndJoinsIt) {
    run_body([this] {
        std::atomic<bool> destroyed{false};
        std::string reason;
        {
            gate parked(tw::this_fiber::executor());
            auto t = tw::spawn([&] {
                raii_flag f{destroyed};
                parked.open();
                try {
                    wait_an_hour();
                } catch (const tw::cancelled_error& e) {
                    reason = e.what();
                    throw;
                }
            });
            parked.wait();
        }  // ~task: cancel and join, no std::terminate
        EXPECT_TRUE(destroyed);
        EXPECT_THAT(reason, ::testing::HasSubstr("destroyed"));
    });
}

TEST_P(Cancellation, DestroyingARunningTaskFromAPlainThread) {
    std::atomic<bool> destroyed{false};
    std::promise<void> parked;
    auto parked_fut = parked.get_future();
    {
        tw_test::watchdog guard("~task on a plain thread");
        auto t = rt().spawn([&] {
            raii_flag f{destroyed};
            parked.set_value();
            tw::sleep_for(1h);
        });
        ASSERT_TRUE(tw_test::ready(parked_fut));
    }
    EXPECT_TRUE(destroyed);
}

TEST_P(Cancellation, AChildOfACancelledParentIsCancelled) {
    run_body([this] {
        gate child_parked(tw::this_fiber::executor());
        std::atomic<bool> child_cancelled{false};
        auto parent = tw::spawn([&] {
            auto child = tw::spawn([&] {
                try {
                    child_parked.open();
                    wait_an_hour();
                } catch (const tw::cancelled_error&) {
                    child_cancelled = true;
                    throw;
                }
            });
            wait_an_hour();
        });
        child_parked.wait();
        parent.cancel("whole tree");
        EXPECT_THROW(parent.get(), tw::cancelled_error);
        EXPECT_TRUE(child_cancelled);
    });
}

TEST_P(Cancellation, AFiberSpawnedByACancelledParentStartsCancelled) {
    run_body([this] {
        gate parked(tw::this_fiber::executor());
        bool child_ran_body = true;
        auto parent = tw::spawn([&] {
            try {
                parked.open();
                wait_an_hour();
            } catch (const tw::cancelled_error&) {
                // Cleanup that starts a helper: the helper is cancelled too.
                auto helper = tw::spawn([&] {
                    tw::sleep_for(1h);
                    child_ran_body = true;
                });
                child_ran_body = false;
                tw::cancellation_shield shield;  // so that get() waits for the helper's own outcome
                EXPECT_THROW(helper.get(), tw::cancelled_error);
                throw;
            }
        });
        parked.wait();
        parent.cancel();
        EXPECT_THROW(parent.get(), tw::cancelled_error);
        EXPECT_FALSE(child_ran_body);
    });
}

TEST_P(Cancellation, CancellingAFinishedTaskIsANoOp) {
    run_body([] {
        auto t = tw::spawn([] { return 1; });
        ASSERT_TRUE(t.wait_for(k_guard));
        t.cancel();
        EXPECT_EQ(t.get(), 1);
    });
}

TEST_P(Cancellation, CheckCancelledIsACancellationPoint) {
    run_body([] {
        auto t = tw::spawn([] {
            long spins = 0;
            for (;;) {  // a long computation without I/O
                tw::check_cancelled();
                if (++spins % 64 == 0) tw::this_fiber::yield();
            }
        });
        tw::this_fiber::yield();
        t.cancel("enough");
        EXPECT_THROW(t.get(), tw::cancelled_error);
    });
}

}  // namespace
