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
    r = tw_cli("call " + board() + " nodot");  // METHOD alone is Board's, as in the shell
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.output, HasSubstr("Board has no method 'nodot'"));
    r = tw_cli("call " + board() + " SERIAL");  // a property by its name alone
    EXPECT_EQ(r.output, "\"" + sim_.boards()[0].serial + "\"\n");
    r = tw_cli("call " + board() + " Board.");
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
    r = tw_cli("scpi --json " + sim_.scpi_addresses()[0] + " 'SETP 1,7.5' 'SETP? 1'");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output, "{\"address\":\"" + sim_.scpi_addresses()[0] +
                            "\",\"replies\":[{\"command\":\"SETP? 1\",\"reply\":\"+7.5000E+00\"}]}\n");
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

namespace {

// `tw ARGS` failed on the device: exit 1, one line on stderr saying `says`.
void expect_device_error(const tw_sim_test::command_result& r, const std::string& says) {
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_THAT(r.output, StartsWith("tw: ")) << r.output;
    EXPECT_THAT(r.output, HasSubstr(says)) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

// A usage error: exit 2, one line, before connecting (so no device needed).
void expect_usage_error(const std::string& args, const std::string& says) {
    auto r = tw_cli(args);
    EXPECT_EQ(r.status, 2) << "tw " << args << "\n" << r.output;
    EXPECT_THAT(r.output, StartsWith("tw: ")) << r.output;
    EXPECT_THAT(r.output, HasSubstr(says)) << "tw " << args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

std::string repeat(const std::string& word, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += " " + word;
    return s;
}

}  // namespace

TEST_F(TwVerbs, ModbusCoilsAndDiscreteInputs) {
    // The simulated compressor: coil 0 runs it; discrete inputs 0 on, 1 overheat alarm, 2 pressure alarm.
    const auto m = sim_.modbus_addresses()[0];
    auto r = tw_cli("modbus " + m + " read-coils 0 1");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output, "0\n");
    r = tw_cli("modbus " + m + " read-discrete 0 3");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output, "0 0 0\n");
    r = tw_cli("modbus " + m + " read-discrete 0 3 --json");
    EXPECT_EQ(r.output, "[false,false,false]\n");

    r = tw_cli("modbus " + m + " write-coil 0 on");  // fn 5: start
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output, "");
    r = tw_cli("modbus " + m + " read-coils 0 1 --json");
    EXPECT_EQ(r.output, "[true]\n");
    r = tw_cli("modbus " + m + " read-discrete 0 1");  // starting: on
    EXPECT_EQ(r.output, "1\n");
    r = tw_cli("modbus " + m + " read-holding 0 1");  // the same command, as a register
    EXPECT_EQ(r.output, "1\n");
    r = tw_cli("modbus " + m + " write-coils 0 off");  // fn 15: stop
    EXPECT_EQ(r.status, 0) << r.output;
    r = tw_cli("modbus " + m + " read-coils 0 1");
    EXPECT_EQ(r.output, "0\n");
    r = tw_cli("modbus " + m + " write-coil 0 1");
    EXPECT_EQ(r.status, 0) << r.output;
    r = tw_cli("modbus " + m + " write-coil 0 0");
    EXPECT_EQ(r.status, 0) << r.output;

    // Addresses the device does not have: its exception, named and explained.
    expect_device_error(tw_cli("modbus " + m + " read-coils 0 2"),
                        "function 1 (read coils): exception 2 (illegal data address): the device has no coil 0..1");
    expect_device_error(tw_cli("modbus " + m + " read-discrete 3 1"), "exception 2 (illegal data address): the device has no discrete input 3");
    expect_device_error(tw_cli("modbus " + m + " write-coil 5 on"), "exception 2 (illegal data address): the device has no coil 5");
    expect_device_error(tw_cli("modbus " + m + " write-coils 0 1 1"), "exception 2 (illegal data address): the device has no coil 0..1");

    // Usage errors, before connecting.
    expect_usage_error("modbus " + m + " read-coils 0 0", "COUNT: must be a whole number, at least 1 and at most 2000");
    expect_usage_error("modbus " + m + " read-coils 0 2001", "COUNT");
    expect_usage_error("modbus " + m + " read-discrete 0 -1", "COUNT");
    expect_usage_error("modbus " + m + " read-discrete -1 1", "ADDR");
    expect_usage_error("modbus " + m + " read-coils 65535 2", "runs past address 65535");
    expect_usage_error("modbus " + m + " write-coil 0 2", "a coil is 0, 1, on or off, got '2'");
    expect_usage_error("modbus " + m + " write-coil 0 yes", "a coil is 0, 1, on or off");
    expect_usage_error("modbus " + m + " write-coil 0", "write-coil takes ADDR VALUE");
    expect_usage_error("modbus " + m + " write-coils 0", "write-coils takes ADDR VALUE...");
    expect_usage_error("modbus " + m + " write-coils 0" + repeat("1", 1969), "Modbus writes at most 1968");
    expect_usage_error("modbus " + m + " read-coils 0 1 --float", "--float");
    expect_usage_error("modbus " + m + " write-coil 0 1 --json", "--json");
}

