// health_check against the in-process simulator's boards: serial, firmware,
// temperature and latency of healthy boards while an unreachable board (a
// closed port), a faulty one (garbage replies) and a stalled one end with
// their own status; temperature limits; an overall deadline; the same answers
// called synchronously, from a plain thread and inside a fan_out; cancellation.
#include <tw/algorithms/health.hpp>
#include <tw/sim/simulator.hpp>
#include <tw/tw.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../sim/sim_test_util.hpp"
#include "sim_fixture.hpp"

using namespace std::chrono_literals;
namespace alg = tw::algorithms;
using ::testing::HasSubstr;

namespace {

// Simulated boards on a runtime of their own; the algorithm runs on another.
struct fixture : tw_test::sim_fixture {
    explicit fixture(std::size_t boards, const std::vector<std::string>& faults = {})
        : sim_fixture(config(boards, faults)) {}

    static tw::sim::config config(std::size_t boards, const std::vector<std::string>& faults) {
        tw::sim::config c;
        c.boards = boards;
        c.channels = 4;
        c.scpi = 0;
        c.modbus = 0;
        c.seed = 7;
        for (const auto& f : faults) c.faults.push_back(tw::sim::parse_fault(f));
        return c;
    }
};

// Board 1 refuses connections (bound, not listening: a closed port), board 2
// answers with garbage, board 3 never answers; 0 and 4 are healthy.
fixture mixed() { return fixture(5, {"refuse@1", "garbage@2", "stall@3"}); }

alg::health_options short_timeout() {
    alg::health_options o;
    o.board.timeout = 1s;  // the stalled board's timeout; ample for the others
    return o;
}

void expect_healthy(const alg::board_health& h, const tw::sim::board_truth& truth) {
    EXPECT_EQ(h.status, alg::health_status::ok) << h.error;
    EXPECT_EQ(h.address, truth.address);
    EXPECT_TRUE(h.error.empty()) << h.error;
    EXPECT_TRUE(h.reachable);
    EXPECT_EQ(h.serial, truth.serial);
    EXPECT_EQ(h.firmware, "twsim-1.0");
    ASSERT_TRUE(h.temperature);
    EXPECT_GT(*h.temperature, 0.0);
    EXPECT_LT(*h.temperature, 150.0);
    ASSERT_TRUE(h.latency_s);
    EXPECT_GT(*h.latency_s, 0.0);
    EXPECT_LE(*h.latency_s, h.elapsed_s);
}

void expect_mixed(const std::vector<alg::board_health>& out, const fixture& fx) {
    ASSERT_EQ(out.size(), 5u);
    expect_healthy(out[0], fx.sim->boards()[0]);
    expect_healthy(out[4], fx.sim->boards()[4]);

    EXPECT_EQ(out[1].status, alg::health_status::unreachable) << out[1].error;
    EXPECT_THAT(out[1].error, HasSubstr(fx.sim->boards()[1].address));
    EXPECT_FALSE(out[1].reachable);
    EXPECT_FALSE(out[1].temperature);

    EXPECT_EQ(out[2].status, alg::health_status::failed) << out[2].error;
    EXPECT_FALSE(out[2].error.empty());
    EXPECT_TRUE(out[2].serial.empty());

    EXPECT_EQ(out[3].status, alg::health_status::timeout) << out[3].error;
    EXPECT_FALSE(out[3].error.empty());
    EXPECT_FALSE(out[3].latency_s);
}

}  // namespace

