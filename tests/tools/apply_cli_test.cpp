// tw apply, tw tune --plot and tw tune --only-failed end to end, against a
// simulator served by this test process: a tuning saved by tw tune is
// restored after the boards were reset; failed, mismatched and skipped boards;
// malformed reports (usage errors); the plot of a chosen board; re-running
// only the boards that failed.
#include <tw/drivers/tuber/board.hpp>
#include <tw/sim/physics.hpp>
#include <tw/sim/simulator.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "../sim/sim_test_util.hpp"
#include "cli_test_util.hpp"

namespace json = boost::json;
using tw_test::command_result;
using tw_test::count_of;
using tw_test::k_hang_guarded;
using tw_test::read_file;
using tw_test::read_json;
using tw_test::run_tw;
using tw_test::temp_path;
using tw_test::write_file;

namespace {

bool one_error_line(const command_result& r) { return r.output.rfind("tw: ", 0) == 0 && count_of(r.output, "\n") == 1; }

// Reports made by the test, complete as tw tune writes them (schema 1,
// docs/report.schema.json: tw refuses a report missing any required field).
json::object report_channel(int channel, double frequency, double amplitude) {
    return {{"channel", channel}, {"frequency", frequency}, {"amplitude", amplitude}, {"s21", 1.0}, {"verified", false}};
}

json::object report_board(const std::string& address, const std::string& name, const std::string& serial,
                          const std::string& status, const json::array& channels) {
    return {{"address", address},        {"name", name},           {"serial", serial},
            {"status", status},          {"error", ""},            {"resonators_found", channels.size()},
            {"channels_tuned", channels.size()}, {"channels_verified", 0}, {"elapsed_s", 0.5},
            {"channels", channels}};
}

json::object report_of(const json::array& boards) {
    return {{"schema", 1},
            {"tool", "tw test"},
            {"command", "tw tune (made by apply_cli_test)"},
            {"seed", nullptr},
            {"started", "2026-01-01T00:00:00Z"},
            {"elapsed_s", 1.0},
            {"boards", boards},
            {"summary", json::object{{"boards", boards.size()}, {"ok", 0}, {"failed", 0}, {"timeout", 0},
                                     {"cancelled", 0}, {"resonators_found", 0}, {"channels_tuned", 0},
                                     {"channels_verified", 0}, {"interrupted", false}}}};
}

struct channel_state {
    double frequency = 0, amplitude = 0;
};

// Three boards of 8 channels; board 2 refuses connections.
class tools_sim : public ::testing::Test {
protected:
    tw_sim_test::sim_runtime rt_;
    tw::sim::simulator sim_{{.boards = 3, .channels = 8, .scpi = 0, .modbus = 0, .seed = 11,
                             .faults = {tw::sim::parse_fault("refuse@2")}},
                            rt_};
    tw_sim_test::client_runtime clients_;

    std::string address(std::size_t i) const { return sim_.boards()[i].address; }

    // Every channel's frequency and amplitude, read from the board.
    std::vector<channel_state> read_back(std::size_t i) {
        return clients_.call([&] {
            tw::tuber::board b(address(i));
            std::vector<channel_state> out;
            for (int ch = 0; ch < b.nchannels(); ++ch) out.push_back({b.get_frequency(ch), b.get_amplitude(ch)});
            return out;
        });
    }
    void reset(std::size_t i) {
        clients_.call([&] { tw::tuber::board(address(i)).reset(); });
    }
};

class ApplyCli : public tools_sim {};
class TunePlotCli : public tools_sim {};
class TuneOnlyFailedCli : public tools_sim {};

}  // namespace

