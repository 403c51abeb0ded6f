// No polling: a runtime with 10,000 parked fibers sleeps in the kernel. The
// one test where a sleep is the measurement itself: CPU used by the whole
// process over a one-second idle window. Not under valgrind (label
// nomemcheck): valgrind's own overhead would be measured.
#include <tw/runtime.hpp>

#include <sys/resource.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tw_test::k_guard;

std::chrono::microseconds cpu_used() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto us = [](const timeval& tv) { return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec); };
    return us(ru.ru_utime) + us(ru.ru_stime);
}

class Idle : public tw_test::runtime_fixture {};
TW_RUNTIME_TEST_SUITE(Idle);

TEST_P(Idle, TenThousandParkedFibersBurnNoCpuAndCauseNoWakeUps) {
    auto& r = rt();
    constexpr int n = 10'000;
    std::atomic<int> parked{0}, cancelled{0};
    std::promise<void> all_parked;
    auto all_parked_fut = all_parked.get_future();
    auto parker = r.spawn(tw::spawn_options{.name = "parker"}, [&] {
        std::vector<tw::task<void>> tasks;
        tasks.reserve(n);
        for (int i = 0; i < n; ++i) {
            tasks.push_back(tw::spawn([&] {
                ++parked;
                try {
                    tw::sleep_for(1h);  // a timer far in the future
                } catch (const tw::cancelled_error&) {
                    ++cancelled;
                    throw;
                }
            }));
        }
        while (parked < n) tw::this_fiber::yield();
        all_parked.set_value();
        for (auto& t : tasks) t.wait();  // cancelling the parker cancels its children
    });
    ASSERT_TRUE(tw_test::ready(all_parked_fut, "10,000 fibers parked"));
    // counters() runs a probe on each worker's loop, which happens only once
    // the parker (set_value, then straight to t.wait()) has parked; the
    // second call's count is therefore the settled one.
    (void)r.counters();
    const auto switches = r.counters().switches;

    const auto cpu_before = cpu_used();
    std::this_thread::sleep_for(1s);  // the measurement window, not a wait
    const auto cpu = cpu_used() - cpu_before;

    EXPECT_LT(cpu, 50ms) << "CPU used while idle: " << cpu.count() << " us";
    EXPECT_EQ(r.counters().switches, switches) << "fibers were resumed while nothing was due";

    parker.cancel("test over");
    ASSERT_TRUE(parker.wait_for(k_guard));
    EXPECT_THROW(parker.get(), tw::cancelled_error);
    EXPECT_EQ(cancelled, n);
}

}  // namespace
