// tw usage errors, table-driven: every numeric flag of every verb given a
// negative, a huge (99999999999999999999) and, where it matters, a zero
// value; bad addresses; output files that cannot be written. Each must end tw
// with exit status 2 — fast (well within the deadlock guard: none of them
// may start work that needs interrupting) — with one line on stderr naming
// the flag, nothing on stdout, and no internal text (C++ exception or
// library wording) in the message.
#include <array>
#include <ostream>
#include <cctype>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <tw/duration.hpp>
#include <tw/sim/simulator.hpp>

#include "cli_test_util.hpp"

namespace {

using tw_test::matches;
using tw_test::run_tw;

struct usage_case {
    std::string args;  // tw's arguments
    std::string says;  // a regular expression stderr must match
};

// gtest prints the command line, not the struct's bytes.
[[maybe_unused]] void PrintTo(const usage_case& c, std::ostream* os) { *os << "tw " << c.args; }

constexpr const char* k_huge = "99999999999999999999";

// Words that only an unhandled path puts on stderr.
constexpr std::array k_internal_words = {"std::", "what()", "max_size", "terminate", "exception", "Invalid argument"};

// One verb's numeric flags: a negative, a huge and (listed in `zero`) a zero
// value each. `prefix` makes the rest of the command line valid.
void add_flags(std::vector<usage_case>& out, const std::string& prefix, const std::vector<std::string>& flags,
               const std::vector<std::string>& zero = {}, const std::string& negative = "-1") {
    for (const auto& f : flags) {
        out.push_back({prefix + " " + f + " " + negative, f});
        out.push_back({prefix + " " + f + " " + k_huge, f});
    }
    for (const auto& f : zero) out.push_back({prefix + " " + f + " 0", f});
}

std::vector<usage_case> numeric_cases() {
    std::vector<usage_case> c;
    add_flags(c, "health", {"--sim"}, {"--sim"});
    add_flags(c, "health --sim 1", {"--concurrency", "--timeout", "--deadline"}, {"--timeout"});
    add_flags(c, "health --sim 1", {"--max-temp", "--min-temp"}, {}, "-300");  // below absolute zero

    add_flags(c, "tune", {"--sim"}, {"--sim"});
    add_flags(c, "tune --sim 1",
              {"--seed", "--channels", "--concurrency", "--channel-concurrency", "--amplitude", "--deadline", "--timeout"},
              {"--channels", "--amplitude", "--timeout"});

    add_flags(c, "shell", {"--sim"}, {"--sim"});
    add_flags(c, "shell --sim 1", {"--seed", "--channels", "--concurrency", "--timeout"}, {"--channels", "--timeout"});

    add_flags(c, "run", {"--sim"}, {"--sim"});
    add_flags(c, "run --sim 1", {"--seed", "--channels", "--concurrency", "--timeout"}, {"--channels", "--timeout"});

    add_flags(c, "sim",
              {"--boards", "--port", "--channels", "--scpi", "--scpi-port", "--scpi-ports", "--modbus", "--modbus-port",
               "--seed", "--latency", "--jitter", "--tau", "--idle-timeout", "--request-timeout", "--max-connections",
               "--threads"},
              {"--channels", "--tau", "--threads"});
    c.push_back({"sim --port 65536", "--port"});

    add_flags(c, "sweep", {"--sim"}, {"--sim"});
    add_flags(c, "sweep --sim",
              {"--seed", "--channels", "--fmin", "--fmax", "--points", "--amplitude", "--channel", "--samples", "--timeout"},
              {"--channels", "--fmin", "--fmax", "--points", "--amplitude", "--timeout"});
    c.push_back({"sweep --sim --points 1", "--points"});

    add_flags(c, "cooldown --sim",
              {"--setpoint", "--deadline", "--loop", "--sensor", "--tolerance", "--hold", "--poll", "--ramp", "--timeout"},
              {"--loop", "--sensor", "--tolerance", "--poll", "--timeout"});

    add_flags(c, "apply no-such-report.json", {"--timeout", "--concurrency"}, {"--timeout"});
    add_flags(c, "call 127.0.0.1:1 Board.get_serial", {"--timeout"}, {"--timeout"});
    add_flags(c, "scpi 127.0.0.1:1 '*IDN?'", {"--timeout"}, {"--timeout"});
    add_flags(c, "rpc http://127.0.0.1:1/rpc ping", {"--timeout"}, {"--timeout"});
    add_flags(c, "modbus 127.0.0.1:1 read-input 0 1", {"--unit", "--timeout"}, {"--timeout"});
    c.push_back({"modbus 127.0.0.1:1 read-input 0 1 --unit 256", "--unit"});
    for (const auto& v : {"-1", k_huge}) {
        c.push_back({std::string("modbus 127.0.0.1:1 read-input ") + v + " 1", "ADDR"});
        c.push_back({std::string("modbus 127.0.0.1:1 read-input 0 ") + v, "COUNT"});
        c.push_back({std::string("modbus 127.0.0.1:1 write 0 ") + v, "VALUE"});
    }
    c.push_back({"modbus 127.0.0.1:1 read-input 0 0", "COUNT"});
    // The other actions: Modbus' limits per request, coil values, 16-bit values.
    for (const auto& v : {"-1", k_huge}) {
        c.push_back({std::string("modbus 127.0.0.1:1 read-coils ") + v + " 1", "ADDR"});
        c.push_back({std::string("modbus 127.0.0.1:1 read-discrete 0 ") + v, "COUNT"});
        c.push_back({std::string("modbus 127.0.0.1:1 write-coil 0 ") + v, "VALUE"});
        c.push_back({std::string("modbus 127.0.0.1:1 write-coils 0 1 ") + v, "VALUE"});
        c.push_back({std::string("modbus 127.0.0.1:1 write-registers 0 1 ") + v, "VALUE"});
    }
    c.push_back({"modbus 127.0.0.1:1 read-coils 0 0", "COUNT"});
    c.push_back({"modbus 127.0.0.1:1 read-coils 0 2001", "COUNT.*at most 2000"});
    c.push_back({"modbus 127.0.0.1:1 read-holding 0 126", "COUNT.*at most 125"});
    c.push_back({"modbus 127.0.0.1:1 read-holding 0 63 --float", "COUNT.*at most 62"});
    c.push_back({"modbus 127.0.0.1:1 read-input 65530 7", "ADDR.*past address 65535"});
    c.push_back({"modbus 127.0.0.1:1 write-coil 0 maybe", "VALUE.*0, 1, on or off"});
    c.push_back({"modbus 127.0.0.1:1 write-registers 0 inf --float", "VALUE"});
    c.push_back({"modbus 127.0.0.1:1 read-coils 0 1 --float", "--float"});
    c.push_back({"rpc http://127.0.0.1:1/rpc --batch", "--batch"});
    c.push_back({"rpc http://127.0.0.1:1/rpc --batch-file " + ::testing::TempDir() + "tw_no_such_dir/b.json", "--batch-file.*cannot read"});

    add_flags(c, "bench micro", {"--iterations", "--runs"}, {"--iterations", "--runs"});
    add_flags(c, "bench line-server", {"--ports", "--latency"}, {"--ports"});
    add_flags(c, "bench fanout --sim 2", {"--rounds", "--sim-ports", "--latency"}, {"--rounds", "--sim-ports"});
    add_flags(c, "bench fanout --rounds 1", {"--sim"}, {"--sim"});
    add_flags(c, "bench fanout --targets 127.0.0.1:1", {"--connections"}, {"--connections"});
    // Within each range, but the product sizes the latency samples kept.
    c.push_back({"bench fanout --sim 1000000 --rounds 1000000", "--rounds"});
    return c;
}

// Mistyped addresses: found before any connection is tried, and said so.
std::vector<usage_case> address_cases() {
    return {
        {"call 1.2.3.4:x Board.get_serial", "address.*bad port"},
        {"call 127.0.0.1 Board.get_serial", "address.*missing port"},
        {"call 127.0.0.1:99999 Board.get_serial", "address.*port 99999 out of range"},
        {"call 127.0.0.1:0 Board.get_serial", "address.*out of range"},
        {"call :9000 Board.get_serial", "address.*missing host"},
        {"call ::1:9000 Board.get_serial", "address.*IPv6 addresses go in brackets"},
        {"scpi 127.0.0.1:x '*IDN?'", "address.*bad port"},
        {"scpi 127.0.0.1 '*IDN?'", "address.*missing port"},
        {"modbus 127.0.0.1:70000 read-input 0 1", "address.*out of range"},
        {"modbus [::1 read-input 0 1", "address.*(missing port|unbalanced brackets)"},
        {"rpc http://127.0.0.1:x/rpc ping", "URL.*bad port"},
        {"rpc http://127.0.0.1:99999/rpc ping", "URL.*out of range"},
        {"sweep --board 127.0.0.1", "--board.*missing port"},
        {"cooldown --controller 1.2.3.4:x --compressor 127.0.0.1:1 --setpoint 4", "--controller.*bad port"},
        {"cooldown --controller 127.0.0.1:1 --compressor 127.0.0.1 --setpoint 4", "--compressor.*missing port"},
        {"tune --boards 1.2.3.4:x", "--boards.*bad port"},
        {"health --boards 127.0.0.1:65535+2", "--boards.*past port 65535"},
        {"health --boards 127.0.0.1:9000+-1", "--boards.*bad count"},
        // Ranges expand: a short list must not name millions of boards (found by tests/fuzz).
        {"health --boards 127.0.0.1:1+65535,127.0.0.2:1+2", "--boards.*more than 65536 boards"},
        {"bench fanout --targets 127.0.0.1:x", "--targets.*bad port"},
    };
}

// Files a verb would write, in a directory that does not exist (or naming a
// directory): refused before any board is tuned or swept.
std::vector<usage_case> output_cases() {
    const std::string missing = ::testing::TempDir() + "tw_no_such_dir/out";
    const std::string dir = ::testing::TempDir();
    return {
        {"tune --sim 1 --report " + missing + ".json", "--report.*no directory"},
        {"tune --sim 1 --report " + dir, "--report.*directory"},
        {"tune --sim 1 --plot " + missing + ".svg", "--plot.*no directory"},
        {"sweep --sim --csv " + missing + ".csv", "--csv.*no directory"},
        {"sweep --sim --plot " + missing + ".svg", "--plot.*no directory"},
        {"sim --truth " + missing + ".json", "--truth.*no directory"},
        {"--log-file " + missing + ".log health --sim 1", "--log-file.*no directory"},
    };
}

// A gtest name from the arguments: index first (unique), then letters and digits.
std::string case_name(const ::testing::TestParamInfo<usage_case>& info) {
    std::string name = std::to_string(info.index) + "_";
    for (char ch : info.param.args.substr(0, 60)) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
    return name;
}

class UsageCli : public ::testing::TestWithParam<usage_case> {};

TEST_P(UsageCli, ExitsTwoWithOneLineNamingTheFlag) {
    const auto& c = GetParam();
    const auto r = run_tw(c.args, tw_test::k_usage_checked);
    EXPECT_EQ(r.status, 2) << "tw " << c.args << "\nstdout: " << r.output << "\nstderr: " << r.error;
    EXPECT_EQ(tw_test::count_of(r.error, "\n"), 1u) << r.error;
    EXPECT_TRUE(r.error.starts_with("tw: ")) << r.error;
    EXPECT_TRUE(matches(r.error, c.says)) << "expected /" << c.says << "/ in: " << r.error;
    for (const auto* word : k_internal_words) EXPECT_EQ(r.error.find(word), std::string::npos) << word << " in: " << r.error;
    EXPECT_EQ(r.output, "") << "nothing on stdout before a usage error";
}

// Reports tw reads (apply, tune --only-failed): missing, a directory, cut
// short, not JSON, a schema this tw does not read.
std::vector<usage_case> report_cases() {
    const std::string dir = ::testing::TempDir();
    const auto missing = dir + "tw_usage_no_such_report.json";
    const auto cut = dir + "tw_usage_cut_report.json", text = dir + "tw_usage_text_report.json",
               future = dir + "tw_usage_schema2_report.json";
    tw_test::write_file(cut, R"({"schema": 1, "boards": [)");
    tw_test::write_file(text, "board 1 ok\n");
    tw_test::write_file(future, R"({"schema": 2})");
    std::vector<usage_case> c;
    for (const std::string verb : {"apply --dry-run ", "tune --only-failed "}) {
        c.push_back({verb + missing, "cannot read the report '.*': No such file"});
        c.push_back({verb + dir, "cannot read the report '.*': it is a directory"});
        c.push_back({verb + cut, "report '.*': not JSON"});
        c.push_back({verb + text, "report '.*': not JSON"});
        c.push_back({verb + future, "schema 2 is not supported"});
    }
    return c;
}

INSTANTIATE_TEST_SUITE_P(EveryNumericFlag, UsageCli, ::testing::ValuesIn(numeric_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(BadReports, UsageCli, ::testing::ValuesIn(report_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(BadAddresses, UsageCli, ::testing::ValuesIn(address_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(UnwritableOutputs, UsageCli, ::testing::ValuesIn(output_cases()), case_name);

TEST(UsageCli, SimZeroSaysTheRange) {
    // Once "give exactly one of --boards, --sim, --only-failed": --sim 0 is given, and too small.
    const auto r = run_tw("tune --sim 0", tw_test::k_usage_checked);
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(matches(r.error, "--sim: must be a whole number, at least 1 and at most 65535, got '0'")) << r.error;
}

TEST(UsageCli, UnwritableReportLeavesNoFileAndDoesNoWork) {
    // A bad --report is refused before the boards are tuned; a good --report
    // next to a usage error elsewhere is neither created nor truncated.
    const auto report = tw_test::temp_path("usage", "kept.json");
    tw_test::write_file(report, "kept");
    const auto r = run_tw("tune --sim 1 --report " + report + " --plot " + ::testing::TempDir() + "no/such/dir/p.svg",
                          tw_test::k_usage_checked);
    EXPECT_EQ(r.status, 2) << r.error;
    EXPECT_EQ(r.output, "");
    EXPECT_EQ(tw_test::read_file(report), "kept");
}

TEST(TwSimFlags, HelpShowsTheLibraryDefaultsAndTheNewLimits) {
    // The defaults come from tw::sim::config, not from a second copy in the CLI.
    const tw::sim::config defaults{};
    const auto r = run_tw("sim --help", tw_test::k_stdout_only);
    ASSERT_EQ(r.status, 0);
    EXPECT_TRUE(matches(r.output, "--idle-timeout DUR=" + tw::format_duration(defaults.idle_timeout) + "\\s")) << r.output;
    EXPECT_TRUE(matches(r.output, "--request-timeout DUR=" + tw::format_duration(defaults.request_timeout) + "\\s"))
        << r.output;
    EXPECT_TRUE(matches(r.output, "--max-connections N=" + std::to_string(defaults.max_connections) + "\\s")) << r.output;
    EXPECT_TRUE(matches(r.output, "--boards N .*\\(0\\.\\.65535\\)")) << r.output;
}

}  // namespace
