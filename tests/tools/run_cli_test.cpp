// tw run end to end: built-in algorithms by name on simulated boards, the
// example plugin (examples/plugin) loaded with --plugin and composed with
// tw's own tune_board, one failing board among good ones, and usage errors.
#include <array>
#include <cstdio>
#include <optional>
#include <string>

#include <sys/wait.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <tw/runtime.hpp>
#include <tw/sim/simulator.hpp>

namespace json = boost::json;

namespace {

struct command_result {
    int status = -1;
    std::string out;  // stdout
};

// Runs tw with `args`; stderr goes to the test's log.
command_result tw_run(const std::string& args) {
    command_result r;
    FILE* p = ::popen((std::string(TW_BINARY) + " " + args).c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
    const int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

const std::string k_plugin = std::string("--plugin ") + TW_PLUGIN_PATH;

json::array results_of(const command_result& r) {
    return json::parse(r.out).as_object().at("results").as_array();
}

}  // namespace

TEST(RunCli, ListShowsBuiltinAndPluginAlgorithmsWithTheirParameters) {
    auto r = tw_run("run --list " + k_plugin);
    ASSERT_EQ(r.status, 0) << r.out;
    for (const char* name : {"network_analysis", "find_resonances", "tune_channel", "tune_board", "tune_array",
                             "health_check", "cooldown", "temperature_stats", "retune_drift"})
        EXPECT_NE(r.out.find(std::string(name) + " — "), std::string::npos) << name << "\n" << r.out;
    EXPECT_NE(r.out.find("readings=integer"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("default 10"), std::string::npos) << r.out;
}

TEST(RunCli, BuiltinTuneBoardRunsOnEverySimulatedBoard) {
    auto r = tw_run("run tune_board amplitude=0.5 --sim 2 --channels 8 --seed 3 --json");
    ASSERT_EQ(r.status, 0) << r.out;
    auto doc = json::parse(r.out).as_object();
    EXPECT_EQ(doc.at("algorithm").as_string(), "tune_board");
    EXPECT_EQ(doc.at("arguments").at("amplitude").to_number<double>(), 0.5);
    EXPECT_EQ(doc.at("arguments").at("channel_concurrency").to_number<int>(), 8);  // the default
    const auto results = doc.at("results").as_array();
    ASSERT_EQ(results.size(), 2u);
    for (const auto& v : results) {
        const auto& o = v.as_object();
        ASSERT_TRUE(o.at("ok").as_bool()) << json::serialize(o);
        EXPECT_EQ(o.at("result").at("resonators_found").to_number<int>(), 8);
        EXPECT_EQ(o.at("result").at("channels_tuned").to_number<int>(), 8);
    }
}

TEST(RunCli, PluginAlgorithmRunsOnEveryBoardWithTypedArguments) {
    // Positional `4` is the first parameter (readings); interval by name.
    auto r = tw_run("run " + k_plugin + " temperature_stats 4 interval=1ms --sim 3 --json");
    ASSERT_EQ(r.status, 0) << r.out;
    const auto results = results_of(r);
    ASSERT_EQ(results.size(), 3u);
    for (const auto& v : results) {
        const auto& o = v.as_object();
        ASSERT_TRUE(o.at("ok").as_bool()) << json::serialize(o);
        const auto& s = o.at("result").as_object();
        EXPECT_EQ(s.at("readings").to_number<int>(), 4);
        const double lo = s.at("min").to_number<double>(), mean = s.at("mean").to_number<double>(),
                     hi = s.at("max").to_number<double>();
        EXPECT_LE(lo, mean);
        EXPECT_LE(mean, hi);
        EXPECT_GT(lo, -50);  // a board's temperature in °C, not garbage
        EXPECT_LT(hi, 150);
    }
}

TEST(RunCli, PluginComposesWithTwsOwnTuneBoard) {
    auto r = tw_run("run " + k_plugin + " retune_drift --sim 1 --channels 8 --json");
    ASSERT_EQ(r.status, 0) << r.out;
    const auto results = results_of(r);
    ASSERT_EQ(results.size(), 1u);
    const auto& s = results[0].at("result").as_object();
    EXPECT_EQ(s.at("channels_tuned").to_number<int>(), 8);
    EXPECT_EQ(s.at("channels").as_array().size(), 8u);
    // Untuned channels sat at FMIN: every carrier moved onto its resonance.
    EXPECT_GT(s.at("max_drift_hz").to_number<double>(), 0);
}

TEST(RunCli, AFailingBoardIsReportedAndTheOthersStillRun) {
    tw::runtime rt({.threads = 1, .name = "run-cli-sim"});
    tw::sim::config c;
    c.boards = 2;
    c.channels = 4;
    c.scpi = 0;
    c.modbus = 0;
    tw::sim::simulator sim(c, rt);
    const auto addrs = sim.tuber_addresses();
    // Port 1: nothing listens there, the connection is refused.
    auto r = tw_run("run " + k_plugin + " temperature_stats readings=2 --timeout 2s --boards " + addrs[0] +
                    ",127.0.0.1:1," + addrs[1]);
    sim.stop();
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find(addrs[0] + "  ok  {"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(addrs[1] + "  ok  {"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("127.0.0.1:1  failed  "), std::string::npos) << r.out;
}

TEST(RunCli, NoBoardsAlgorithmTakesItsInstrumentsAsArguments) {
    // cooldown by name: an idle compressor started, a setpoint reached and held.
    tw::runtime rt({.threads = 1, .name = "run-cli-sim"});
    tw::sim::config c;
    c.boards = 0;
    c.tau = std::chrono::milliseconds(100);
    c.compressor_start = std::chrono::milliseconds(200);
    tw::sim::simulator sim(c, rt);
    auto r = tw_run("run cooldown controller=" + sim.scpi_addresses()[0] + " compressor=" + sim.modbus_addresses()[0] +
                    " setpoint=10 tolerance=0.1 hold=200ms deadline=60s --json");
    sim.stop();
    ASSERT_EQ(r.status, 0) << r.out;
    // Steps are printed as they happen, then the JSON document.
    EXPECT_NE(r.out.find("cooldown: "), std::string::npos) << r.out;
    const auto results = json::parse(r.out.substr(r.out.find("{\"algorithm\""))).as_object().at("results").as_array();
    ASSERT_EQ(results.size(), 1u);
    ASSERT_TRUE(results[0].at("ok").as_bool()) << r.out;
    const auto& res = results[0].at("result").as_object();
    EXPECT_EQ(res.at("setpoint").to_number<double>(), 10.0);
    EXPECT_NEAR(res.at("final_temperature").to_number<double>(), 10.0, 0.1);
    EXPECT_GT(res.at("time_to_running_s").to_number<double>(), 0);
}

TEST(RunCli, HealthCheckOverSimulatedBoards) {
    auto r = tw_run("run health_check --sim 3 --json");
    ASSERT_EQ(r.status, 0) << r.out;
    const auto results = results_of(r);
    ASSERT_EQ(results.size(), 1u);  // all_boards: one outcome for the array
    const auto& res = results[0].at("result").as_object();
    EXPECT_EQ(res.at("ok").to_number<int>(), 3);
    for (const auto& b : res.at("results").as_array()) {
        EXPECT_EQ(b.at("status").as_string(), "ok");
        EXPECT_FALSE(b.at("serial").as_string().empty());
    }
}

TEST(RunCli, UsageErrorsExitTwo) {
    EXPECT_EQ(tw_run("run no_such_algorithm --sim 1").status, 2);
    EXPECT_EQ(tw_run("run tune_board amplitude=loud --sim 1").status, 2);
    EXPECT_EQ(tw_run("run tune_board volume=3 --sim 1").status, 2);
    EXPECT_EQ(tw_run("run tune_channel --sim 1").status, 2);        // channel and guess are required
    EXPECT_EQ(tw_run("run tune_board 0.5 8 extra --sim 1").status, 2);  // one argument too many
    EXPECT_EQ(tw_run("run tune_board").status, 2);                  // no boards
    EXPECT_EQ(tw_run("run").status, 2);                             // no algorithm
    EXPECT_EQ(tw_run("run --plugin /nonexistent/plugin.so --list").status, 2);
    // A library that is not a tw plugin.
    EXPECT_EQ(tw_run("run --plugin " TW_NOT_A_PLUGIN " --list").status, 2);
}
