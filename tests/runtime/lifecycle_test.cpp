// tw::runtime's life: created and destroyed many times in one process; an
// ordered shutdown cancels parked fibers with its reason, joins them and
// returns true; no new work starts after it.
#include <tw/runtime.hpp>

#include <atomic>
#include <future>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using boost::asio::ip::tcp;
using tw_test::k_guard;

// Plain TEST_P without runtime_fixture: each test owns its runtimes.
class Lifecycle : public ::testing::TestWithParam<std::size_t> {
protected:
    tw::runtime_options opts() const { return {.threads = GetParam()}; }
};
INSTANTIATE_TEST_SUITE_P(Workers, Lifecycle, ::testing::Values(std::size_t{1}, std::size_t{2}), tw_test::thread_count_name);

TEST_P(Lifecycle, CreatedAndDestroyed100Times) {
    tw_test::watchdog guard("100 runtimes");
    for (int i = 0; i < 100; ++i) {
        tw::runtime rt(opts());
        int v = rt.run([i] {
            auto ex = tw::this_fiber::executor();
            boost::asio::post(ex, tw::yield);  // an I/O-loop round trip
            tcp::acceptor acc(ex, tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
            tcp::socket server(ex), client(ex);
            auto accepting = tw::spawn([&] { acc.async_accept(server, tw::yield); });
            client.async_connect(acc.local_endpoint(), tw::yield);
            accepting.get();
            return i;
        });
        ASSERT_EQ(v, i);
        EXPECT_EQ(rt.counters().live_fibers, 0u);
        ASSERT_TRUE(rt.shutdown());
    }
}

TEST_P(Lifecycle, ShutdownCancelsParkedFibersWithItsReasonAndJoinsThem) {
    tw::runtime rt(opts());
    constexpr int n = 10;
    std::atomic<int> parked{0}, cancelled{0};
    std::promise<void> all_parked;
    auto all_parked_fut = all_parked.get_future();
    std::mutex mtx;
    std::vector<std::string> reasons;
    std::vector<tw::task<void>> tasks;
    for (int i = 0; i < n; ++i) {
        tasks.push_back(rt.spawn([&] {
            try {
                if (++parked == n) all_parked.set_value();
                tw::sleep_for(1h);
            } catch (const tw::cancelled_error& e) {
                ++cancelled;
                std::lock_guard lk(mtx);
                reasons.push_back(e.what());
                throw;
            }
        }));
    }
    ASSERT_TRUE(tw_test::ready(all_parked_fut));
    {
        tw_test::watchdog guard("shutdown");
        EXPECT_TRUE(rt.shutdown("maintenance window"));
    }
    EXPECT_EQ(cancelled, n);
    EXPECT_EQ(reasons, std::vector<std::string>(n, "maintenance window"));
    for (auto& t : tasks) {
        EXPECT_TRUE(t.done());
        EXPECT_THROW(t.get(), tw::cancelled_error);
    }
    EXPECT_EQ(rt.counters().live_fibers, 0u);
}

TEST_P(Lifecycle, DestructorShutsDownWithDetachedParkedFibers) {
    std::atomic<int> cancelled{0};
    {
        tw_test::watchdog guard("~runtime");
        tw::runtime rt(opts());
        std::promise<void> parked;
        auto parked_fut = parked.get_future();
        rt.spawn([&] {
            try {
                parked.set_value();
                tw::sleep_for(1h);
            } catch (const tw::cancelled_error&) {
                ++cancelled;
                throw;
            }
        }).detach();
        ASSERT_TRUE(tw_test::ready(parked_fut));
    }
    EXPECT_EQ(cancelled, 1);
}

TEST_P(Lifecycle, ShutdownIsIdempotentAndRefusesNewWork) {
    tw::runtime rt(opts());
    EXPECT_TRUE(rt.shutdown());
    EXPECT_TRUE(rt.shutdown());
    auto t = rt.spawn([] { return 1; });
    ASSERT_TRUE(t.wait_for(k_guard));
    EXPECT_THROW(t.get(), tw::cancelled_error);
    EXPECT_THROW(rt.executor(0), tw::usage_error);
}

TEST_P(Lifecycle, ShutdownEndsAFiberWaitingForItsChild) {
    // Both parked, one on a timer and one on the other's task: the shutdown
    // must end both.
    tw::runtime rt(opts());
    std::promise<void> parked;
    auto parked_fut = parked.get_future();
    auto outer = rt.spawn([&] {
        auto inner = tw::spawn([] { tw::sleep_for(1h); });
        parked.set_value();
        inner.get();
    });
    ASSERT_TRUE(tw_test::ready(parked_fut));
    tw_test::watchdog guard("shutdown");
    EXPECT_TRUE(rt.shutdown());
    EXPECT_THROW(outer.get(), tw::cancelled_error);
}

}  // namespace
