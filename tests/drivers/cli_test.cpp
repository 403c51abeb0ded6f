// The one-off verbs of `tw` (call, rpc, scpi, modbus) against the in-process
// simulator: answers on stdout, exit 0 / 1 (one line on stderr) / 2 (usage).
#include <tw/sim/simulator.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "drivers_test_util.hpp"

using namespace tw_drivers_test;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::Not;

namespace {

tw_sim_test::command_result tw_cli(const std::string& args) {
    return tw_sim_test::run_command("timeout -k 5 60 " + std::string(TW_BINARY) + " " + args);
}

class TwVerbs : public ::testing::Test {
protected:
    tw_sim_test::sim_runtime rt_;
    tw::sim::simulator sim_{{.boards = 2, .channels = 4, .scpi = 1, .modbus = 1,
                             .faults = {tw::sim::parse_fault("stall@1")}},
                            rt_};
    std::string board() { return sim_.tuber_addresses()[0]; }
};

}  // namespace

TEST_F(TwVerbs, Call) {
    auto r = tw_cli("call " + board() + " Board.set_frequency 1 4.5e6");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output, "null\n");
    r = tw_cli("call " + board() + " Board.get_frequency channel=1");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output, "4500000\n");  // as a person writes it; --json is exact
    r = tw_cli("call --json " + board() + " Board.get_frequency channel=1");
    EXPECT_EQ(r.output, "4.5E6\n");
    r = tw_cli("call --property " + board() + " Board.SERIAL");
    EXPECT_EQ(r.output, "\"" + sim_.boards()[0].serial + "\"\n");
    r = tw_cli("call --resolve " + board());
    EXPECT_EQ(r.output, "{\"objects\":[\"Board\"]}\n");
    r = tw_cli("call --resolve " + board() + " Board");
    EXPECT_EQ(r.status, 0);
    EXPECT_THAT(r.output, HasSubstr("\"get_samples\""));

    r = tw_cli("call " + board() + " Board.set_frequency 99 4.5e6");  // the board says no
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.output, StartsWith("tw: "));
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1);
    r = tw_cli("call --timeout 200ms " + sim_.tuber_addresses()[1] + " Board.get_temperature");  // stalled
    EXPECT_EQ(r.status, 1);
    r = tw_cli("call " + board() + " nodot");
    EXPECT_EQ(r.status, 2);
    r = tw_cli("call --timeout soon " + board() + " Board.reset");
    EXPECT_EQ(r.status, 2);
}

TEST_F(TwVerbs, Rpc) {
    auto r = tw_cli("rpc http://" + board() + "/rpc Board.set_amplitude 0 0.5");
    EXPECT_EQ(r.status, 0) << r.output;
    r = tw_cli("rpc http://" + board() + "/rpc Board.get_amplitude channel=0");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output, "0.5\n");
    r = tw_cli("rpc http://" + board() + "/rpc Board.nope");
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.output, HasSubstr("-32601"));
    r = tw_cli("rpc ftp://x/ Board.nope");
    EXPECT_EQ(r.status, 2);
}

TEST_F(TwVerbs, Scpi) {
    auto r = tw_cli("scpi " + sim_.scpi_addresses()[0] + " '*IDN?' 'SETP 1,6.5' 'SETP? 1'");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, ContainsRegex("^TWSIM,TC-372,[^\n]*\n\\+6\\.5000E\\+00\n$"));
    r = tw_cli("scpi --timeout 500ms " + sim_.scpi_addresses()[0] + " 'BOGUS?'");
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.output, HasSubstr("-113"));
    r = tw_cli("scpi " + sim_.scpi_addresses()[0]);
    EXPECT_EQ(r.status, 2);
}

TEST_F(TwVerbs, ScpiCheckDoesNotBlameAnEarlierError) {
    const auto s = sim_.scpi_addresses()[0];
    // An unknown set command leaves -113 queued; nobody asks for it.
    auto r = tw_cli("scpi " + s + " 'BOGUS 1'");
    ASSERT_EQ(r.status, 0) << r.output;
    r = tw_cli("scpi --check " + s + " 'SETP 1,5'");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("cleared an earlier error from the queue: -113"));
    // And --check still fails on its own commands' errors.
    r = tw_cli("scpi --check " + s + " 'BOGUS 2'");
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr("-113"));
    EXPECT_THAT(r.output, Not(HasSubstr("cleared an earlier error")));
}

TEST_F(TwVerbs, Modbus) {
    const auto m = sim_.modbus_addresses()[0];
    auto r = tw_cli("modbus " + m + " read-input 0 2");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output, "0 0\n");
    r = tw_cli("modbus " + m + " read-input 2 2 --float");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, ContainsRegex("^[-0-9.e]+ [-0-9.e]+\n$"));
    r = tw_cli("modbus " + m + " read-holding 0 1");
    EXPECT_EQ(r.output, "0\n");
    r = tw_cli("modbus " + m + " write 0 1");
    EXPECT_EQ(r.status, 0) << r.output;
    r = tw_cli("modbus " + m + " read-holding 0 1");
    EXPECT_EQ(r.output, "1\n");
    r = tw_cli("modbus " + m + " read-input 500 1");
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.output, HasSubstr("illegal data address"));
    r = tw_cli("modbus " + m + " read-sideways 0 1");
    EXPECT_EQ(r.status, 2);
    r = tw_cli("modbus " + m + " write 0");
    EXPECT_EQ(r.status, 2);
}