TEST_F(ApplyCli, RestoresASavedTuning) {
    const auto report = temp_path("apply", "tuned.json");
    auto r = run_tw("tune --boards " + address(0) + "," + address(1) + " --report " + report, k_hang_guarded);
    ASSERT_EQ(r.status, 0) << r.output;
    const auto j = read_json(report);
    const auto& boards = j.at("boards").as_array();
    ASSERT_EQ(boards.size(), 2u);

    for (std::size_t i = 0; i < 2; ++i) {
        reset(i);
        for (const auto& c : read_back(i)) ASSERT_EQ(c.amplitude, 0.0);
    }

    r = run_tw("apply " + report, k_hang_guarded);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("apply: " + address(0) + " ok: 8 channels"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("apply: " + address(1) + " ok: 8 channels"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("apply: 2 boards applied, 0 failed, 0 skipped"), std::string::npos) << r.output;

    for (std::size_t i = 0; i < 2; ++i) {
        const auto& chans = boards[i].at("channels").as_array();
        const auto now = read_back(i);
        ASSERT_EQ(now.size(), chans.size());
        std::size_t lit = 0;
        for (std::size_t k = 0; k < chans.size(); ++k) {
            EXPECT_EQ(chans[k].at("channel").to_number<int>(), static_cast<int>(k));
            EXPECT_DOUBLE_EQ(now[k].frequency, chans[k].at("frequency").to_number<double>()) << "board " << i << " ch " << k;
            EXPECT_DOUBLE_EQ(now[k].amplitude, chans[k].at("amplitude").to_number<double>()) << "board " << i << " ch " << k;
            lit += now[k].amplitude > 0;
        }
        EXPECT_EQ(lit, 8u);  // every channel had a resonator to tune to
    }
    std::remove(report.c_str());
}

TEST_F(ApplyCli, FailedMismatchedAndSkippedBoards) {
    for (std::size_t i = 0; i < 2; ++i) reset(i);
    json::array chans;
    for (int k = 0; k < 3; ++k)
        chans.push_back(report_channel(k, 4.5e6 + 1000.0 * k, 0.25));
    json::array boards;
    boards.push_back(report_board(address(0), "good", sim_.boards()[0].serial, "ok", chans));
    boards.push_back(report_board(address(1), "swapped", "NOT-THIS-BOARD", "ok", chans));
    boards.push_back(report_board(address(2), "down", "", "ok", chans));
    boards.push_back(report_board(address(1), "failed-before", "", "failed", json::array{}));
    const auto report = temp_path("apply", "mixed.json");
    write_file(report, json::serialize(report_of(boards)));

    auto r = run_tw("apply --timeout 2s " + report, k_hang_guarded);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("apply: " + address(0) + " (good) ok: 3 channels"), std::string::npos) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex("apply: " + address(1) + R"( \(swapped\) failed: serial \S+ is not the report's NOT-THIS-BOARD)")))
        << r.output;
    EXPECT_NE(r.output.find("apply: " + address(2) + " (down) failed: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("apply: " + address(1) + " (failed-before) skipped: status failed in the report"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("apply: 1 boards applied, 2 failed, 1 skipped"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("tw: apply: 2 of 3 boards failed"), std::string::npos) << r.output;

    auto now = read_back(0);
    for (int k = 0; k < 3; ++k) {
        EXPECT_DOUBLE_EQ(now[k].frequency, 4.5e6 + 1000.0 * k);
        EXPECT_DOUBLE_EQ(now[k].amplitude, 0.25);
    }
    EXPECT_EQ(now[3].amplitude, 0.0);  // not in the report: untouched
    for (const auto& c : read_back(1)) EXPECT_EQ(c.amplitude, 0.0);  // the serial check wrote nothing

    // The dry run contacts no board: the refusing one is listed like the others.
    r = run_tw("apply --dry-run " + report, k_hang_guarded);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("apply: " + address(2) + " (down) would set 3 channels"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("apply: dry run: 3 boards would be applied, 1 skipped"), std::string::npos) << r.output;

    // --json: every board of the report, in its order, with its result; the lines on stderr.
    r = run_tw("apply --json --timeout 2s " + report, tw_test::k_usage_checked);
    EXPECT_EQ(r.status, 1) << r.output << r.error;
    {
        const auto doc = json::parse(r.output).as_object();
        const auto& rows = doc.at("boards").as_array();
        ASSERT_EQ(rows.size(), 4u) << r.output;
        const char* expected[] = {"applied", "failed", "failed", "skipped"};
        for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(rows[i].at("result").as_string(), expected[i]) << r.output;
        EXPECT_NE(rows[1].at("error").as_string().find("NOT-THIS-BOARD"), std::string::npos) << r.output;
        EXPECT_EQ(doc.at("summary").at("applied").to_number<int>(), 1);
        EXPECT_EQ(doc.at("summary").at("skipped").to_number<int>(), 1);
        EXPECT_NE(r.error.find("apply: 1 boards applied, 2 failed, 1 skipped"), std::string::npos) << r.error;
    }

    // --ignore-serial applies to the swapped board too.
    r = run_tw("apply --ignore-serial --timeout 2s " + report, k_hang_guarded);
    EXPECT_EQ(r.status, 1) << r.output;  // the refusing board still fails
    EXPECT_NE(r.output.find("apply: " + address(1) + " (swapped) ok: 3 channels"), std::string::npos) << r.output;
    EXPECT_DOUBLE_EQ(read_back(1)[2].frequency, 4.502e6);
    std::remove(report.c_str());
}

TEST_F(ApplyCli, ABoardRejectingAChannelFailsNamingIt) {
    const auto report = temp_path("apply", "badchannel.json");
    json::array chans{report_channel(0, 4.6e6, 0.5), report_channel(99, 4.6e6, 0.5)};
    write_file(report, json::serialize(report_of(json::array{report_board(address(0), "", "", "ok", chans)})));
    auto r = run_tw("apply " + report, k_hang_guarded);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("apply: " + address(0) + " failed: channel 99: set_frequency: "), std::string::npos) << r.output;
    std::remove(report.c_str());
}

