// tw shell: an interactive shell over a set of boards — every command runs
// synchronously, with history, line editing and tab completion (libedit), and
// Ctrl-C cancels the running command, not the shell.
//
//   tw shell --sim 4                        four simulated boards, in-process
//   tw shell --boards 10.0.0.1:9000+16      real boards (board-list syntax)
//   tw shell --sim 2 -c 'boards; use 1; call get_temperature'
//   echo 'tune all' | tw shell --boards boards.txt
//
// Commands: see shell_session.cpp (or `help` in the shell).
//
// Modes: with -c, the commands given and nothing else; otherwise, when stdin
// is a terminal, a prompt with libedit; otherwise commands are read from stdin
// line by line, with no prompt and no echo. In the two non-interactive modes
// the exit status is 1 if any command failed, and Ctrl-C cancels the running
// command and ends the run; interactively, Ctrl-C cancels the running command
// and brings the prompt back, Ctrl-C at the prompt clears the line, and
// Ctrl-D (or quit/exit) leaves with status 0.
//
// Threads and signals: the main thread edits lines and waits; each command
// runs on a fiber of the session's runtime (shell_session.hpp), and the
// simulated boards (--sim) on a runtime of their own. SIGINT is blocked in
// every runtime thread (they inherit the mask in force when they start), so
// it always reaches the main thread, whose handler only writes a byte to a
// self-pipe; the main thread, waiting in poll() for the command to finish,
// reads it and cancels the command's task (task::cancel is thread-safe).
// libedit installs no signal handlers (EL_SIGNAL off) and, while it edits a
// line, the terminal's ISIG is off (setty -d -isig): Ctrl-C then arrives as a
// character bound to "clear the line", so there is no SIGINT at the prompt.
//
// History: $TW_HISTORY, else ~/.tw_history; saved after every line; a file
// that cannot be read or written is no error.

#include "board_set.hpp"
#include "commands.hpp"
#include "shell_session.hpp"
#include "shell_words.hpp"
#include "verb_util.hpp"

#include <fcntl.h>
#include <histedit.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/core.h>

#include <tw/algorithms/registry.hpp>
#include <tw/errors.hpp>

namespace tw::cli {

namespace {

struct shell_options : board_flags {
    std::vector<std::string> plugins;
    std::string commands;
    bool has_commands = false;
    std::string timeout = "5s";
    std::size_t concurrency = algorithms::k_default_concurrency;
};

constexpr int k_history_size = 1000;

// ---- SIGINT -> self-pipe -----------------------------------------------------

int g_interrupt_write_fd = -1;

extern "C" void on_sigint(int) {
    const int saved = errno;  // the interrupted code may be about to read errno
    const char c = 1;
    [[maybe_unused]] auto n = ::write(g_interrupt_write_fd, &c, 1);
    errno = saved;
}

// Installs the SIGINT handler for the life of the shell and restores the
// previous disposition afterwards (tw's other commands keep their own).
class interrupt_pipe {
public:
    interrupt_pipe() {
        if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0)
            throw std::system_error(errno, std::generic_category(), "tw shell: pipe");
        g_interrupt_write_fd = fds_[1];
        struct sigaction sa {};
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        // Restart reads: at the prompt, libedit must keep reading after a
        // stray SIGINT (kill -INT) instead of reporting an error.
        sa.sa_flags = SA_RESTART;
        ::sigaction(SIGINT, &sa, &old_);
    }
    interrupt_pipe(const interrupt_pipe&) = delete;
    interrupt_pipe& operator=(const interrupt_pipe&) = delete;
    ~interrupt_pipe() {
        ::sigaction(SIGINT, &old_, nullptr);
        g_interrupt_write_fd = -1;
        ::close(fds_[0]);
        ::close(fds_[1]);
    }
    int read_fd() const noexcept { return fds_[0]; }

private:
    int fds_[2] = {-1, -1};
    struct sigaction old_ {};
};

// Blocks SIGINT in the calling thread while runtimes start their threads, so
// that they inherit the blocked mask; unblocks it again at scope exit.
class sigint_blocked {
public:
    sigint_blocked() {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGINT);
        ::pthread_sigmask(SIG_BLOCK, &s, &old_);
    }
    sigint_blocked(const sigint_blocked&) = delete;
    sigint_blocked& operator=(const sigint_blocked&) = delete;
    ~sigint_blocked() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

private:
    sigset_t old_;
};

