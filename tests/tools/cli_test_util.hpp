#pragma once
// cli_test_util: what the tests of the tw program (tests/tools) share — run
// the tw binary through the shell and capture its exit status and output,
// name per-process temporary files, read and write them, and look at text.
//
//   run_tw(args, options)     runs `TW_BINARY args`; stdout (and by default
//                             stderr, or stderr apart) captured, exit status
//                             or 128 + signal.
//   run_shell(command)        the same for any shell command.
//   temp_path(prefix, name)   <gtest temp dir>/tw_<prefix>_<pid>_<name>.
//   read_file, write_file, read_json, well_formed_xml, matches, count_of.
//
// TW_BINARY (the tw executable's path) is a compile definition of every test
// target that includes this header (tests/tools/CMakeLists.txt).
//
// Thread safety: the functions keep no state; call them from any thread.
// Errors: none thrown for a failed command — its status says so (-1 when the
// shell could not be started); read_json throws (Boost.JSON's exceptions)
// when the file is not a JSON object.
//
// Example:
//   const auto report = tw_test::temp_path("tune", "ok.json");
//   auto r = tw_test::run_tw("tune --sim 2 --report " + report);
//   ASSERT_EQ(r.status, 0) << r.output;
//   EXPECT_EQ(tw_test::read_json(report).at("schema").as_int64(), 1);
//   auto j = tw_test::run_tw("health --sim 2 --json", tw_test::k_stdout_only);
//   auto h = tw_test::run_tw("health --sim 2 --fault stall --timeout 1h",
//                            tw_test::k_interrupted_after_1_5s);
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace tw_test {

struct command_result {
    int status = -1;  // exit status, or 128 + signal; -1 if it never ran
    std::string output;
    std::string error;  // stderr, with run_options::separate_stderr
};

struct run_options {
    // stderr into `output`, interleaved with stdout; false leaves it on the
    // test's own stderr (the test log), so `output` is stdout alone.
    bool merge_stderr = true;
    // stderr into `error`, apart from stdout (what usage errors are checked on).
    bool separate_stderr = false;
    // A command prefix that runs tw, e.g. "timeout 10"; empty runs tw directly.
    std::string wrapper;
};

// The option sets the tests use.
// `output` is stdout alone (a JSON document); stderr goes to the test log.
inline const run_options k_stdout_only{.merge_stderr = false};
// The deadlock guard: `timeout` ends a tw that hangs (TERM after 120 s, KILL
// 5 s later; status 124 or 137, never a pass).
inline const std::string k_deadlock_guard = "timeout -k 5 120";
inline const run_options k_hang_guarded{.wrapper = k_deadlock_guard};
// The deadlock guard, with stderr apart from stdout: for usage errors, which
// must say one line on stderr and nothing on stdout.
inline const run_options k_usage_checked{.merge_stderr = false, .separate_stderr = true, .wrapper = k_deadlock_guard};
// SIGINT after 1.5 s, tw's exit status kept: what an interrupted run leaves.
inline const run_options k_interrupted_after_1_5s{.wrapper = "timeout --preserve-status -s INT 1.5"};

// Runs `command` with /bin/sh; what it writes to stdout is captured.
inline command_result run_shell(const std::string& command) {
    command_result r;
    FILE* p = ::popen(command.c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
    const int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

// The whole file, or "" if it cannot be read.
inline std::string read_file(const std::string& path);

// Runs `tw args` (args as a shell would split them).
inline command_result run_tw(const std::string& args, const run_options& options = {}) {
    std::string command = std::string(TW_BINARY) + " " + args;
    if (!options.wrapper.empty()) command = options.wrapper + " " + command;
    std::string error_file;
    if (options.separate_stderr) {
        // mkstemp needs its template to end in six X (as written below) and replaces them with a unique suffix.
        std::string name = ::testing::TempDir() + "tw_stderr_XXXXXX";
        const int fd = ::mkstemp(name.data());
        if (fd < 0) return {};
        ::close(fd);
        error_file = name;
        command += " 2>" + error_file;
    } else if (options.merge_stderr) {
        command += " 2>&1";
    }
    auto r = run_shell(command);
    if (!error_file.empty()) {
        r.error = read_file(error_file);
        std::remove(error_file.c_str());
    }
    return r;
}

// A path unique to this test process, e.g. temp_path("tune", "ok.json").
inline std::string temp_path(const std::string& prefix, const std::string& name) {
    return ::testing::TempDir() + "tw_" + prefix + "_" + std::to_string(::getpid()) + "_" + name;
}

// The whole file, or "" if it cannot be read.
inline std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Atomically (a file of its own, then renamed): CTest runs each test in a
// process of its own, several at once, and test binaries write their fixture
// files while they start, so another process may be reading the same path.
inline void write_file(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp" + std::to_string(::getpid());
    std::ofstream(tmp, std::ios::binary) << text;
    std::filesystem::rename(tmp, path);
}

// A JSON report written by tw (tune --report, apply's input).
inline boost::json::object read_json(const std::string& path) {
    return boost::json::parse(read_file(path)).as_object();
}

// An independent XML parser (Python's minidom) says whether the file is
// well-formed: status 0 if so, else the parser's message in `output`.
inline command_result well_formed_xml(const std::string& path) {
    return run_shell("timeout -k 5 60 /usr/bin/python3 -c "
                     "'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' " +
                     path + " 2>&1");
}

// Whether the regular expression `re` matches somewhere in `text`.
inline bool matches(const std::string& text, const std::string& re) { return std::regex_search(text, std::regex(re)); }

// Non-overlapping occurrences of `what` in `text`.
inline std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + what.size())) ++n;
    return n;
}

}  // namespace tw_test