TEST(ApplyCliReports, MalformedReportsAreUsageErrors) {
    const auto path = temp_path("apply", "malformed.json");
    // A good report, then one rule broken at a time. (Every required field
    // missing or mistyped: tune_cli_test, against the schema file.)
    const auto good = report_of(json::array{report_board("127.0.0.1:1", "", "", "ok", json::array{report_channel(0, 4e6, 0.5)})});
    auto with = [&](auto change) {
        json::value r = good;
        change(r.as_object());
        return json::serialize(r);
    };
    auto channel0 = [](json::object& r) -> json::object& {
        return r["boards"].as_array()[0].as_object()["channels"].as_array()[0].as_object();
    };
    const std::vector<std::pair<std::string, std::string>> cases{
        {"{not json", "not JSON"},
        {"[1, 2]", "not a JSON object"},
        {with([](json::object& r) { r.erase("schema"); }), "schema is missing: not a tw tune report"},
        {with([](json::object& r) { r["schema"] = 2; }), "schema 2 is not supported"},
        {with([](json::object& r) { r["schema"] = "1"; }), "schema is not an integer"},
        {with([](json::object& r) { r.erase("boards"); }), "boards is missing"},
        {with([](json::object& r) { r["boards"].as_array()[0].as_object()["address"] = ""; }), "boards[0].address is empty"},
        {with([](json::object& r) { r["boards"].as_array()[0].as_object()["status"] = "fine"; }),
         "boards[0].status is 'fine', not one of ok, failed, timeout, cancelled"},
        {with([&](json::object& r) { channel0(r)["frequency"] = "fast"; }), "boards[0].channels[0].frequency is not a number"},
        {with([&](json::object& r) { channel0(r)["amplitude"] = 2; }), "boards[0].channels[0].amplitude is not in [0, 1]"},
        {with([&](json::object& r) { channel0(r)["channel"] = 1.5; }), "boards[0].channels[0].channel is not an integer"},
        {with([&](json::object& r) { channel0(r)["channel"] = 70000; }), "boards[0].channels[0].channel is not a channel number"},
        {with([&](json::object& r) { channel0(r)["q"] = -1; }), "boards[0].channels[0].q is negative"},
        {with([](json::object& r) { r["summary"].as_object()["interrupted"] = 0; }), "summary.interrupted is not true or false"},
    };
    for (const auto& [text, message] : cases) {
        write_file(path, text);
        auto r = run_tw("apply " + path, k_hang_guarded);
        EXPECT_EQ(r.status, 2) << text << "\n" << r.output;
        EXPECT_TRUE(one_error_line(r)) << r.output;
        EXPECT_NE(r.output.find(message), std::string::npos) << text << "\n" << r.output;
    }
    std::remove(path.c_str());
    auto r = run_tw("apply " + path, k_hang_guarded);  // gone now
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_NE(r.output.find("cannot read the report"), std::string::npos) << r.output;
    r = run_tw("apply", k_hang_guarded);
    EXPECT_EQ(r.status, 2) << r.output;
    r = run_tw("apply " + path + " --timeout soon", k_hang_guarded);
    EXPECT_EQ(r.status, 2) << r.output;
}