// ---- running lines -----------------------------------------------------------

struct run_totals {
    std::size_t failed = 0;
    bool quit = false;
    bool cancelled = false;
};

// Runs every command of a line in order; a quit or a cancelled command ends the line.
void run_line(shell_session& s, const std::string& line, run_totals& totals) {
    std::vector<std::vector<std::string>> commands;
    try {
        commands = split_commands(line);
    } catch (const std::invalid_argument& e) {
        fmt::print(stderr, "tw: {}\n", e.what());
        ++totals.failed;
        return;
    }
    for (const auto& words : commands) {
        switch (s.execute(words)) {
            case command_status::ok: break;
            case command_status::failed: ++totals.failed; break;
            case command_status::cancelled:
                ++totals.failed;
                totals.cancelled = true;
                return;
            case command_status::quit: totals.quit = true; return;
        }
    }
}

// Lines of stdin, read with poll() so that a Ctrl-C while waiting for input
// ends the run like one during a command.
class stdin_lines {
public:
    explicit stdin_lines(int interrupt_fd) : interrupt_fd_(interrupt_fd) {}

    // The next line without its newline; nullopt at the end of input or when interrupted.
    std::optional<std::string> next() {
        for (;;) {
            if (const auto nl = buf_.find('\n'); nl != std::string::npos) {
                std::string line = buf_.substr(0, nl);
                buf_.erase(0, nl + 1);
                return line;
            }
            if (eof_) {
                if (buf_.empty()) return std::nullopt;
                return std::exchange(buf_, {});
            }
            pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {interrupt_fd_, POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) {
                if (errno == EINTR) continue;
                throw std::system_error(errno, std::generic_category(), "tw shell: poll");
            }
            if (fds[1].revents & POLLIN) {
                interrupted_ = true;
                return std::nullopt;
            }
            if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                char chunk[4096];
                const auto n = ::read(STDIN_FILENO, chunk, sizeof chunk);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0)
                    eof_ = true;
                else
                    buf_.append(chunk, static_cast<std::size_t>(n));
            }
        }
    }
    bool interrupted() const noexcept { return interrupted_; }

private:
    int interrupt_fd_;
    std::string buf_;
    bool eof_ = false;
    bool interrupted_ = false;
};

// ---- the interactive editor --------------------------------------------------

std::string history_path() {
    if (const char* p = std::getenv("TW_HISTORY"); p && *p) return p;
    if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.tw_history";
    return {};
}

