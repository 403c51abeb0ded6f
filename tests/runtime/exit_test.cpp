// Ends of a process and of a runtime that a caller does not plan for:
// std::exit() on a fiber, the default runtime configured in a fresh process,
// and a shutdown that finds a worker blocked by a fiber ignoring
// cancellation. Death tests run in a child process (and leave threads behind
// there on purpose), so this binary is not run under valgrind (nomemcheck).
#include <tw/run.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// A child that hangs is killed by SIGALRM instead of hanging the test: the
// deadlock guard of a death test.
void child_guard() { ::alarm(static_cast<unsigned>(tw_test::k_guard.count())); }

void say_atexit() {
    std::fputs("atexit handler ran\n", stderr);
    std::fflush(stderr);
}

class Exit : public ::testing::Test {
protected:
    void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(Exit, StdExitOnAFiberOfTheDefaultRuntimeEndsTheProcessWithItsStatus) {
    EXPECT_EXIT(
        {
            child_guard();
            std::atexit(say_atexit);
            tw::run([] { std::exit(3); });
        },
        ::testing::ExitedWithCode(3), "atexit handler ran");
}

TEST_F(Exit, StdExitOnAFiberWhileOtherFibersWaitEndsTheProcess) {
    EXPECT_EXIT(
        {
            child_guard();
            std::atexit(say_atexit);
            static tw::runtime rt({.threads = 2});
            auto parked = rt.spawn([] { tw::sleep_for(1h); });
            rt.run([] {
                auto child = tw::spawn([] { tw::sleep_for(1h); });
                std::exit(4);
            });
        },
        ::testing::ExitedWithCode(4), "atexit handler ran");
}

TEST_F(Exit, TheDefaultRuntimeTakesItsConfigurationBeforeFirstUse) {
    EXPECT_EXIT(
        {
            child_guard();
            tw::configure_default_runtime({.threads = 3});
            std::exit(static_cast<int>(tw::run([] { return tw::current_runtime().workers(); })));
        },
        ::testing::ExitedWithCode(3), "");
}

TEST(ShutdownBlocked, ShutdownHonoursItsJoinDeadlineAndNamesTheBlockingFiber) {
    // Static: the abandoned thread may outlive this test's frame.
    static std::mutex mtx;
    static std::string warnings;
    // Leaked on purpose: the blocked worker's thread is abandoned by shutdown
    // and still uses the runtime's memory when it comes back.
    auto* rt = new tw::runtime({.join_deadline = 300ms, .on_warning = [](std::string_view m) {
                                    std::lock_guard lk(mtx);
                                    warnings.append(m).append("\n");
                                }});
    auto release = std::make_shared<std::promise<void>>();
    std::promise<void> started;
    auto started_fut = started.get_future();
    auto t = rt->spawn(tw::spawn_options{.name = "deaf"}, [&started, f = release->get_future().share()] {
        started.set_value();
        f.wait();  // ignores cancellation: blocks its thread
    });
    ASSERT_TRUE(tw_test::ready(started_fut));
    t.detach();

    const auto begun = tw::clock::now();
    EXPECT_FALSE(rt->shutdown("test"));
    const auto took = tw::clock::now() - begun;
    // Not a speed test: the old shutdown waited 5 s more for the blocked
    // worker to list its fibers on top of the 300 ms asked for.
    EXPECT_LT(took, 4s);
    {
        std::lock_guard lk(mtx);
        EXPECT_THAT(warnings, HasSubstr("blocked for"));
        EXPECT_THAT(warnings, HasSubstr("fiber 'deaf'"));
    }
    release->set_value();
}

}  // namespace
