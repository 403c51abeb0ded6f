// What a careless caller can do to a runtime, and what happens instead of a
// crash or a silent hang: a cancel from another thread reaches a fiber that
// never suspends; a worker blocked by its fiber is named by the watchdog, by
// counters() and by dump() while it still blocks; a plain thread's deadline
// reaches the fibers it starts; a guest runtime whose host loop is run by
// several threads fails with usage_error; the default runtime is configured
// before its first use only.
#include <tw/runtime.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using tw_test::k_guard;

class Misuse : public tw_test::runtime_fixture {};
TW_RUNTIME_TEST_SUITE(Misuse);

TEST_P(Misuse, CheckCancelledSeesACancelFromAnotherThreadWithoutSuspending) {
    std::promise<void> started;
    auto started_fut = started.get_future();
    // The fiber never suspends, so its worker's loop never runs: only a flag
    // raised by cancel() itself can stop it.
    auto t = rt().spawn(tw::spawn_options{.name = "spinner"}, [&] {
        started.set_value();
        for (;;) tw::check_cancelled();
    });
    ASSERT_TRUE(tw_test::ready(started_fut, "the spinning fiber"));
    t.cancel("stop spinning");
    ASSERT_TRUE(t.wait_for(k_guard)) << "check_cancelled() never saw the cancel";
    try {
        t.get();
        ADD_FAILURE() << "no cancelled_error";
    } catch (const tw::cancelled_error& e) {
        EXPECT_THAT(e.what(), HasSubstr("stop spinning"));
    }
}

TEST_P(Misuse, ACancelBeforeTheFiberStartsIsKeptForIt) {
    // From a plain thread the fiber starts later, on its worker: the cancel
    // arrives first and must still be the reason it ends with.
    auto t = rt().spawn([] { tw::sleep_for(1h); });
    t.cancel("cancelled early");
    ASSERT_TRUE(t.wait_for(k_guard));
    try {
        t.get();
        ADD_FAILURE() << "no cancelled_error";
    } catch (const tw::cancelled_error& e) {
        EXPECT_THAT(e.what(), HasSubstr("cancelled early"));
    }
}

// A fiber that blocks its worker's thread (here on a std::future, as a vendor
// call or a std::mutex would) until the test lets it go.
class BlockedWorker : public tw_test::runtime_fixture {
protected:
    void SetUp() override {
        options.slow_fiber_warning = 100ms;
        options.on_warning = [this](std::string_view m) {
            std::lock_guard lk(mtx_);
            if (m.find("'blocker'") != std::string_view::npos && !warned_) {
                warned_ = true;
                warning_.set_value(std::string(m));
            }
        };
    }
    tw::task<void> start_blocker() {
        auto t = rt().spawn(tw::spawn_options{.name = "blocker"}, [this] { release_.get_future().wait(); });
        return t;
    }
    std::promise<void> release_;
    std::promise<std::string> warning_;

private:
    std::mutex mtx_;
    bool warned_ = false;
};
TW_RUNTIME_TEST_SUITE(BlockedWorker);

TEST_P(BlockedWorker, TheWatchdogNamesTheFiberWhileItStillBlocks) {
    auto warning = warning_.get_future();
    auto t = start_blocker();
    // The fiber is released only after the warning: a watchdog that reported
    // at the fiber's next suspension would never report (deadlock guard).
    ASSERT_TRUE(tw_test::ready(warning, "the watchdog's warning"));
    auto text = warning.get();
    EXPECT_THAT(text, HasSubstr("blocked for"));
    EXPECT_THAT(text, HasSubstr("fiber 'blocker'"));
    EXPECT_THAT(text, HasSubstr("without suspending"));
    release_.set_value();
    ASSERT_TRUE(t.wait_for(k_guard));
    t.get();
}