// libedit on the terminal: the prompt, history, completion, Ctrl-C.
class line_editor {
public:
    explicit line_editor(shell_session& s) : session_(s), history_path_(history_path()) {
        hist_ = ::history_init();
        if (!hist_) throw std::runtime_error("tw shell: cannot set up the history");
        ::history(hist_, &ev_, H_SETSIZE, k_history_size);
        ::history(hist_, &ev_, H_SETUNIQUE, 1);
        if (!history_path_.empty()) ::history(hist_, &ev_, H_LOAD, history_path_.c_str());  // none yet: fine

        el_ = ::el_init("tw", stdin, stdout, stderr);
        if (!el_) {
            ::history_end(hist_);
            throw std::runtime_error("tw shell: cannot set up line editing on this terminal");
        }
        ::el_set(el_, EL_CLIENTDATA, this);
        ::el_set(el_, EL_EDITOR, "emacs");
        ::el_set(el_, EL_SIGNAL, 0);  // our SIGINT handler stays the only one
        ::el_set(el_, EL_HIST, ::history, hist_);
        ::el_set(el_, EL_PROMPT, &line_editor::prompt_of);
        ::el_source(el_, nullptr);  // the user's ~/.editrc, before our bindings so that those hold
        // Ctrl-C at the prompt is a key, not a signal (see the file comment).
        ::el_set(el_, EL_SETTY, "-d", "-isig", nullptr);
        ::el_set(el_, EL_ADDFN, "tw-complete", "Complete a command, algorithm, method or board", &line_editor::complete);
        ::el_set(el_, EL_BIND, "^I", "tw-complete", nullptr);
        ::el_set(el_, EL_ADDFN, "tw-interrupt", "Discard the line being edited", &line_editor::interrupt);
        ::el_set(el_, EL_BIND, "^C", "tw-interrupt", nullptr);
    }
    line_editor(const line_editor&) = delete;
    line_editor& operator=(const line_editor&) = delete;
    ~line_editor() {
        ::el_end(el_);  // restores the terminal
        ::history_end(hist_);
    }

    // The next line without its newline; nullopt at the end of input (Ctrl-D).
    std::optional<std::string> read_line() {
        prompt_ = session_.prompt();
        for (;;) {
            // Raw mode (ISIG off) before the prompt shows, not after: el_gets
            // prints the prompt first, and a Ctrl-C typed in between would
            // still be a signal (the terminal would flush the typed line).
            ::el_set(el_, EL_PREP_TERM, 1);
            int count = 0;
            const char* line = ::el_gets(el_, &count);
            if (!line) {
                if (count < 0 && errno == EINTR) continue;
                fmt::print("\n");  // leave the terminal on a fresh line
                std::fflush(stdout);
                return std::nullopt;
            }
            std::string text(line, static_cast<std::size_t>(count));
            while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
            return text;
        }
    }

    void remember(std::string line) {
        // Completion leaves a blank after a word: not part of what to recall.
        line.erase(line.find_last_not_of(" \t") + 1);
        if (line.empty()) return;
        ::history(hist_, &ev_, H_ENTER, line.c_str());
        // Saved after every line so that a killed shell loses nothing; a
        // read-only home or a bad $TW_HISTORY only costs the history.
        if (!history_path_.empty()) ::history(hist_, &ev_, H_SAVE, history_path_.c_str());
    }

private:
    static line_editor& of(EditLine* el) {
        void* self = nullptr;
        ::el_get(el, EL_CLIENTDATA, &self);
        return *static_cast<line_editor*>(self);
    }

    static char* prompt_of(EditLine* el) { return of(el).prompt_.data(); }

    static unsigned char complete(EditLine* el, int) {
        auto& self = of(el);
        const LineInfo* li = ::el_line(el);
        const std::string_view before(li->buffer, static_cast<std::size_t>(li->cursor - li->buffer));
        const auto start = before.find_last_of(" \t;");
        const auto word = start == std::string_view::npos ? before : before.substr(start + 1);
        const auto matches = self.session_.complete(before, word);
        if (matches.empty()) return CC_ERROR;  // libedit beeps
        if (matches.size() == 1) {
            const std::string rest = matches[0].substr(word.size()) + " ";
            ::el_insertstr(el, rest.c_str());
            return CC_REFRESH;
        }
        std::string common = matches[0];
        for (const auto& m : matches) {
            std::size_t n = 0;
            while (n < common.size() && n < m.size() && common[n] == m[n]) ++n;
            common.resize(n);
        }
        if (common.size() > word.size()) {
            ::el_insertstr(el, common.substr(word.size()).c_str());
            return CC_REFRESH;
        }
        // Ambiguous: list the choices below the line, then redraw it.
        std::string list = "\n";
        for (const auto& m : matches) list += m + "  ";
        list += "\n";
        std::fputs(list.c_str(), stdout);
        std::fflush(stdout);
        return CC_REDISPLAY;
    }

