// tw tune end to end: the report (schema 1) of a simulated run, a run that
// hits its deadline, unreachable boards from a board-list file, and a run
// interrupted by SIGINT (report still written, unfinished boards cancelled).
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "cli_test_util.hpp"

namespace json = boost::json;
using tw_test::read_json;
using tw_test::run_tw;
using tw_test::temp_path;

TEST(TuneCli, SimulatedRunSucceedsAndWritesTheReport) {
    const auto report = temp_path("tune", "ok.json");
    auto r = run_tw("tune --sim 3 --channels 16 --seed 5 --report " + report);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(boards\s+3\n\s+ok\s+3\n\s+failed\s+0\n\s+timed out\s+0)"))) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(resonators found\s+48)"))) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(channels tuned\s+48)"))) << r.output;
    auto j = read_json(report);
    EXPECT_EQ(j.at("schema").as_int64(), 1);
    EXPECT_EQ(j.at("tool").as_string(), "tw " TW_VERSION_TEXT);
    EXPECT_NE(std::string(j.at("command").as_string().c_str()).find("tune --sim 3 --channels 16 --seed 5"), std::string::npos);
    EXPECT_EQ(j.at("seed").to_number<int>(), 5);
    EXPECT_TRUE(std::regex_match(std::string(j.at("started").as_string().c_str()),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
    EXPECT_GT(j.at("elapsed_s").to_number<double>(), 0);
    const auto& boards = j.at("boards").as_array();
    ASSERT_EQ(boards.size(), 3u);
    for (const auto& bv : boards) {
        const auto& b = bv.as_object();
        EXPECT_EQ(b.at("status").as_string(), "ok");
        EXPECT_EQ(b.at("error").as_string(), "");
        EXPECT_FALSE(b.at("serial").as_string().empty());
        EXPECT_NE(b.at("address").as_string().find("127.0.0.1:"), json::string::npos);
        EXPECT_EQ(b.at("resonators_found").to_number<int>(), 16);
        const auto& chans = b.at("channels").as_array();
        ASSERT_EQ(chans.size(), 16u);
        double prev = 0;
        for (const auto& cv : chans) {
            const auto& c = cv.as_object();
            EXPECT_EQ(c.at("amplitude").to_number<double>(), 0.5);
            const double f = c.at("frequency").to_number<double>();
            EXPECT_GT(f, prev);  // channel i on the i-th lowest resonance
            prev = f;
        }
    }
    const auto& s = j.at("summary").as_object();
    EXPECT_EQ(s.at("ok").to_number<int>(), 3);
    EXPECT_EQ(s.at("failed").to_number<int>(), 0);
    EXPECT_EQ(s.at("channels_tuned").to_number<int>(), 48);
    std::remove(report.c_str());
}

TEST(TuneCli, DeadlineMarksBoardsTimedOutAndExitsOne) {
    const auto report = temp_path("tune", "deadline.json");
    auto r = run_tw("tune --sim 2 --channels 16 --deadline 1ms --report " + report);
    ASSERT_EQ(r.status, 1) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(timed out\s+2)"))) << r.output;
    auto j = read_json(report);
    for (const auto& b : j.at("boards").as_array()) {
        EXPECT_EQ(b.at("status").as_string(), "timeout");
        EXPECT_FALSE(b.at("error").as_string().empty());
    }
    EXPECT_EQ(j.at("summary").at("timeout").to_number<int>(), 2);
    std::remove(report.c_str());
}

TEST(TuneCli, UnreachableBoardsFromANamedListFailWithTheirErrors) {
    const auto list = temp_path("tune", "boards.txt");
    const auto report = temp_path("tune", "unreachable.json");
    {
        std::ofstream f(list);
        f << "# test boards\nalpha 127.0.0.1:1\n\n127.0.0.1:2+2  # a range\n";
    }
    auto r = run_tw("tune --boards " + list + " --timeout 2s --report " + report);
    ASSERT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("127.0.0.1:1 (alpha) failed"), std::string::npos) << r.output;
    auto j = read_json(report);
    EXPECT_TRUE(j.at("seed").is_null());
    const auto& boards = j.at("boards").as_array();
    ASSERT_EQ(boards.size(), 3u);
    EXPECT_EQ(boards[0].at("name").as_string(), "alpha");
    EXPECT_EQ(boards[2].at("address").as_string(), "127.0.0.1:3");
    for (const auto& b : boards) {
        EXPECT_EQ(b.at("status").as_string(), "failed");
        EXPECT_FALSE(b.at("error").as_string().empty());
    }
    std::remove(list.c_str());
    std::remove(report.c_str());
}