TEST_P(BlockedWorker, CountersAndDumpReportTheBlockedWorkerByName) {
    auto warning = warning_.get_future();
    auto t = start_blocker();
    ASSERT_TRUE(tw_test::ready(warning, "the watchdog's warning"));

    auto c = rt().counters();
    ASSERT_EQ(c.blocked.size(), 1u);
    EXPECT_THAT(c.blocked[0], HasSubstr("blocked for"));
    EXPECT_THAT(c.blocked[0], HasSubstr("fiber 'blocker'"));

    auto fibers = rt().dump();
    auto it = std::find_if(fibers.begin(), fibers.end(), [](auto& f) { return f.name == "blocker"; });
    ASSERT_NE(it, fibers.end()) << rt().dump_text();
    EXPECT_EQ(it->state, "blocked");
    EXPECT_THAT(rt().dump_text(), HasSubstr("'blocker' blocked"));

    // The probes counters() and dump() posted run now, on a worker that comes
    // back long after they gave up: they must write into live memory (the
    // old code wrote into counters()'s dead frame; memcheck and ASan see it).
    release_.set_value();
    ASSERT_TRUE(t.wait_for(k_guard));
    t.get();
    // The task is done a moment before its fiber switches away for good:
    // until then the worker may still count as blocked. Once it has switched
    // it must not, whatever the watchdog last marked.
    bool cleared = false;
    for (auto until = tw::clock::now() + k_guard; !cleared && tw::clock::now() < until;)
        cleared = rt().counters().blocked.empty();
    EXPECT_TRUE(cleared) << rt().dump_text();
}

TEST(PlainThreadDeadline, RunAndSpawnFromAPlainThreadInheritTheScopesDeadline) {
    tw_test::watchdog guard("tw::run under a plain thread's deadline");
    EXPECT_EQ(tw::current_deadline(), tw::clock::time_point::max());
    {
        tw::deadline_scope d(1h);
        EXPECT_EQ(tw::current_deadline(), d.deadline());
        auto t = tw::spawn([] { return tw::current_deadline(); });
        EXPECT_EQ(t.get(), d.deadline());
        {
            tw::deadline_scope later(2h);  // scopes nest: the earlier wins
            EXPECT_EQ(tw::current_deadline(), d.deadline());
        }
        tw::deadline_scope soon(50ms);
        EXPECT_THROW(tw::run([] { tw::sleep_for(1h); }), tw::timeout_error);
        EXPECT_THROW(tw::sleep_for(1h), tw::timeout_error);
    }
    EXPECT_EQ(tw::current_deadline(), tw::clock::time_point::max());
    EXPECT_EQ(tw::run([] { return tw::current_deadline(); }), tw::clock::time_point::max());
}

TEST(DefaultRuntime, ConfiguringItAfterFirstUseThrowsUsageError) {
    tw::run([] {});  // the default runtime exists from here on
    try {
        tw::configure_default_runtime({.threads = 2});
        ADD_FAILURE() << "no usage_error";
    } catch (const tw::usage_error& e) {
        EXPECT_THAT(e.what(), HasSubstr("first thing in main"));
    }
}

TEST(DefaultRuntime, TheWatchdogIsOnByDefault) {
    EXPECT_GT(tw::runtime_options{}.slow_fiber_warning.count(), 0);
    EXPECT_LE(tw::runtime_options{}.slow_fiber_warning, 5s);
}

TEST(GuestMisuse, AHostLoopRunByManyThreadsFailsWithUsageError) {
    boost::asio::io_context host;
    std::optional<tw::runtime> guest(std::in_place, host);  // installed on this thread
    std::atomic<int> delivered{0};
    for (int i = 0; i < 50; ++i)
        tw::async_run(*guest, [i] { return i; }, [&](std::exception_ptr, int) { ++delivered; });

    // Four other threads run the host's loop; none of them is the guest's.
    std::promise<std::string> failure;
    auto failed = failure.get_future();
    std::once_flag once;
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] {
            try {
                host.run();
            } catch (const tw::usage_error& e) {
                std::call_once(once, [&] { failure.set_value(e.what()); });
            }
        });
    const bool reported = tw_test::ready(failed, "usage_error from the host's threads");
    host.stop();
    for (auto& t : threads) t.join();
    ASSERT_TRUE(reported);
    EXPECT_THAT(failed.get(), HasSubstr("exactly one thread"));

    // Nothing was lost: run by its own thread, the loop delivers every result.
    tw_test::watchdog guard("the guest's own thread running the host");
    host.restart();
    while (delivered < 50) host.run_one();
    EXPECT_TRUE(guest->shutdown());
}

}  // namespace