TEST_F(TunePlotCli, PlotsTheChosenBoardWithResonancesAndCarriers) {
    const auto svg = temp_path("apply", "tune.svg");
    auto r = run_tw("tune --sim 2 --channels 8 --seed 4 --plot " + svg + " --plot-board sim-1", k_hang_guarded);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("plot " + svg + ": "), std::string::npos) << r.output;
    auto x = tw_test::well_formed_xml(svg);
    EXPECT_EQ(x.status, 0) << x.output;
    const auto text = read_file(svg);
    EXPECT_NE(text.find("(sim-1)"), std::string::npos);
    EXPECT_EQ(count_of(text, "class=\"resonance\""), 8u);
    EXPECT_EQ(count_of(text, "class=\"carrier\""), 8u);

    // The markers are the plotted board's: board 1 of seed 4.
    const auto truth = tw::sim::make_resonators(4, 1, 8, 4.0e6, 6.0e6);
    const std::regex marker(R"(<title>(resonance|carrier) ([0-9.]+) MHz)");
    std::size_t checked = 0;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), marker); it != std::sregex_iterator(); ++it) {
        const double f = std::stod((*it)[2].str()) * 1e6;
        double nearest = 1e12;
        for (const auto& t : truth) nearest = std::min(nearest, std::abs(f - t.f));
        EXPECT_LT(nearest, 500.0) << (*it)[0].str();
        ++checked;
    }
    EXPECT_EQ(checked, 16u);
    std::remove(svg.c_str());
}

TEST_F(TunePlotCli, FirstBoardByDefaultAndBoardsOutsideTheListRefused) {
    const auto svg = temp_path("apply", "default.svg");
    auto r = run_tw("tune --boards " + address(0) + "," + address(1) + " --plot " + svg, k_hang_guarded);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("plot " + svg + ": " + address(0) + "\n"), std::string::npos) << r.output;
    EXPECT_NE(read_file(svg).find(sim_.boards()[0].serial), std::string::npos);
    std::remove(svg.c_str());

    r = run_tw("tune --boards " + address(0) + " --plot " + svg + " --plot-board " + address(1), k_hang_guarded);
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_TRUE(one_error_line(r)) << r.output;
    EXPECT_NE(r.output.find("is not the address or name of a board of this run"), std::string::npos) << r.output;
    r = run_tw("tune --boards " + address(0) + " --plot-board " + address(0), k_hang_guarded);  // needs --plot
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_FALSE(std::ifstream(svg).good());

    // A plotted board that failed has no sweep: no plot, said on stdout.
    r = run_tw("tune --boards " + address(2) + "," + address(0) + " --timeout 2s --plot " + svg, k_hang_guarded);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("tune: no plot: board " + address(2) + " did not end ok"), std::string::npos) << r.output;
    EXPECT_FALSE(std::ifstream(svg).good());
}