TEST_F(TwVerbs, ModbusRegisters) {
    const auto m = sim_.modbus_addresses()[0];
    auto r = tw_cli("modbus " + m + " read-input 0 2 --json");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output, "[0,0]\n");
    r = tw_cli("modbus " + m + " read-input 2 1 --float --json");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, ContainsRegex("^\\[[-0-9.E]+\\]\n$"));
    r = tw_cli("modbus " + m + " write-registers 0 1");  // fn 16: start
    EXPECT_EQ(r.status, 0) << r.output;
    r = tw_cli("modbus " + m + " read-holding 0 1 --json");
    EXPECT_EQ(r.output, "[1]\n");
    r = tw_cli("modbus " + m + " write-registers 0 0");
    EXPECT_EQ(r.status, 0) << r.output;

    // One holding register (the command): 0..3 does not exist.
    expect_device_error(tw_cli("modbus " + m + " read-holding 0 4"),
                        "function 3 (read holding registers): exception 2 (illegal data address): the device has no "
                        "holding register 0..3");
    expect_device_error(tw_cli("modbus " + m + " write-registers 0 1 0"), "the device has no holding register 0..1");
    expect_device_error(tw_cli("modbus " + m + " write-registers 0 1.5 --float"), "the device has no holding register 0..1");
    expect_device_error(tw_cli("modbus " + m + " write-registers 0 7"), "exception 3 (illegal data value)");  // command 0 or 1

    expect_usage_error("modbus " + m + " write-registers 0 65536", "VALUE");
    expect_usage_error("modbus " + m + " write-registers 0 -1", "VALUE");
    expect_usage_error("modbus " + m + " write-registers 0 1.5", "VALUE");
    expect_usage_error("modbus " + m + " write-registers 0 nan --float", "VALUE");
    expect_usage_error("modbus " + m + " write-registers 0" + repeat("0", 124), "Modbus writes at most 123");
    expect_usage_error("modbus " + m + " write-registers 0" + repeat("0", 62) + " --float", "Modbus writes at most 123");
    expect_usage_error("modbus " + m + " read-holding 0 126", "COUNT");
    expect_usage_error("modbus " + m + " read-input 0 63 --float", "COUNT");
    expect_usage_error("modbus " + m + " read-input 65535 1 --float", "runs past address 65535");
}

TEST_F(TwVerbs, RpcBatch) {
    const auto url = "http://" + board() + "/rpc";
    auto r = tw_cli("rpc " + url + " --batch 'Board.set_amplitude 0 0.5' 'Board.get_amplitude channel=0' "
                    "'Board.set_frequency 1 4.5e6' 'Board.get_frequency 1'");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output, "null\n0.5\nnull\n4500000\n");
    r = tw_cli("rpc --json " + url + " --batch 'Board.get_amplitude channel=0' 'Board.get_frequency channel=1'");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output, "[5E-1,4.5E6]\n");

    // One call fails: its line says its error, the others are printed, exit 1.
    r = tw_cli("rpc " + url + " --batch 'Board.get_amplitude 0' 'Board.nope' 'Board.get_frequency 1'");
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_THAT(r.output, ContainsRegex("^0\\.5\nerror -32601: [^\n]+\n4500000\ntw: 1 of 3 calls failed\n$"));
    r = tw_cli("rpc --json " + url + " --batch 'Board.get_amplitude 0' 'Board.nope'");
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_THAT(r.output, ContainsRegex("^\\[5E-1,\\{\"error\":\\{\"code\":-32601,\"message\":\"[^\"]+\"\\}\\}\\]\n"));

    // A JSON-RPC batch array from stdin; a request without "id" is a notification (no line).
    const std::string file = "[{\"jsonrpc\":\"2.0\",\"method\":\"Board.set_amplitude\",\"params\":[2,0.25]},"
                             "{\"jsonrpc\":\"2.0\",\"method\":\"Board.get_amplitude\",\"params\":{\"channel\":2},\"id\":7}]";
    r = tw_sim_test::run_command("echo '" + file + "' | timeout -k 5 60 " + std::string(TW_BINARY) + " rpc " + url +
                                 " --batch-file -");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output, "0.25\n");

    expect_usage_error("rpc " + url + " --batch", "--batch");
    expect_usage_error("rpc " + url + " --batch-file /no/such/file.json", "--batch-file: cannot read '/no/such/file.json'");
    expect_usage_error("rpc " + url + " --batch 'A.b 1' --batch-file -", "excludes");
    expect_usage_error("rpc --notify " + url + " --batch 'Board.reset'", "--notify");
    r = tw_sim_test::run_command("echo '{\"method\": 1}' | " + std::string(TW_BINARY) + " rpc " + url + " --batch-file -");
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_THAT(r.output, HasSubstr("--batch-file: stdin must hold a non-empty JSON array"));
}