    static unsigned char interrupt(EditLine* el, int) {
        const LineInfo* li = ::el_line(el);
        ::el_cursor(el, static_cast<int>(li->lastchar - li->cursor));
        li = ::el_line(el);
        ::el_deletestr(el, static_cast<int>(li->cursor - li->buffer));
        std::fputs("^C\n", stdout);
        std::fflush(stdout);
        return CC_REDISPLAY;
    }

    shell_session& session_;
    std::string history_path_;
    std::string prompt_;
    History* hist_ = nullptr;
    HistEvent ev_{};
    EditLine* el_ = nullptr;
};

// ---- tw shell ----------------------------------------------------------------

void run_shell(const shell_options& o) {
    const auto timeout = timeout_option(o.timeout);

    interrupt_pipe interrupts;
    std::optional<sigint_blocked> blocked(std::in_place);
    // The shell may start without boards (algorithms, help and no_boards
    // algorithms still work); --sim boards run on a runtime of their own.
    auto set = board_set::from_flags(o.boards, o.sim, o.seed, o.channels, /*optional=*/true);

    for (const auto& p : o.plugins) {
        try {
            tw::algorithms::load_plugin(p);
        } catch (const tw::usage_error& e) {
            throw CLI::ValidationError("--plugin", e.what());
        }
    }

    shell_settings settings;
    settings.tuber.timeout = timeout;
    settings.concurrency = o.concurrency;
    shell_session session(set.boards, settings, interrupts.read_fd());
    blocked.reset();  // every runtime thread has started with SIGINT blocked

    run_totals totals;
    if (o.has_commands) {
        run_line(session, o.commands, totals);
    } else if (::isatty(STDIN_FILENO) == 1) {
        line_editor editor(session);
        while (!totals.quit) {
            auto line = editor.read_line();
            if (!line) break;
            editor.remember(*line);
            run_line(session, *line, totals);
            totals.cancelled = false;  // back to the prompt
        }
        return;  // interactive: leaving is success, whatever the commands did
    } else {
        stdin_lines lines(interrupts.read_fd());
        while (!totals.quit && !totals.cancelled) {
            auto line = lines.next();
            if (!line) break;
            run_line(session, *line, totals);
        }
        if (lines.interrupted()) throw tw::cancelled_error("shell: interrupted");
    }
    if (totals.cancelled) throw tw::cancelled_error("shell: interrupted");
    if (totals.failed)
        throw std::runtime_error(
            fmt::format("shell: {} command{} failed", totals.failed, totals.failed == 1 ? "" : "s"));
}

}  // namespace

void add_shell_command(CLI::App& app) {
    auto o = std::make_shared<shell_options>();
    auto* cmd = app.add_subcommand("shell", "Interactive shell: boards, calls, sweeps, tuning, any registered algorithm");
    add_board_flags(*cmd, *o, "(named sim-0, sim-1, ...)");
    cmd->add_option("--plugin", o->plugins, "Load the algorithms of a plugin library before the first command (repeatable)")
        ->option_text("LIB");
    cmd->add_option("-c", o->commands, "Run these commands ('cmd; cmd') and exit; status 1 if any failed")
        ->option_text("'CMD; CMD'");
    cmd->add_option("--timeout", o->timeout, "Per request to a board, e.g. 500ms, 2s")->capture_default_str();
    count_option(*cmd, "--concurrency", o->concurrency, "Boards at once for tune all, health and run (0: all)", 0,
                 k_max_concurrency)
        ->capture_default_str();
    cmd->footer(
        "Commands are read from a prompt on a terminal (type help), else from stdin, one line each.\n"
        "Ctrl-C cancels the running command; interactively the prompt comes back, otherwise the run ends.\n"
        "History: $TW_HISTORY, else ~/.tw_history.\n");
    cmd->callback([o, cmd] {
        o->has_commands = cmd->count("-c") > 0;
        run_shell(*o);
    });
}

}  // namespace tw::cli