TEST_F(TuneOnlyFailedCli, RerunsOnlyTheFailedBoardsWithTheirNames) {
    const auto list = temp_path("apply", "boards.txt");
    const auto first = temp_path("apply", "first.json"), second = temp_path("apply", "second.json");
    write_file(list, "good0 " + address(0) + "\ndown " + address(2) + "\ngood1 " + address(1) + "\n");
    auto r = run_tw("tune --boards " + list + " --timeout 2s --report " + first, k_hang_guarded);
    ASSERT_EQ(r.status, 1) << r.output;
    const auto j1 = read_json(first);
    ASSERT_EQ(j1.at("boards").as_array().size(), 3u);
    EXPECT_EQ(j1.at("boards").as_array()[1].at("status").as_string(), "failed");

    r = run_tw("tune --only-failed " + first + " --timeout 2s --report " + second, k_hang_guarded);
    EXPECT_EQ(r.status, 1) << r.output;  // the board still refuses
    EXPECT_NE(r.output.find("tune: 1 board,"), std::string::npos) << r.output;
    const auto j2 = read_json(second);
    const auto& boards = j2.at("boards").as_array();
    ASSERT_EQ(boards.size(), 1u);
    EXPECT_EQ(boards[0].at("address").as_string(), address(2));
    EXPECT_EQ(boards[0].at("name").as_string(), "down");
    EXPECT_EQ(boards[0].at("status").as_string(), "failed");
    EXPECT_NE(std::string(j2.at("command").as_string().c_str()).find("--only-failed"), std::string::npos);
    for (const auto& p : {list, first, second}) std::remove(p.c_str());
}

TEST_F(TuneOnlyFailedCli, NothingToRerunWhenAllBoardsEndedOk) {
    const auto report = temp_path("apply", "allok.json"), again = temp_path("apply", "again.json");
    auto r = run_tw("tune --boards " + address(0) + " --report " + report, k_hang_guarded);
    ASSERT_EQ(r.status, 0) << r.output;
    r = run_tw("tune --only-failed " + report + " --report " + again, k_hang_guarded);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("tune: nothing to re-run: all 1 boards of '" + report + "' ended ok"), std::string::npos)
        << r.output;
    EXPECT_FALSE(std::ifstream(again).good());
    std::remove(report.c_str());
}

TEST(TuneOnlyFailedCliUsage, UsageErrorsExitTwo) {
    const auto report = temp_path("apply", "usage.json");
    // A --sim run's report (seed set) with a failed board: its ports are gone.
    auto sim_report = report_of(json::array{report_board("127.0.0.1:1", "sim-0", "", "failed", json::array{})});
    sim_report["seed"] = 1;
    write_file(report, json::serialize(sim_report));
    struct usage_case {
        std::string args, message;
    };
    for (const auto& c : std::vector<usage_case>{
             {"tune --only-failed " + report + " --sim 2", "does not combine with --sim"},
             {"tune --only-failed " + report + " --boards 127.0.0.1:1", "replaces --boards"},
             {"tune --only-failed " + report, "is the report of a tw tune --sim run"},
             {"tune --only-failed " + report + ".missing", "cannot read the report"},
             {"tune --only-failed " + report + " --seed 3", "only with --sim"},
         }) {
        auto r = run_tw(c.args, k_hang_guarded);
        EXPECT_EQ(r.status, 2) << c.args << "\n" << r.output;
        EXPECT_TRUE(one_error_line(r)) << c.args << "\n" << r.output;
        EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
    }
    sim_report["boards"] = "none";
    write_file(report, json::serialize(sim_report));
    auto r = run_tw("tune --only-failed " + report, k_hang_guarded);
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_NE(r.output.find("boards is not an array"), std::string::npos) << r.output;
    std::remove(report.c_str());
}
