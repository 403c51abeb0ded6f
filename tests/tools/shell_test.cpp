// tw shell end to end, as a separate process against in-process simulated
// boards: non-interactive runs (-c and commands on stdin) with results on
// stdout and one-line errors on stderr, and interactive runs through a
// pseudo-terminal (prompt, tab completion, Ctrl-C during a command and at the
// prompt, Ctrl-D, history).
//
// Every wait has a deadlock guard: output is awaited with poll() up to a
// deadline, and a child still running at the end is killed.
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli_test_util.hpp"

using tw_test::matches;
using tw_test::temp_path;

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// Generous: a loaded 2-core machine builds and tests in parallel.
constexpr auto k_deadlock_guard = 60s;

// ---- non-interactive runs ------------------------------------------------------

struct run_result {
    int status = -1;  // exit status; 128 + signal if killed
    std::string out, err;
};

// Runs `tw ARGS...` with `input` on stdin (a pipe, so not a terminal) and
// collects stdout and stderr separately (tw_test::run_tw gives no stdin and
// captures stderr only merged into stdout, so it does not serve here).
run_result run_piped(const std::vector<std::string>& args, const std::string& input = "") {
    int in[2], out[2], err[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0 || ::pipe(err) != 0) return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) ::close(fd);
        ::setenv("TW_HISTORY", "/nonexistent-dir/tw_history", 1);
        std::vector<char*> argv{const_cast<char*>(TW_BINARY)};
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(TW_BINARY, argv.data());
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    // The input is small (far below a pipe's buffer): write it all, then EOF.
    if (!input.empty()) [[maybe_unused]] auto n = ::write(in[1], input.data(), input.size());
    ::close(in[1]);

    run_result r;
    const auto deadline = steady::now() + k_deadlock_guard;
    bool out_open = true, err_open = true;
    while (out_open || err_open) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
        if (left <= 0) {
            ADD_FAILURE() << "tw did not finish within the deadlock guard; stdout so far:\n" << r.out << "\nstderr:\n" << r.err;
            ::kill(pid, SIGKILL);
            break;
        }
        pollfd fds[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
        if (::poll(fds, 2, static_cast<int>(left)) < 0 && errno != EINTR) break;
        std::array<char, 4096> buf;
        for (int k = 0; k < 2; ++k) {
            if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            const auto n = ::read(fds[k].fd, buf.data(), buf.size());
            if (n > 0)
                (k == 0 ? r.out : r.err).append(buf.data(), static_cast<std::size_t>(n));
            else
                (k == 0 ? out_open : err_open) = false;
        }
    }
    ::close(out[0]);
    ::close(err[0]);
    int st = 0;
    ::waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

std::string fmt_hex(unsigned char c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", c);
    return buf;
}

bool contains(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

// A JSON number alone on a line: what `call get_temperature` prints.
const std::string k_number_line = R"((^|\n)-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\r?\n)";

}  // namespace

TEST(ShellCli, CommandsOptionRunsEveryCommandInOrder) {
    auto r = run_piped({"shell", "--sim", "2", "--channels", "4", "-c", "boards; use 1; boards; call get_temperature"});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_EQ(r.err, "");
    // Before `use 1` board 0 is in use, after it board 1.
    EXPECT_TRUE(matches(r.out, R"(^\*   0  sim-0  127\.0\.0\.1:[0-9]+\n    1  sim-1  127\.0\.0\.1:[0-9]+\n)")) << r.out;
    EXPECT_TRUE(matches(r.out, R"(using board 1 \(sim-1, 127\.0\.0\.1:[0-9]+\)\n    0  sim-0  127\.0\.0\.1:[0-9]+\n\*   1  sim-1 )"))
        << r.out;
    EXPECT_TRUE(matches(r.out, k_number_line)) << r.out;
}

