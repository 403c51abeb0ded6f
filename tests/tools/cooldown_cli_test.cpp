// tw cooldown end to end with --sim: a cooldown that succeeds (steps, table,
// exit 0), a compressor alarm in the JSON report (exit 1), a deadline that
// names what it waited for, unreachable instruments, and SIGINT.
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "cli_test_util.hpp"

namespace json = boost::json;
using tw_test::matches;
using tw_test::run_tw;

TEST(CooldownCli, SimulatedCooldownReachesTheSetpoint) {
    auto r = run_tw("cooldown --sim --setpoint 8 --hold 300ms --poll 50ms --tolerance 0.1");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_TRUE(matches(r.output, R"(cooldown: \[\s*\d+\.\d s\] compressor idle: start)")) << r.output;
    EXPECT_TRUE(matches(r.output, R"(cooldown: \[\s*\d+\.\d s\] compressor running)")) << r.output;
    EXPECT_TRUE(matches(r.output, R"(SETP 1,8\n)")) << r.output;
    EXPECT_TRUE(matches(r.output, R"(status\s+ok\n)")) << r.output;
    EXPECT_TRUE(matches(r.output, R"(final temperature\s+[78]\.\d{4} K)")) << r.output;
    EXPECT_TRUE(matches(r.output, R"(time to running\s+\d+\.\d\d s)")) << r.output;
    EXPECT_TRUE(matches(r.output, R"(alarms\s+none)")) << r.output;
}

TEST(CooldownCli, CompressorAlarmIsInTheJsonReportAndExitsOne) {
    auto r = run_tw("cooldown --sim --fault modbus/alarm:overheat --json", tw_test::k_stdout_only);
    ASSERT_EQ(r.status, 1) << r.output;
    auto j = json::parse(r.output).as_object();
    EXPECT_EQ(j.at("schema").as_int64(), 1);
    EXPECT_EQ(j.at("status").as_string(), "fault");
    EXPECT_NE(std::string(j.at("error").as_string().c_str()).find("while starting"), std::string::npos);
    ASSERT_EQ(j.at("alarms").as_array().size(), 1u);
    EXPECT_EQ(j.at("alarms").as_array()[0].as_string(), "overheat");
    ASSERT_EQ(j.at("warnings").as_array().size(), 1u);
    bool started = false;
    for (const auto& s : j.at("steps").as_array()) started |= s.at("what").as_string() == "compressor idle: start";
    EXPECT_TRUE(started);
}

TEST(CooldownCli, DeadlineNamesWhatItWaitedFor) {
    auto r = run_tw("cooldown --sim --hold 1h --deadline 3s");
    ASSERT_EQ(r.status, 1) << r.output;
    EXPECT_TRUE(matches(r.output, R"(tw: cooldown: deadline of 3s passed while waiting for sensor 1 within ±0\.05 K of 10 K for 3600s \(last: \d+\.\d{4} K, in band for)"))
        << r.output;
}

TEST(CooldownCli, UnreachableInstrumentsExitOne) {
    auto r = run_tw("cooldown --controller 127.0.0.1:1 --compressor 127.0.0.1:1 --setpoint 4 --deadline 10s");
    ASSERT_EQ(r.status, 1) << r.output;
    EXPECT_TRUE(matches(r.output, R"(tw: 127\.0\.0\.1:1: cannot connect)")) << r.output;
}

TEST(CooldownCli, InterruptCancelsCleanly) {
    auto r = run_tw("cooldown --sim --hold 1h", tw_test::k_interrupted_after_1_5s);
    ASSERT_EQ(r.status, 1) << r.output;
    EXPECT_TRUE(matches(r.output, "tw: cooldown: interrupted")) << r.output;
}
