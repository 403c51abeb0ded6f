// tw health end to end: simulated boards all ok (table and exit 0), an
// unreachable and a faulty board (exit 1, their rows say why), the JSON
// report with temperature limits, and a run interrupted by SIGINT (the table
// is still printed, unfinished boards cancelled).
#include <cstdio>
#include <filesystem>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "cli_test_util.hpp"

namespace json = boost::json;
using tw_test::matches;
using tw_test::run_tw;

TEST(HealthCli, SimulatedBoardsAreAllOk) {
    auto r = run_tw("health --sim 3");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_TRUE(matches(r.output, R"(ADDRESS\s+NAME\s+STATUS\s+SERIAL\s+FIRMWARE\s+TEMP_C\s+LATENCY_MS\s+ERROR)")) << r.output;
    for (int i = 0; i < 3; ++i)
        EXPECT_TRUE(matches(r.output, "127\\.0\\.0\\.1:\\d+\\s+sim-" + std::to_string(i) + R"(\s+ok\s+\S+\s+twsim-1\.0\s+-?\d+\.\d\s+\d+\.\d\d)"))
            << r.output;
    EXPECT_TRUE(matches(r.output, R"(health: 3 boards: 3 ok \()")) << r.output;
}

TEST(HealthCli, GlobalFlagsWorkAfterTheVerbToo) {
    const auto log = tw_test::temp_path("health", "after.log");
    std::remove(log.c_str());
    auto r = run_tw("health --sim 1 --log-level debug --log-file " + log, tw_test::k_hang_guarded);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_TRUE(std::filesystem::exists(log)) << "--log-file after the verb was not used";
    std::remove(log.c_str());
    r = run_tw("health --sim 1 --log-level loud", tw_test::k_usage_checked);
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(matches(r.error, "--log-level")) << r.error;
}

TEST(HealthCli, MoreSimulatedBoardsThanDescriptorsAllowIsAUsageErrorBeforeAnyWork) {
    // With 256 descriptors (soft and hard), 1,000 boards cannot all be served;
    // checking the part that could be and exiting 0 would hide it.
    auto r = run_tw("health --sim 1000",
                    {.merge_stderr = false, .separate_stderr = true, .wrapper = "ulimit -n 256 && " + tw_test::k_deadlock_guard});
    EXPECT_EQ(r.status, 2) << r.output << r.error;
    EXPECT_TRUE(matches(r.error, R"(--sim: only \d+ of the 1000 simulated boards can be started \(.*file-descriptor limit.*\); ask for at most \d+)"))
        << r.error;
    EXPECT_EQ(r.output, "");
}

TEST(HealthCli, UnreachableAndFaultyBoardsExitOneWithTheirRows) {
    auto r = run_tw("health --sim 4 --fault refuse@1 --fault garbage@2 --timeout 2s");
    ASSERT_EQ(r.status, 1) << r.output;
    EXPECT_TRUE(matches(r.output, R"(sim-0\s+ok\s)")) << r.output;
    EXPECT_TRUE(matches(r.output, R"(sim-1\s+unreachable\s+-\s+-\s+-\s+-\s+.*cannot connect)")) << r.output;
    EXPECT_TRUE(matches(r.output, R"(sim-2\s+failed\s)")) << r.output;
    EXPECT_TRUE(matches(r.output, R"(sim-3\s+ok\s)")) << r.output;
    EXPECT_TRUE(matches(r.output, R"(health: 4 boards: 2 ok, 1 unreachable, 1 failed)")) << r.output;
    EXPECT_TRUE(matches(r.output, R"(tw: health: 2 of 4 boards not ok)")) << r.output;
}

TEST(HealthCli, JsonReportFlagsWarmBoards) {
    auto r = run_tw("health --sim 2 --json --max-temp -50", tw_test::k_stdout_only);
    ASSERT_EQ(r.status, 1) << r.output;
    auto j = json::parse(r.output).as_object();
    EXPECT_EQ(j.at("schema").as_int64(), 1);
    EXPECT_EQ(j.at("tool").as_string(), "tw " TW_VERSION_TEXT);
    const auto& boards = j.at("boards").as_array();
    ASSERT_EQ(boards.size(), 2u);
    for (const auto& b : boards) {
        EXPECT_EQ(b.at("status").as_string(), "warm");
        EXPECT_TRUE(b.at("reachable").as_bool());
        EXPECT_GT(b.at("temperature_c").to_number<double>(), -50.0);
        EXPECT_GT(b.at("latency_ms").to_number<double>(), 0.0);
        EXPECT_NE(std::string(b.at("error").as_string().c_str()).find("above the limit"), std::string::npos);
        EXPECT_FALSE(b.at("serial").as_string().empty());
    }
    EXPECT_EQ(j.at("summary").at("warm").to_number<int>(), 2);
    EXPECT_EQ(j.at("summary").at("ok").to_number<int>(), 0);
    EXPECT_FALSE(j.at("summary").at("interrupted").as_bool());
}

TEST(HealthCli, InterruptedRunStillPrintsTheTable) {
    // Stalled boards and a 1 h timeout: only the SIGINT after 1.5 s ends it.
    auto r = run_tw("health --sim 2 --fault stall --timeout 1h", tw_test::k_interrupted_after_1_5s);
    ASSERT_EQ(r.status, 1) << r.output;
    EXPECT_TRUE(matches(r.output, R"(sim-0\s+cancelled\s)")) << r.output;
    EXPECT_TRUE(matches(r.output, R"(health: 2 boards: 0 ok, 2 cancelled)")) << r.output;
    EXPECT_TRUE(matches(r.output, "tw: health: interrupted")) << r.output;
}