TEST(ShellCli, StdinCommandsRunLineByLineWithoutPrompts) {
    // Four resonators in 4–6 MHz; 250 Hz steps resolve every one of them.
    auto r = run_piped({"shell", "--sim", "2", "--channels", "4", "--seed", "3"},
                    "boards\nuse sim-1\ncall get_temperature\nsweep --fmin 4e6 --fmax 6e6 --points 8001\n");
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_FALSE(contains(r.out, "tw ")) << "no prompt expected:\n" << r.out;
    EXPECT_TRUE(contains(r.out, "using board 1 (sim-1, 127.0.0.1:")) << r.out;
    EXPECT_TRUE(matches(r.out, k_number_line)) << r.out;
    // As tw sweep prints it (tools/tw/sweep.hpp: one definition for both).
    EXPECT_TRUE(matches(r.out, R"(sweep 127\.0\.0\.1:[0-9]+ serial \S+ channel 0 amplitude 0\.5 samples [0-9]+\npoints 8001 \(4\.000000 to 6\.000000 MHz)"))
        << r.out;
    EXPECT_TRUE(matches(r.out, R"(resonances 4\n( +[0-9]+  [0-9]\.[0-9]{7} MHz  depth 0\.[0-9]+  Q [0-9]+\n){4})")) << r.out;
}

TEST(ShellCli, AMistypedCommandGetsAGuess) {
    auto r = run_piped({"shell", "--sim", "1", "--channels", "4", "-c", "baords"});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_TRUE(matches(r.err, R"(^tw: unknown command 'baords': did you mean 'boards'\? \(try help\)\n)")) << r.err;
}

TEST(ShellCli, UnknownCommandFailsButTheNextCommandStillRuns) {
    auto r = run_piped({"shell", "--sim", "1", "--channels", "4", "-c", "bogus 1 2; boards"});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_TRUE(matches(r.err, R"(^tw: unknown command 'bogus' \(try help\)\n)")) << r.err;
    EXPECT_TRUE(contains(r.err, "1 command failed")) << r.err;
    EXPECT_TRUE(contains(r.out, "*   0  sim-0  127.0.0.1:")) << r.out;
}

TEST(ShellCli, BadArgumentsAndBoardErrorsAreOneLineAndTheShellGoesOn) {
    auto r = run_piped({"shell", "--sim", "1", "--channels", "4"},
                    "sweep --fmin 6e6 --fmax 4e6 --points 100\n"
                    "use 7\n"
                    "call set_frequency 0 1\n"
                    "call get_temperature\n"
                    "call 'unterminated\n");
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_TRUE(contains(r.err, "tw: sweep: --fmin: must be below --fmax (usage: sweep [--fmin HZ] ")) << r.err;
    EXPECT_TRUE(contains(r.err, "tw: use: no board 7 (the boards are 0 to 0)")) << r.err;
    // The board's own error names the argument (docs/WIRE_FORMATS.md, The simulated Board object).
    EXPECT_TRUE(matches(r.err, R"(\ntw: call: [^\n]*argument 'hz' must be a number in [^\n]*\n)")) << r.err;
    EXPECT_TRUE(contains(r.err, "unterminated ' quote")) << r.err;
    EXPECT_TRUE(contains(r.err, "4 commands failed")) << r.err;
    // The board is still usable after its error.
    EXPECT_TRUE(matches(r.out, k_number_line)) << r.out;
}

TEST(ShellCli, QuitStopsTheRemainingCommands) {
    auto r = run_piped({"shell", "--sim", "1", "--channels", "4", "-c", "quit; bogus"});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_EQ(r.err, "");
}

TEST(ShellCli, WithoutBoardsBoardCommandsSayHowToGetSome) {
    auto r = run_piped({"shell", "-c", "boards; call get_temperature; help"});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "no boards (start the shell with --boards SPEC or --sim N)")) << r.out;
    EXPECT_TRUE(contains(r.err, "tw: call: the shell has no boards")) << r.err;
    EXPECT_TRUE(matches(r.out, R"(\nsweep \[--fmin HZ\][^\n]* +Sweep the board in use)")) << r.out;
}

TEST(ShellCli, RegisteredAlgorithmsRunByName) {
    auto r = run_piped({"shell", "--sim", "2", "--channels", "4", "--seed", "3", "-c",
                     "algorithms; help tune_board; use 1; run find_resonances points=8001; run find_resonances points=x; "
                     "run no_such_algorithm"});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_TRUE(matches(r.out, R"((^|\n)tune_board +Sweep, find resonances)")) << r.out;
    EXPECT_TRUE(matches(r.out, R"(\n  amplitude=number +carrier amplitude)")) << r.out;
    // Four channels, so four resonances, as JSON.
    EXPECT_TRUE(matches(r.out, R"(\n127\.0\.0\.1:[0-9]+ \(sim-1\)  ok  \{"points":8001,"resonances":\[(\{"frequency":[-0-9.E]+,"depth":[-0-9.E]+[^}]*\},?){4}\]\}\n)"))
        << r.out;
    EXPECT_TRUE(matches(r.err, R"((^|\n)tw: run: find_resonances: points='x' is not an integer \(usage: run NAME)")) << r.err;
    EXPECT_TRUE(matches(r.err, R"(tw: run: unknown algorithm 'no_such_algorithm' \(known: [^\n]*tune_board)")) << r.err;
    EXPECT_TRUE(contains(r.err, "2 commands failed")) << r.err;
}