TEST(HealthCheck, HealthyBoardsOkWhileUnreachableFaultyAndStalledOnesEndWithTheirStatus) {
    auto fx = mixed();
    auto o = short_timeout();
    std::vector<std::size_t> told;
    tw::fan_out_progress last{};
    o.on_board = [&](std::size_t i, const alg::board_health&) { told.push_back(i); };
    o.progress = [&](const tw::fan_out_progress& p) { last = p; };
    auto out = fx.run([&] { return alg::health_check(fx.sim->tuber_addresses(), o); });
    expect_mixed(out, fx);
    std::sort(told.begin(), told.end());
    EXPECT_EQ(told, (std::vector<std::size_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(last.total, 5u);
    EXPECT_EQ(last.done, 5u);
    EXPECT_EQ(last.failed, 3u);
}

TEST(HealthCheck, SameAnswersFromAPlainThreadAndInsideAFanOut) {
    auto fx = mixed();
    const auto addrs = fx.sim->tuber_addresses();

    // A plain thread: no fiber, so it runs on the default runtime; the
    // overall deadline is the deadlock guard.
    auto o = short_timeout();
    o.deadline = 20s;
    expect_mixed(alg::health_check(addrs, o), fx);

    // Nested: a fan_out over two halves, each a health_check of its own.
    std::vector<std::vector<std::string>> halves{{addrs[0], addrs[1], addrs[2]}, {addrs[3], addrs[4]}};
    auto nested = fx.run([&] {
        return tw::fan_out(halves, [](const std::vector<std::string>& part) { return alg::health_check(part, short_timeout()); },
                           {.concurrency = 2});
    });
    ASSERT_TRUE(nested.all_ok()) << nested.summary();
    std::vector<alg::board_health> joined;
    for (const auto& part : nested.values()) joined.insert(joined.end(), part.begin(), part.end());
    expect_mixed(joined, fx);
}

TEST(HealthCheck, CheckBoardAloneReportsOneBoard) {
    auto fx = mixed();
    const auto addrs = fx.sim->tuber_addresses();
    fx.run([&] {
        expect_healthy(alg::check_board(addrs[0]), fx.sim->boards()[0]);
        EXPECT_EQ(alg::check_board(addrs[1]).status, alg::health_status::unreachable);
        EXPECT_EQ(alg::check_board(addrs[2]).status, alg::health_status::failed);
        return 0;
    });
}

TEST(HealthCheck, TemperatureLimitsFlagWarmBoards) {
    fixture fx(2);
    const auto addrs = fx.sim->tuber_addresses();
    fx.run([&] {
        alg::check_options o;
        o.limits.max = -50;  // every board is warmer than that
        auto hot = alg::check_board(addrs[0], o);
        EXPECT_EQ(hot.status, alg::health_status::warm);
        EXPECT_THAT(hot.error, HasSubstr("above the limit of -50.0 °C"));
        EXPECT_TRUE(hot.temperature);
        EXPECT_EQ(hot.serial, fx.sim->boards()[0].serial);

        o.limits = {.min = 500, .max = std::nullopt};  // and colder than that
        auto cold = alg::check_board(addrs[0], o);
        EXPECT_EQ(cold.status, alg::health_status::warm);
        EXPECT_THAT(cold.error, HasSubstr("below the limit of 500.0 °C"));

        o.limits = {.min = -50, .max = 500};
        auto fine = alg::check_board(addrs[1], o);
        EXPECT_EQ(fine.status, alg::health_status::ok) << fine.error;
        return 0;
    });
}

TEST(HealthCheck, OverallDeadlineTimesOutRunningAndUnstartedBoards) {
    fixture fx(3, {"stall"});
    alg::health_options o;
    o.board.timeout = 1h;  // only the overall deadline stops them
    o.concurrency = 1;
    o.deadline = 300ms;
    std::size_t told = 0;
    o.on_board = [&](std::size_t, const alg::board_health&) { ++told; };
    auto out = fx.run([&] { return alg::health_check(fx.sim->tuber_addresses(), o); });
    ASSERT_EQ(out.size(), 3u);
    for (const auto& h : out) {
        EXPECT_EQ(h.status, alg::health_status::timeout) << h.address << ": " << h.error;
        EXPECT_FALSE(h.error.empty());
    }
    EXPECT_THAT(out[2].error, HasSubstr("deadline passed before this item started"));
    EXPECT_EQ(told, 3u);
}

TEST(HealthCheck, CancellingTheCallerUnwindsEveryBoard) {
    fixture fx(3, {"stall@1-2"});
    alg::health_options o;
    o.board.timeout = 1h;  // only the cancellation ends the stalled boards
    o.concurrency = 0;     // all three at once: when board 0 is done, 1 and 2 are waiting on their boards
    fx.run([&] {
        tw::semaphore healthy_done(0, "board 0 checked");
        std::vector<std::pair<std::size_t, alg::health_status>> told;
        o.on_board = [&](std::size_t i, const alg::board_health& h) {
            told.emplace_back(i, h.status);
            if (i == 0) healthy_done.release();
        };
        auto t = tw::spawn([&] { return alg::health_check(fx.sim->tuber_addresses(), o); });
        healthy_done.acquire();
        t.cancel("operator pressed Ctrl-C");
        EXPECT_THROW(t.get(), tw::cancelled_error);
        ASSERT_EQ(told.size(), 3u);
        std::sort(told.begin(), told.end());
        EXPECT_EQ(told[0].second, alg::health_status::ok);
        EXPECT_EQ(told[1].second, alg::health_status::cancelled);
        EXPECT_EQ(told[2].second, alg::health_status::cancelled);
    });
    // The fixture's destructor checks that no fiber was left behind.
}

TEST(HealthCheck, StatusNames) {
    EXPECT_STREQ(alg::to_string(alg::health_status::ok), "ok");
    EXPECT_STREQ(alg::to_string(alg::health_status::warm), "warm");
    EXPECT_STREQ(alg::to_string(alg::health_status::unreachable), "unreachable");
    EXPECT_STREQ(alg::to_string(alg::health_status::failed), "failed");
    EXPECT_STREQ(alg::to_string(alg::health_status::timeout), "timeout");
    EXPECT_STREQ(alg::to_string(alg::health_status::cancelled), "cancelled");
}

// Issue "Hostile peers and faults" #10: `--concurrency 0` under RLIMIT_NOFILE
// 256 failed 256 of 1,000 boards with "Too many open files" instead of letting
// them wait their turn. A child process (the limit is per process; the
// simulator here needs far more) checks 300 boards under a limit of 128. Each
// board answers after 300 ms, so a board whose connect fails cannot get a
// descriptor back by retrying: they are all still held.
TEST(HealthCheck, AllBoardsAtOnceUnderALowDescriptorLimitWaitTheirTurn) {
    auto c = fixture::config(300, {});
    c.channels = 1;
    c.latency = 300ms;
    tw_test::sim_fixture fx(c);
    std::vector<std::string> argv{TW_FD_LIMIT_CHILD, "128"};
    for (const auto& a : fx.sim->tuber_addresses()) argv.push_back(a);
    ASSERT_EQ(argv.size(), 302u) << "the simulator could not serve 300 boards here";
    tw_sim_test::child child(argv);
    std::string output;
    while (auto line = child.read_line()) output += *line + "\n";  // until EOF; each read is guarded (k_guard)
    const auto head = output.substr(0, 1000);  // a few boards' errors and, if short, the summary
    EXPECT_EQ(child.wait(), 0) << head << child.stderr_text();
    EXPECT_NE(output.find("ok 300 of 300"), std::string::npos) << head;
}