TEST(TuneCli, InterruptedRunStillWritesTheReport) {
    const auto report = temp_path("tune", "interrupted.json");
    // 64 boards of 256 channels take far longer than the 1.5 s before SIGINT.
    auto r = run_tw("tune --sim 64 --channels 256 --report " + report, tw_test::k_interrupted_after_1_5s);
    ASSERT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("interrupted"), std::string::npos) << r.output;
    auto j = read_json(report);
    EXPECT_TRUE(j.at("summary").at("interrupted").as_bool());
    EXPECT_GT(j.at("summary").at("cancelled").to_number<int>(), 0);
    for (const auto& b : j.at("boards").as_array()) {
        const auto& st = b.at("status").as_string();
        EXPECT_TRUE(st == "ok" || st == "cancelled") << st;
    }
    std::remove(report.c_str());
}

TEST(TuneCli, StdoutCarriesResultsOnlyProgressGoesToStderr) {
    // `tw tune --sim 4 > out.txt`: the summary in the file, no progress line.
    auto r = run_tw("tune --sim 4 --channels 8", {.merge_stderr = false, .separate_stderr = true, .wrapper = tw_test::k_deadlock_guard});
    ASSERT_EQ(r.status, 0) << r.output << r.error;
    EXPECT_EQ(r.output.find("in flight"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("tune: 4 boards"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("channels tuned"), std::string::npos) << r.output;  // the summary table
    EXPECT_NE(r.error.find("tune: 4/4 done, 0 failed, 0 in flight, 32 channels tuned"), std::string::npos) << r.error;

    // --quiet: nothing on stderr for a run where every board ends ok.
    r = run_tw("tune --sim 2 --channels 8 --quiet", {.merge_stderr = false, .separate_stderr = true, .wrapper = tw_test::k_deadlock_guard});
    ASSERT_EQ(r.status, 0) << r.output << r.error;
    EXPECT_EQ(r.error, "");

    // --report -: stdout is the report alone (it parses), the summary moves to stderr.
    r = run_tw("tune --sim 2 --channels 8 --quiet --report -", {.merge_stderr = false, .separate_stderr = true, .wrapper = tw_test::k_deadlock_guard});
    ASSERT_EQ(r.status, 0) << r.output << r.error;
    const auto report = boost::json::parse(r.output).as_object();
    EXPECT_EQ(report.at("summary").at("ok").to_number<std::int64_t>(), 2);
    EXPECT_NE(r.error.find("channels tuned"), std::string::npos) << r.error;

    // Two outputs on stdout: a usage error before any work.
    r = run_tw("tune --sim 2 --report - --plot -", tw_test::k_usage_checked);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.error.find("only one output can be stdout"), std::string::npos) << r.error;
    EXPECT_EQ(r.output, "");
}

TEST(TuneCli, AMistypedVerbIsGuessedAndAVerbsErrorPointsAtItsHelp) {
    auto r = run_tw("tnue --sim 2", tw_test::k_usage_checked);
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(r.error, "tw: 'tnue' is not a command; did you mean 'tune'? (see tw --help)\n");
    r = run_tw("tune --sim 2 --bogus", tw_test::k_usage_checked);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.error.find("(see tw tune --help)"), std::string::npos) << r.error;
}