TEST(ShellCli, HealthPrintsOneRowPerBoard) {
    auto r = run_piped({"shell", "--sim", "3", "--channels", "4", "-c", "health"});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    for (int i = 0; i < 3; ++i)
        EXPECT_TRUE(matches(r.out, "\\n127\\.0\\.0\\.1:[0-9]+ +sim-" + std::to_string(i) + " +ok +TWB-0000" + std::to_string(i) + " "))
            << r.out;
    // tw health's summary line (health.hpp: one definition for both).
    EXPECT_TRUE(matches(r.out, R"(\nhealth: 3 boards: 3 ok \([0-9.]+ s\)\n)")) << r.out;
}

TEST(ShellCli, PluginAlgorithmsAreLoadedBeforeTheFirstCommand) {
    auto r = run_piped({"shell", "--sim", "1", "--channels", "4", "--plugin", TW_PLUGIN_PATH, "-c",
                     "algorithms; run temperature_stats readings=3"});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_TRUE(matches(r.out, R"((^|\n)temperature_stats +N temperature readings)")) << r.out;
    EXPECT_TRUE(matches(r.out, R"(\n127\.0\.0\.1:[0-9]+ \(sim-0\)  ok  \{"readings":3,"min":[-0-9.E]+,"mean":[-0-9.E]+,"max":[-0-9.E]+\}\n)")) << r.out;
}

TEST(ShellCli, UsageErrorsExitTwo) {
    EXPECT_EQ(run_piped({"shell", "--sim", "1", "--boards", "127.0.0.1:1", "-c", "boards"}).status, 2);
    EXPECT_EQ(run_piped({"shell", "--boards", "127.0.0.1:1", "--seed", "4", "-c", "boards"}).status, 2);
    EXPECT_EQ(run_piped({"shell", "--boards", "nonsense", "-c", "boards"}).status, 2);
    EXPECT_EQ(run_piped({"shell", "--plugin", "/nonexistent/libnothing.so", "-c", "boards"}).status, 2);
}

// ---- through a pseudo-terminal ----------------------------------------------

