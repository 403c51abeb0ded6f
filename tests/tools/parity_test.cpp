// The shell and the command line are one command model: the same words given
// to `tw VERB ADDRESS ...` and to the shell's `VERB ...` (on the same board)
// print the same result, or fail with the same message of the same kind
// (usage error or failure). Runs tw as a separate process against a simulator
// served by this test process.
#include <tw/sim/simulator.hpp>

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../sim/sim_test_util.hpp"
#include "cli_test_util.hpp"

using tw_test::command_result;
using tw_test::k_usage_checked;
using tw_test::run_tw;

namespace {

// What a run said, in a form both front ends share: its stdout, whether it
// failed, whether that was a usage error, and the error's message without the
// front end's own wording ("tw: " / "tw: call: " before it, "(see tw call
// --help)" / "(usage: ...)" after it).
struct outcome {
    std::string out;
    bool failed = false;
    bool usage = false;
    std::string message;
};

std::string core_message(const std::string& err, const std::string& verb) {
    static const std::regex hint(R"( \((see tw [a-z]+ --help|usage: [^\n]*)\)\n?$)");
    std::string m = err;
    for (const auto& prefix : {"tw: " + verb + ": ", std::string("tw: ")})
        if (m.rfind(prefix, 0) == 0) {
            m = m.substr(prefix.size());
            break;
        }
    m = std::regex_replace(m, hint, "");
    while (!m.empty() && m.back() == '\n') m.pop_back();
    return m;
}

// What differs between two runs on one board, whichever front end: a sweep's
// resonances carry the board's noise, which moves on between two sweeps; a
// health check's temperatures, latencies and times are measured afresh; the
// JSON report's "command" is the command line as typed; a tuning run's
// elapsed time. Their places and
// format are compared, not their digits.
std::string without_noise(const std::string& out) {
    static const std::regex resonance(R"(  [0-9]+\.[0-9]+ MHz  depth [0-9.]+  Q [0-9]+)");
    static const std::regex decimal(R"(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)");
    static const std::regex command(R"("command":"[^"]*")");
    static const std::regex elapsed(R"(elapsed +[0-9.]+  s)");
    auto s = std::regex_replace(out, resonance, "  F MHz  depth D  Q N");
    if (s.find("resonators found") != std::string::npos) return std::regex_replace(s, elapsed, "elapsed T s");
    if (s.rfind("{", 0) == 0 || s.find("health: ") != std::string::npos || s.find("\"schema\"") != std::string::npos ||
        s.find("  ok  ") != std::string::npos || s.find("\"algorithm\"") != std::string::npos) {
        s = std::regex_replace(s, decimal, "N");
        s = std::regex_replace(s, command, "\"command\":\"C\"");
    }
    return s;
}

// The first line of tw's own on stderr ("tw: ..."): what went wrong. Lines
// before it (an algorithm's usage) are the same in both front ends.
std::string error_line(const std::string& err) {
    for (std::size_t at = 0; at < err.size();) {
        const auto end = std::min(err.find('\n', at), err.size());
        if (err.compare(at, 4, "tw: ") == 0) return err.substr(at, end - at);
        at = end + 1;
    }
    return {};
}

outcome from_cli(const command_result& r, const std::string& verb) {
    return {without_noise(r.output), r.status != 0, r.status == 2, core_message(error_line(r.error), verb)};
}

// The shell reports a failed command in one line, then "1 command failed".
outcome from_shell(const command_result& r, const std::string& verb) {
    outcome o{without_noise(r.output), r.status != 0, false, {}};
    const auto line = error_line(r.error);
    // A verb of its own: "(usage: ...)"; one it runs as tw would: "(see tw VERB --help)".
    o.usage = line.find(" (usage: ") != std::string::npos || line.find(" (see tw ") != std::string::npos;
    o.message = core_message(line, verb);
    return o;
}

class Parity : public ::testing::Test {
protected:
    tw_sim_test::sim_runtime rt_;
    tw::sim::simulator sim_{{.boards = 1, .channels = 4, .scpi = 0, .modbus = 0, .seed = 5}, rt_};
    std::string address() const { return sim_.boards()[0].address; }

    // `tw CLI_ARGS` against `tw SHELL_ARGS -c 'LINE'`: the same outcome.
    static void expect_same_run(const std::string& verb, const std::string& cli_args, const std::string& shell_args,
                                const std::string& line) {
        const auto cli = from_cli(run_tw(cli_args, k_usage_checked), verb);
        const auto shell = from_shell(run_tw(shell_args + " -c \"" + line + "\"", k_usage_checked), verb);
        EXPECT_EQ(cli.out, shell.out);
        EXPECT_EQ(cli.failed, shell.failed) << cli.message << " / " << shell.message;
        EXPECT_EQ(cli.usage, shell.usage) << cli.message << " / " << shell.message;
        EXPECT_EQ(cli.message, shell.message);
    }

    // `tw VERB [--board] ADDRESS WORDS` against `tw shell --boards ADDRESS -c 'VERB WORDS'`.
    void expect_same(const std::string& verb, const std::string& address_flag, const std::string& words) {
        SCOPED_TRACE(verb + " " + words);
        expect_same_run(verb, verb + " " + address_flag + address() + " " + words, "shell --boards " + address(),
                        verb + " " + words);
    }
};

}  // namespace

TEST_F(Parity, CallReadsAndFailsAlikeInTheShellAndOnTheCommandLine) {
    for (const std::string words : {
             "SERIAL",                         // a property by its name alone
             "--property FMAX",                // and by --property
             "Board.get_frequency 1",          // OBJECT.METHOD
             "get_frequency 2",                // METHOD: Board's
             "--json get_frequency 3",         // exact JSON
             "get_frequency channel=1",        // a keyword argument
             "set_frequency 0 nonsense",       // the board's error
             "no_such_method",                 // not a method nor a property
             "set_frequency 0 1e999",          // usage: beyond a double
             "set_frequency channel=0 1",      // usage: positional after keyword
             "--property --resolve SERIAL",    // usage: exclusive flags
             "--property SERIAL 1",            // usage: arguments with --property
             "'.x'",                           // usage: malformed OBJECT.NAME
             "--bogus get_frequency 1",        // usage: unknown flag
         })
        expect_same("call", "", words);
}

TEST_F(Parity, SweepReadsAndFailsAlikeInTheShellAndOnTheCommandLine) {
    for (const std::string words : {
             "--fmin 4.5e6 --fmax 5.5e6 --points 401",
             "--points 301 --amplitude 0.25 --channel 1",
             "--json --points 401",
             "--json --csv -",            // usage: two outputs on stdout
             "--fmin 6e6 --fmax 4e6",     // usage: band upside down
             "--fmin 1e6",                // usage: outside the board's FMIN..FMAX (known only once it answers)
             "--channel 9",               // usage: not one of the board's channels
             "--points 1",                // usage: out of range
             "--amplitude -0.5",          // usage: negative
         })
        expect_same("sweep", "--board ", words);
}

TEST_F(Parity, HealthPrintsTheSameTableAndReportInTheShellAndOnTheCommandLine) {
    for (const std::string words : {
             "",
             "--max-temp 20",          // every board warm: a failure, the table still printed
             "--json",
             "--timeout 2s --concurrency 1 --json",
             "--timeout soon",         // usage: bad duration
             "--concurrency -1",       // usage: negative
             "--max-temp 1e999",       // usage: out of range
         })
        expect_same("health", "--boards ", words);
}

TEST_F(Parity, RunPrintsTheSameOutcomesInTheShellAndOnTheCommandLine) {
    for (const std::string words : {
             "find_resonances points=801",
             "find_resonances --json fmin=4.5e6 fmax=5.5e6 points=401",
             "health_check timeout=2s",
             "tune_channel 99 4.5e6",           // the board's error: it has no channel 99
             "find_resonances points=-5",       // usage: out of the parameter's range
             "find_resonances colour=red",      // usage: no such parameter
             "no_such_algorithm",               // usage: unknown
         })
        expect_same("run", "--boards ", words);
}

TEST_F(Parity, TunePrintsTheSameSummaryInTheShellAndOnTheCommandLine) {
    for (const std::string words : {
             "",
             "--amplitude 0.25 --channel-concurrency 2 --quiet",
             "--amplitude 0",                              // usage: not more than 0
             "--deadline soon",                            // usage: bad duration
             "--report - --plot -",                        // usage: two outputs on stdout
             "--plot-board nowhere --plot /dev/null",      // usage: known only once the boards are listed
             "--concurrency -3",                           // usage: negative
         })
        expect_same("tune", "--boards ", words);
}

// The verbs the shell has no command of its own for run as tw runs them.
class ParityInstruments : public Parity {
protected:
    tw_sim_test::sim_runtime irt_;
    tw::sim::simulator instruments_{{.boards = 0, .scpi = 1, .modbus = 1, .seed = 5}, irt_};

    // `tw LINE` against `tw shell -c 'LINE'`.
    static void expect_same_line(const std::string& verb, const std::string& line) {
        SCOPED_TRACE(line);
        expect_same_run(verb, line, "shell", line);
    }
};

TEST_F(ParityInstruments, ScpiModbusAndRpcRunInTheShellAsOnTheCommandLine) {
    const auto scpi = instruments_.scpi_addresses()[0], modbus = instruments_.modbus_addresses()[0];
    expect_same_line("scpi", "scpi " + scpi + " 'SETP 1,6.5' 'SETP? 1'");
    expect_same_line("scpi", "scpi --json " + scpi + " '*IDN?'");
    expect_same_line("scpi", "scpi " + scpi);                       // usage: no command
    expect_same_line("modbus", "modbus " + modbus + " read-holding 0 1");
    expect_same_line("modbus", "modbus " + modbus + " read-input 0 -2");  // usage: negative count
    expect_same_line("rpc", "rpc http://" + address() + "/rpc Board.get_frequency 1");
    expect_same_line("rpc", "rpc http://" + address() + "/rpc Board.no_such_method");  // the board's error
}
