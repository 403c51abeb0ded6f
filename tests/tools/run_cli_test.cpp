// tw run end to end: built-in algorithms by name on simulated boards, the
// example plugin (examples/plugin) loaded with --plugin and composed with
// tw's own tune_board, one failing board among good ones, and usage errors.
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <tw/runtime.hpp>
#include <tw/sim/simulator.hpp>

#include "cli_test_util.hpp"

namespace json = boost::json;
using tw_test::command_result;
// tw's stderr goes to the test's log; `output` is its stdout.
using tw_test::k_stdout_only;
using tw_test::run_tw;

namespace {

const std::string k_plugin = std::string("--plugin ") + TW_PLUGIN_PATH;

json::array results_of(const command_result& r) {
    return json::parse(r.output).as_object().at("results").as_array();
}

}  // namespace

TEST(RunCli, ListShowsBuiltinAndPluginAlgorithmsWithTheirParameters) {
    auto r = run_tw("run --list " + k_plugin, k_stdout_only);
    ASSERT_EQ(r.status, 0) << r.output;
    for (const char* name : {"network_analysis", "find_resonances", "tune_channel", "tune_board", "tune_array",
                             "health_check", "cooldown", "temperature_stats", "retune_drift"})
        EXPECT_NE(r.output.find(std::string(name) + " — "), std::string::npos) << name << "\n" << r.output;
    EXPECT_NE(r.output.find("readings=integer"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("default 10"), std::string::npos) << r.output;
}

TEST(RunCli, BuiltinTuneBoardRunsOnEverySimulatedBoard) {
    auto r = run_tw("run tune_board amplitude=0.5 --sim 2 --channels 8 --seed 3 --json", k_stdout_only);
    ASSERT_EQ(r.status, 0) << r.output;
    auto doc = json::parse(r.output).as_object();
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
    auto r = run_tw("run " + k_plugin + " temperature_stats 4 interval=1ms --sim 3 --json", k_stdout_only);
    ASSERT_EQ(r.status, 0) << r.output;
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
    auto r = run_tw("run " + k_plugin + " retune_drift --sim 1 --channels 8 --json", k_stdout_only);
    ASSERT_EQ(r.status, 0) << r.output;
    const auto results = results_of(r);
    ASSERT_EQ(results.size(), 1u);
    const auto& s = results[0].at("result").as_object();
    EXPECT_EQ(s.at("channels_tuned").to_number<int>(), 8);
    EXPECT_EQ(s.at("channels").as_array().size(), 8u);
    // Untuned channels sat at FMIN: every carrier moved onto its resonance.
    EXPECT_GT(s.at("max_drift_hz").to_number<double>(), 0);
}

TEST(RunCli, APluginCanUseTheRuntimeApiOnTwsOwnScheduler) {
    auto r = run_tw("run --plugin " TW_API_PROBE_PLUGIN " api_probe items=3 --json", k_stdout_only);
    ASSERT_EQ(r.status, 0) << r.output;
    const auto results = results_of(r);
    ASSERT_EQ(results.size(), 1u);
    ASSERT_TRUE(results[0].at("ok").as_bool()) << r.output;
    const auto& p = results[0].at("result").as_object();
    EXPECT_EQ(p.at("sum").to_number<int>(), 3 * 36);
    EXPECT_EQ(p.at("task").as_string(), "spawned");
    EXPECT_EQ(p.at("nested").to_number<int>(), 42);
    EXPECT_EQ(p.at("when_all").to_number<int>(), 3);
    EXPECT_TRUE(p.at("deadline_fired").as_bool());
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
    auto r = run_tw("run " + k_plugin + " temperature_stats readings=2 --timeout 2s --boards " + addrs[0] +
                    ",127.0.0.1:1," + addrs[1], k_stdout_only);
    sim.stop();
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find(addrs[0] + "  ok  {"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(addrs[1] + "  ok  {"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("127.0.0.1:1  failed  "), std::string::npos) << r.output;
}

TEST(RunCli, NoBoardsAlgorithmTakesItsInstrumentsAsArguments) {
    // cooldown by name: an idle compressor started, a setpoint reached and held.
    tw::runtime rt({.threads = 1, .name = "run-cli-sim"});
    tw::sim::config c;
    c.boards = 0;
    c.tau = std::chrono::milliseconds(100);
    c.compressor_start = std::chrono::milliseconds(200);
    tw::sim::simulator sim(c, rt);
    auto r = run_tw("run cooldown controller=" + sim.scpi_addresses()[0] + " compressor=" + sim.modbus_addresses()[0] +
                    " setpoint=10 tolerance=0.1 hold=200ms deadline=60s --json", k_stdout_only);
    sim.stop();
    ASSERT_EQ(r.status, 0) << r.output;
    // Steps are printed as they happen, then the JSON document.
    EXPECT_NE(r.output.find("cooldown: "), std::string::npos) << r.output;
    const auto results =
        json::parse(r.output.substr(r.output.find("{\"algorithm\""))).as_object().at("results").as_array();
    ASSERT_EQ(results.size(), 1u);
    ASSERT_TRUE(results[0].at("ok").as_bool()) << r.output;
    const auto& res = results[0].at("result").as_object();
    EXPECT_EQ(res.at("setpoint").to_number<double>(), 10.0);
    EXPECT_NEAR(res.at("final_temperature").to_number<double>(), 10.0, 0.1);
    EXPECT_GT(res.at("time_to_running_s").to_number<double>(), 0);
}

TEST(RunCli, HealthCheckOverSimulatedBoards) {
    auto r = run_tw("run health_check --sim 3 --json", k_stdout_only);
    ASSERT_EQ(r.status, 0) << r.output;
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
    EXPECT_EQ(run_tw("run no_such_algorithm --sim 1", k_stdout_only).status, 2);
    EXPECT_EQ(run_tw("run tune_board amplitude=loud --sim 1", k_stdout_only).status, 2);
    EXPECT_EQ(run_tw("run tune_board volume=3 --sim 1", k_stdout_only).status, 2);
    EXPECT_EQ(run_tw("run tune_channel --sim 1", k_stdout_only).status, 2);            // channel and guess are required
    EXPECT_EQ(run_tw("run tune_board 0.5 8 extra --sim 1", k_stdout_only).status, 2);  // one argument too many
    EXPECT_EQ(run_tw("run tune_board", k_stdout_only).status, 2);                      // no boards
    EXPECT_EQ(run_tw("run", k_stdout_only).status, 2);                                 // no algorithm
    EXPECT_EQ(run_tw("run --plugin /nonexistent/plugin.so --list", k_stdout_only).status, 2);
    // A library that is not a tw plugin.
    EXPECT_EQ(run_tw("run --plugin " TW_NOT_A_PLUGIN " --list", k_stdout_only).status, 2);
}
