// tw tune end to end: the report (schema 1) of a simulated run, a run that
// hits its deadline, unreachable boards from a board-list file, and a run
// interrupted by SIGINT (report still written, unfinished boards cancelled).
#include <array>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace json = boost::json;

namespace {

struct command_result {
    int status = -1;
    std::string output;
};

command_result run(const std::string& args) {
    command_result r;
    FILE* p = ::popen((std::string(TW_BINARY) + " " + args + " 2>&1").c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
    const int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

std::string temp_path(const std::string& name) {
    return ::testing::TempDir() + "tw_tune_" + std::to_string(::getpid()) + "_" + name;
}

json::object read_report(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return json::parse(ss.str()).as_object();
}

}  // namespace

TEST(TuneCli, SimulatedRunSucceedsAndWritesTheReport) {
    const auto report = temp_path("ok.json");
    auto r = run("tune --sim 3 --channels 16 --seed 5 --report " + report);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(boards\s+3\n\s+ok\s+3\n\s+failed\s+0\n\s+timed out\s+0)"))) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(resonators found\s+48)"))) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(channels tuned\s+48)"))) << r.output;
    auto j = read_report(report);
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
    const auto report = temp_path("deadline.json");
    auto r = run("tune --sim 2 --channels 16 --deadline 1ms --report " + report);
    ASSERT_EQ(r.status, 1) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(timed out\s+2)"))) << r.output;
    auto j = read_report(report);
    for (const auto& b : j.at("boards").as_array()) {
        EXPECT_EQ(b.at("status").as_string(), "timeout");
        EXPECT_FALSE(b.at("error").as_string().empty());
    }
    EXPECT_EQ(j.at("summary").at("timeout").to_number<int>(), 2);
    std::remove(report.c_str());
}

TEST(TuneCli, UnreachableBoardsFromANamedListFailWithTheirErrors) {
    const auto list = temp_path("boards.txt");
    const auto report = temp_path("unreachable.json");
    {
        std::ofstream f(list);
        f << "# test boards\nalpha 127.0.0.1:1\n\n127.0.0.1:2+2  # a range\n";
    }
    auto r = run("tune --boards " + list + " --timeout 2s --report " + report);
    ASSERT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("127.0.0.1:1 (alpha) failed"), std::string::npos) << r.output;
    auto j = read_report(report);
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
    const auto report = temp_path("interrupted.json");
    // 64 boards of 256 channels take far longer than the 1.5 s before SIGINT.
    command_result r;
    {
        const std::string cmd = "timeout --preserve-status -s INT 1.5 " + std::string(TW_BINARY) +
                                " tune --sim 64 --channels 256 --report " + report + " 2>&1";
        FILE* p = ::popen(cmd.c_str(), "r");
        ASSERT_NE(p, nullptr);
        std::array<char, 4096> buf;
        std::size_t n;
        while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
        const int st = ::pclose(p);
        r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    ASSERT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("interrupted"), std::string::npos) << r.output;
    auto j = read_report(report);
    EXPECT_TRUE(j.at("summary").at("interrupted").as_bool());
    EXPECT_GT(j.at("summary").at("cancelled").to_number<int>(), 0);
    for (const auto& b : j.at("boards").as_array()) {
        const auto& st = b.at("status").as_string();
        EXPECT_TRUE(st == "ok" || st == "cancelled") << st;
    }
    std::remove(report.c_str());
}