namespace {

// Control characters as C escapes, so that a failure message shows what the
// terminal received rather than what it would draw.
std::string escaped(const std::string& text) {
    std::string out;
    for (unsigned char c : text) {
        if (c == '\n')
            out += "\\n\n";
        else if (c < 0x20 || c == 0x7f)
            out += fmt_hex(c);
        else
            out += static_cast<char>(c);
    }
    return out;
}

// `tw shell ARGS` on a pseudo-terminal: what a user at a terminal sees.
class pty_shell {
public:
    explicit pty_shell(const std::vector<std::string>& args, const std::string& history) {
        winsize ws{};
        ws.ws_row = 40;
        ws.ws_col = 200;
        pid_ = ::forkpty(&master_, nullptr, nullptr, &ws);
        if (pid_ == 0) {
            ::setenv("TW_HISTORY", history.c_str(), 1);
            ::setenv("TERM", "xterm", 1);
            std::vector<char*> argv{const_cast<char*>(TW_BINARY), const_cast<char*>("shell")};
            for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            ::execv(TW_BINARY, argv.data());
            ::_exit(127);
        }
    }
    pty_shell(const pty_shell&) = delete;
    pty_shell& operator=(const pty_shell&) = delete;
    ~pty_shell() {
        if (pid_ > 0 && !exited_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (master_ >= 0) ::close(master_);
    }

    bool started() const { return pid_ > 0 && master_ >= 0; }

    void type(const std::string& keys) {
        ASSERT_EQ(::write(master_, keys.data(), keys.size()), static_cast<ssize_t>(keys.size()));
    }

    // Waits until the output since the last successful wait matches `re`;
    // false (with the output in the failure message) at the deadline.
    bool wait_for(const std::string& re) {
        const std::regex pattern(re);
        const auto deadline = steady::now() + k_deadlock_guard;
        for (;;) {
            std::smatch m;
            if (std::regex_search(unread_, m, pattern)) {
                seen_ = unread_.substr(0, static_cast<std::size_t>(m.position(0) + m.length(0)));
                unread_.erase(0, seen_.size());
                return true;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
            if (left <= 0 || !read_some(static_cast<int>(left))) {
                ADD_FAILURE() << "waited in vain for /" << re << "/; output: " << escaped(unread_ + pending_);
                return false;
            }
        }
    }
    // The output consumed by the last successful wait_for.
    const std::string& seen() const { return seen_; }

    // Waits for the shell to exit; its exit status, or -1 at the deadline.
    int wait_exit() {
        const auto deadline = steady::now() + k_deadlock_guard;
        while (steady::now() < deadline) {
            int st = 0;
            const pid_t r = ::waitpid(pid_, &st, WNOHANG);
            if (r == pid_) {
                exited_ = true;
                return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            }
            // Drains the terminal (the child must never block on a full pty)
            // and sleeps in poll until it says something or hangs up.
            if (!read_some(100)) {
                // Hung up: the child is exiting; waitpid above reaps it.
                ::waitpid(pid_, &st, 0);
                exited_ = true;
                return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            }
        }
        ADD_FAILURE() << "the shell did not exit; output: " << escaped(unread_ + pending_);
        return -1;
    }

private:
    // Reads what is there within `ms`; false when the terminal hung up.
    bool read_some(int ms) {
        pollfd p{master_, POLLIN, 0};
        const int n = ::poll(&p, 1, ms);
        if (n < 0) return errno == EINTR;
        if (n == 0) return true;
        std::array<char, 4096> buf;
        const auto got = ::read(master_, buf.data(), buf.size());
        if (got <= 0) return false;  // EIO: the child closed the terminal
        pending_.append(buf.data(), static_cast<std::size_t>(got));
        strip_escapes();
        return true;
    }

    // Moves pending_ to unread_ without terminal control sequences (libedit
    // positions the cursor with "\r" and CSI sequences such as ESC [ 22 G), so that
    // the text a user sees is what the patterns match. An incomplete
    // sequence at the end waits for the next read.
    void strip_escapes() {
        std::size_t i = 0;
        while (i < pending_.size()) {
            if (pending_[i] == '\r' && i + 1 == pending_.size()) break;  // what follows decides
            if (pending_[i] == '\r' && pending_[i + 1] == '\x1b') {
                ++i;  // "\r ESC [ 14 G": back to the start, then to a column — a move within the line
                continue;
            }
            if (pending_[i] != '\x1b') {
                if (pending_[i] != '\a') unread_ += pending_[i];  // the bell of a failed completion
                ++i;
                continue;
            }
            if (i + 1 >= pending_.size()) break;
            if (pending_[i + 1] != '[') {
                i += 2;  // a two-byte escape
                continue;
            }
            std::size_t j = i + 2;
            while (j < pending_.size() && !(pending_[j] >= '@' && pending_[j] <= '~')) ++j;
            if (j >= pending_.size()) break;
            i = j + 1;
        }
        pending_.erase(0, i);
    }

    pid_t pid_ = -1;
    int master_ = -1;
    bool exited_ = false;
    std::string pending_, unread_, seen_;
};

const std::string k_prompt = R"(tw sim-[0-9]+> )";

}  // namespace

TEST(ShellPty, CommandOutputAndTabCompletion) {
    const auto history = temp_path("shell", "history_completion");
    std::remove(history.c_str());
    pty_shell sh({"--sim", "4", "--channels", "4"}, history);
    ASSERT_TRUE(sh.started());
    ASSERT_TRUE(sh.wait_for(k_prompt));
    sh.type("boards\r");
    ASSERT_TRUE(sh.wait_for(R"(\*   0  sim-0  127\.0\.0\.1:[0-9]+\r\n    1  sim-1 [^\n]*\n    2  sim-2 [^\n]*\n    3  sim-3 )"));
    ASSERT_TRUE(sh.wait_for(k_prompt));

    // A command name: "cal" + Tab -> "call ".
    sh.type("cal\t");
    ASSERT_TRUE(sh.wait_for("call $"));
    // A board method from the board's resolve metadata: "get_te" + Tab.
    sh.type("get_te\t");
    ASSERT_TRUE(sh.wait_for("get_temperature $"));
    sh.type("\r");
    ASSERT_TRUE(sh.wait_for(R"(\r\n-?[0-9]+\.[0-9]+([eE][-+]?[0-9]+)?\r\n)"));
    EXPECT_FALSE(contains(sh.seen(), "tw:")) << sh.seen();
    ASSERT_TRUE(sh.wait_for(k_prompt));

    // Board names after `use `, then a selection shows in the prompt.
    sh.type("use sim-\t");
    ASSERT_TRUE(sh.wait_for("sim-0  sim-1  sim-2  sim-3"));
    sh.type("2\r");
    ASSERT_TRUE(sh.wait_for(R"(using board 2 \(sim-2, )"));
    ASSERT_TRUE(sh.wait_for("tw sim-2> "));

    sh.type("\x04");  // Ctrl-D
    EXPECT_EQ(sh.wait_exit(), 0);

    // History: one line per command, as completed, in libedit's format
    // (blanks as \040).
    const auto saved = tw_test::read_file(history);
    EXPECT_TRUE(matches(saved, R"(\nboards\ncall\\040get_temperature\nuse\\040sim-2\n)")) << saved;
    std::remove(history.c_str());
}

TEST(ShellPty, CtrlCCancelsTheRunningCommandAndTheShellStaysUsable) {
    const auto history = temp_path("shell", "history_interrupt");
    // 8 boards of 256 channels: tuning takes seconds, far longer than the
    // moment between its first progress line and the Ctrl-C that follows it.
    pty_shell sh({"--sim", "8", "--channels", "256", "--concurrency", "4"}, history);
    ASSERT_TRUE(sh.started());
    ASSERT_TRUE(sh.wait_for(k_prompt));
    sh.type("tune all\r");
    ASSERT_TRUE(sh.wait_for(R"(tune all: 0/8 done, 0 failed, 4 in flight)"));
    sh.type("\x03");
    // As tw tune does (tune.hpp): the summary still comes, unfinished boards counted as cancelled.
    ASSERT_TRUE(sh.wait_for(R"(\n  cancelled +[1-8]\r?\n)"));
    ASSERT_TRUE(sh.wait_for("cancelled"));  // the shell says the command was cancelled
    ASSERT_TRUE(sh.wait_for(k_prompt));

    // The cancelled command left no fiber behind: the dump shows only its own.
    sh.type("dump\r");
    ASSERT_TRUE(sh.wait_for(R"(1 fiber\(s\)\r\n  \[0\] 'shell: dump' running)"));
    ASSERT_TRUE(sh.wait_for(k_prompt));
    // The boards still answer.
    sh.type("boards\r");
    ASSERT_TRUE(sh.wait_for("    7  sim-7  127.0.0.1:"));
    ASSERT_TRUE(sh.wait_for(k_prompt));
    sh.type("call get_temperature\r");
    ASSERT_TRUE(sh.wait_for(R"(\r\n-?[0-9]+\.[0-9]+([eE][-+]?[0-9]+)?\r\n)"));
    ASSERT_TRUE(sh.wait_for(k_prompt));

    // A verb the shell runs as `tw VERB` (a child process): Ctrl-C reaches it
    // once, it stops, and the shell stays.
    sh.type("sim --boards 1 --scpi 0 --modbus 0\r");
    ASSERT_TRUE(sh.wait_for(R"(tuber 127\.0\.0\.1:[0-9]+)"));
    sh.type("\x03");
    ASSERT_TRUE(sh.wait_for("cancelled"));
    ASSERT_TRUE(sh.wait_for(k_prompt));

    sh.type("quit\r");
    EXPECT_EQ(sh.wait_exit(), 0);
    std::remove(history.c_str());
}

TEST(ShellPty, CtrlCAtThePromptClearsTheLine) {
    // Also: a history file that cannot be written costs only the history.
    pty_shell sh({"--sim", "2", "--channels", "4"}, "/nonexistent-dir/tw_history");
    ASSERT_TRUE(sh.started());
    ASSERT_TRUE(sh.wait_for(k_prompt));
    // Without the clearing, the next line would read "bogusboards".
    sh.type("bogus");
    sh.type("\x03");
    ASSERT_TRUE(sh.wait_for(R"(\^C\r?\n)"));
    sh.type("boards\r");
    ASSERT_TRUE(sh.wait_for(R"(    1  sim-1  127\.0\.0\.1:)"));
    EXPECT_FALSE(contains(sh.seen(), "unknown command")) << sh.seen();
    ASSERT_TRUE(sh.wait_for(k_prompt));
    sh.type("\x04");
    EXPECT_EQ(sh.wait_exit(), 0);
}
