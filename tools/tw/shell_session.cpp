// tw shell's commands: see shell_session.hpp.
#include "shell_session.hpp"
#include "shell_words.hpp"

#include "call.hpp"
#include "commands.hpp"
#include "health.hpp"
#include "run.hpp"
#include "tune.hpp"

#include "suggest.hpp"
#include "sweep.hpp"
#include "verb_util.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <system_error>

#include <fmt/core.h>

#include <tw/algorithms/registry.hpp>
#include <tw/deadline.hpp>
#include <tw/errors.hpp>
#include <tw/run.hpp>

extern char** environ;

namespace tw::cli {

namespace {

namespace alg = tw::algorithms;

using namespace std::chrono_literals;

// A mistake in a command's arguments: printed with the command's usage.
class bad_arguments : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// Parses a command's words with the definition its `tw` verb uses (call.hpp,
// sweep.hpp), so that the shell and the command line read them alike.
// Returns false when the words asked for help, which is then printed.
template <class Declare>
bool parse_words(std::string_view name, const std::vector<std::string>& words, Declare&& declare) {
    CLI::App app{"", std::string(name)};
    declare(app);
    std::vector<std::string> reversed(words.rbegin(), words.rend());  // CLI11 consumes from the back
    try {
        app.parse(reversed);
    } catch (const CLI::CallForHelp&) {
        fmt::print("{}", app.help());
        return false;
    } catch (const CLI::ParseError& e) {
        throw bad_arguments(e.what());
    }
    return true;
}

// How long tab completion may wait for a board's `resolve` metadata: the
// user is waiting at the prompt, and an unreachable board must not freeze it.
constexpr auto k_completion_deadline = 2s;

void drain(int fd) {
    char buf[64];
    while (::read(fd, buf, sizeof buf) > 0) {
    }
}

void print_line(const std::string& text) {
    fmt::print("{}\n", text);
    std::fflush(stdout);
}

// tw's verbs that the shell has no command of its own for (scpi, modbus, rpc,
// cooldown, apply, sim, bench, completion): the shell runs them as `tw VERB
// ARGS...`, so that they are those verbs exactly, options, output and exit
// status included. `shell` itself is left out.
const std::vector<std::string>& tw_verbs() {
    static const std::vector<std::string> verbs = [] {
        CLI::App app;
        add_all_commands(app);
        std::vector<std::string> out;
        for (const auto* sub : app.get_subcommands({}))
            if (sub->get_name() != "shell") out.push_back(sub->get_name());
        return out;
    }();
    return verbs;
}

// Runs `tw WORDS...` as a child process and waits for it. Its stdin is
// /dev/null (the shell's stdin holds the shell's own commands), and it has a
// process group of its own, so that a Ctrl-C reaches it once, forwarded from
// the shell when `interrupt_fd` becomes readable. Returns its exit status
// (128 + signal if a signal ended it) and whether it was interrupted.
std::pair<int, bool> run_child(const std::vector<std::string>& words, int interrupt_fd) {
    std::vector<std::string> argv_text{"tw"};
    argv_text.insert(argv_text.end(), words.begin(), words.end());
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, interrupt;
    sigemptyset(&none);
    sigemptyset(&interrupt);
    sigaddset(&interrupt, SIGINT);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &interrupt);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw std::system_error(rc, std::generic_category(), "tw shell: cannot start tw " + words[0]);

    // pidfd: the child's end is one more descriptor to poll beside the interrupts.
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    bool interrupted = false;
    while (pidfd >= 0) {
        pollfd fds[2] = {{pidfd, POLLIN, 0}, {interrupt_fd, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[1].revents & POLLIN) {
            drain(interrupt_fd);
            interrupted = true;
            ::kill(pid, SIGINT);
        }
        if (fds[0].revents & POLLIN) break;
    }
    if (pidfd >= 0) ::close(pidfd);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), interrupted};
}

}  // namespace

// ---- the command table -------------------------------------------------------

struct shell_session::command {
    std::string_view name;
    std::string_view usage;
    std::string_view help;
    void (shell_session::*run)(const std::vector<std::string>&);
};

const std::vector<shell_session::command>& shell_session::commands() {
    static const std::vector<command> table = {
        {"boards", "boards", "List the boards: index, name, address; * marks the one in use", &shell_session::cmd_boards},
        {"use", "use N|NAME", "Select the board the next commands talk to, by index or name", &shell_session::cmd_use},
        {"call", "call [--property|--resolve|--json] [OBJECT.]NAME [ARG...] [NAME=VALUE...]",
         "Call a Tuber method of the board in use, or read a property (as tw call; call --help)",
         &shell_session::cmd_call},
        {"sweep", "sweep [--fmin HZ] [--fmax HZ] [--points N] [--amplitude A] [--channel C] [--csv F] [--plot F]",
         "Sweep the board in use and list its resonances (as tw sweep; sweep --help)", &shell_session::cmd_sweep},
        {"tune", "tune [all] [--concurrency N] [--amplitude A] [--deadline DUR] [--report F] [--plot F] [--quiet]",
         "Tune the board in use (all: every board), as tw tune (tune --help)", &shell_session::cmd_tune},
        {"health", "health [--timeout DUR] [--deadline DUR] [--max-temp C] [--min-temp C] [--json]",
         "Check every board: the table (or JSON) of tw health (health --help)", &shell_session::cmd_health},
        {"run", "run NAME [ARG...] [--json]",
         "Run a registered algorithm on the board in use (or on all boards if it takes the whole list), as tw run",
         &shell_session::cmd_run},
        {"algorithms", "algorithms", "List the registered algorithms", &shell_session::cmd_algorithms},
        {"help", "help [COMMAND|ALGORITHM]", "Describe the commands, one command, or an algorithm",
         &shell_session::cmd_help},
        {"dump", "dump", "Show the shell runtime's live fibers (names, what each waits on, for how long)",
         &shell_session::cmd_dump},
        {"quit", "quit", "Leave the shell (also: exit, Ctrl-D)", nullptr},
        {"exit", "exit", "Leave the shell (also: quit, Ctrl-D)", nullptr},
    };
    return table;
}

const shell_session::command* shell_session::find_command(std::string_view name) {
    for (const auto& c : commands())
        if (c.name == name) return &c;
    return nullptr;
}

std::vector<std::string> shell_session::command_names() {
    std::vector<std::string> out;
    for (const auto& c : commands()) out.emplace_back(c.name);
    return out;
}

// ---- session -----------------------------------------------------------------

shell_session::shell_session(std::vector<board_entry> boards, shell_settings settings, int interrupt_fd)
    : boards_(std::move(boards)),
      settings_(std::move(settings)),
      interrupt_fd_(interrupt_fd),
      rt_(tw::runtime_options{.threads = 1, .name = "tw-shell"}) {
    if (::pipe2(done_fds_, O_CLOEXEC | O_NONBLOCK) != 0)
        throw std::system_error(errno, std::generic_category(), "tw shell: pipe");
}

shell_session::~shell_session() {
    // The connections' sockets belong to rt_'s io_context: close them there.
    try {
        rt_.run([this] { connections_.clear(); });
    } catch (const std::exception&) {
        // The runtime is going away in a moment anyway; its shutdown closes what is left.
    }
    ::close(done_fds_[0]);
    ::close(done_fds_[1]);
}

std::string shell_session::prompt() const {
    if (boards_.empty()) return "tw> ";
    const auto& b = boards_[current_];
    return fmt::format("tw {}> ", b.name.empty() ? b.address : b.name);
}

std::size_t shell_session::current() const {
    if (boards_.empty())
        throw tw::usage_error("the shell has no boards (start it with --boards SPEC or --sim N)");
    return current_;
}

std::string shell_session::board_label(std::size_t i) const {
    const auto& b = boards_[i];
    return b.name.empty() ? fmt::format("{} ({})", i, b.address) : fmt::format("{} ({}, {})", i, b.name, b.address);
}

tuber::board& shell_session::board(std::size_t i) {
    auto& slot = connections_[i];
    if (!slot) {
        auto opts = settings_.tuber;
        opts.log = verb_log();
        slot = std::make_unique<tuber::board>(boards_[i].address, std::move(opts));
    }
    return *slot;
}

std::vector<std::string> shell_session::addresses() const {
    std::vector<std::string> out;
    for (const auto& b : boards_) out.push_back(b.address);
    return out;
}

command_status shell_session::execute(const std::vector<std::string>& words) {
    if (words.empty()) return command_status::ok;
    const command* cmd = find_command(words[0]);
    if (!cmd && std::find(tw_verbs().begin(), tw_verbs().end(), words[0]) != tw_verbs().end()) {
        drain(interrupt_fd_);
        const auto [status, interrupted] = run_child(words, interrupt_fd_);
        if (interrupted) {
            fmt::print(stderr, "cancelled\n");
            return command_status::cancelled;
        }
        return status == 0 ? command_status::ok : command_status::failed;
    }
    if (!cmd) {
        auto known = command_names();
        known.insert(known.end(), tw_verbs().begin(), tw_verbs().end());
        if (const auto near = did_you_mean(words[0], known))
            fmt::print(stderr, "tw: unknown command '{}': did you mean '{}'? (try help)\n", words[0], *near);
        else
            fmt::print(stderr, "tw: unknown command '{}' (try help)\n", words[0]);
        return command_status::failed;
    }
    if (!cmd->run) return command_status::quit;

    // A Ctrl-C that arrived while no command ran (at the prompt, or between
    // two commands of a line) is not meant for this one.
    drain(interrupt_fd_);
    drain(done_fds_[0]);
    const std::vector<std::string> args(words.begin() + 1, words.end());
    const int done_fd = done_fds_[1];
    auto task = rt_.spawn(spawn_options{.name = fmt::format("shell: {}", words[0])}, [this, cmd, &args, done_fd] {
        // Tells the main thread that the command is over, however it ends.
        struct notify_done {
            int fd;
            ~notify_done() {
                std::fflush(stdout);
                const char c = 1;
                [[maybe_unused]] auto n = ::write(fd, &c, 1);
            }
        } notify{done_fd};
        (this->*(cmd->run))(args);
    });

    // Wait for the command, cancelling it whenever SIGINT arrives (a second
    // Ctrl-C cancels again, in case the first hit a cancellation shield).
    bool interrupted = false;
    for (;;) {
        pollfd fds[2] = {{done_fds_[0], POLLIN, 0}, {interrupt_fd_, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;  // the SIGINT itself; its byte is in the pipe
            throw std::system_error(errno, std::generic_category(), "tw shell: poll");
        }
        if (fds[1].revents & POLLIN) {
            drain(interrupt_fd_);
            interrupted = true;
            task.cancel("interrupted (Ctrl-C)");
        }
        if (fds[0].revents & POLLIN) break;
    }

    try {
        task.get();
        return command_status::ok;
    } catch (const std::exception& e) {
        std::fflush(stdout);
        // Whatever error the unwinding produced, the user asked for it to stop.
        if (interrupted || dynamic_cast<const tw::cancelled_error*>(&e)) {
            fmt::print(stderr, "cancelled\n");
            return command_status::cancelled;
        }
        // CLI::Error: a check of a definition shared with a tw verb (call.hpp, sweep.hpp).
        // A shared check may name the verb itself ("sweep: the band ..."): once is enough.
        std::string_view what = e.what();
        if (what.starts_with(cmd->name) && what.substr(cmd->name.size()).starts_with(": ")) what.remove_prefix(cmd->name.size() + 2);
        if (dynamic_cast<const bad_arguments*>(&e) || dynamic_cast<const CLI::Error*>(&e))
            fmt::print(stderr, "tw: {}: {} (usage: {})\n", cmd->name, what, cmd->usage);
        else
            fmt::print(stderr, "tw: {}: {}\n", cmd->name, what);
        return command_status::failed;
    }
}

// ---- commands ----------------------------------------------------------------

void shell_session::cmd_boards(const std::vector<std::string>& args) {
    if (!args.empty()) throw bad_arguments("takes no arguments");
    if (boards_.empty()) {
        print_line("no boards (start the shell with --boards SPEC or --sim N)");
        return;
    }
    std::size_t name_width = 4;
    for (const auto& b : boards_) name_width = std::max(name_width, b.name.size());
    for (std::size_t i = 0; i < boards_.size(); ++i)
        fmt::print("{} {:>3}  {:<{}}  {}\n", i == current_ ? '*' : ' ', i,
                   boards_[i].name.empty() ? "-" : boards_[i].name, name_width, boards_[i].address);
    std::fflush(stdout);
}

void shell_session::cmd_use(const std::vector<std::string>& args) {
    if (args.size() != 1) throw bad_arguments("expected one board index or name");
    current();
    const auto& want = args[0];
    std::optional<std::size_t> found;
    if (!want.empty() && want.find_first_not_of("0123456789") == std::string::npos && want.size() < 10) {
        const auto i = static_cast<std::size_t>(std::stoul(want));
        if (i >= boards_.size())
            throw bad_arguments(fmt::format("no board {} (the boards are 0 to {})", i, boards_.size() - 1));
        found = i;
    } else {
        for (std::size_t i = 0; i < boards_.size() && !found; ++i)
            if (boards_[i].name == want || boards_[i].address == want) found = i;
        if (!found) throw bad_arguments(fmt::format("no board named '{}' (see boards)", want));
    }
    current_ = *found;
    print_line("using board " + board_label(current_));
}

void shell_session::cmd_call(const std::vector<std::string>& args) {
    call_words w;
    if (!parse_words("call", args, [&](CLI::App& app) { add_call_words(app, w); })) return;
    check_call_words(w);
    print_line(call_result_text(perform_call(board(current()).tuber(), w), w.json));
}

void shell_session::cmd_sweep(const std::vector<std::string>& args) {
    sweep_words w;
    if (!parse_words("sweep", args, [&](CLI::App& app) { add_sweep_words(app, w); })) return;
    std::FILE* const out = check_sweep_words(w);
    sweep_board(board(current()), w, out, "");
}

void shell_session::cmd_tune(const std::vector<std::string>& args) {
    // `tune all ...`: every board; `tune ...`: the board in use.
    const bool all = !args.empty() && args[0] == "all";
    tune_words w;
    w.concurrency = settings_.concurrency;  // the shell's --concurrency, unless the command gives its own
    w.quiet = ::isatty(STDERR_FILENO) != 1;  // a scripted shell's stderr gets no progress lines
    const std::vector<std::string> words(args.begin() + (all ? 1 : 0), args.end());
    if (!parse_words("tune", words, [&](CLI::App& app) { add_tune_words(app, w); })) return;
    const auto checked = check_tune_words(w);
    const auto i = current();
    const std::vector<board_entry> boards = all ? boards_ : std::vector<board_entry>{boards_[i]};
    tune_boards(boards, w, checked, {.label = all ? "tune all" : "tune"}, [](const std::function<void()>& work) {
        try {
            work();
            return false;
        } catch (const tw::cancelled_error&) {
            return true;  // Ctrl-C: the summary and report still come
        }
    });
}

void shell_session::cmd_health(const std::vector<std::string>& args) {
    health_words w;
    w.concurrency = settings_.concurrency;  // the shell's --concurrency, unless the command gives its own
    if (!parse_words("health", args, [&](CLI::App& app) { add_health_words(app, w); })) return;
    auto ho = health_options_of(w);
    current();  // no boards: say how to get some
    std::vector<std::optional<alg::board_health>> results(boards_.size());
    ho.on_board = [&](std::size_t i, const alg::board_health& h) { results[i] = h; };
    const auto t0 = std::chrono::steady_clock::now();
    bool interrupted = false;
    try {
        alg::health_check(addresses(), ho);
    } catch (const tw::cancelled_error&) {
        interrupted = true;  // Ctrl-C: the table still shows what finished
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    print_health(boards_, std::move(results), interrupted, elapsed, w.json);
}

void shell_session::cmd_run(const std::vector<std::string>& args) {
    run_words w;
    if (!parse_words("run", args, [&](CLI::App& app) { add_run_words(app, w); })) return;
    const auto run = parse_run_words(w);
    alg::run_context ctx;
    if (run.algorithm->runs_on == alg::target::each_board)
        ctx.boards = {boards_.at(current()).address};
    else if (run.algorithm->runs_on == alg::target::all_boards) {
        current();  // no boards: say how to get some
        ctx.boards = addresses();
    }
    ctx.tuber = settings_.tuber;
    ctx.concurrency = settings_.concurrency;
    ctx.print = [](const std::string& line) {
        fmt::print("{}\n", line);
        std::fflush(stdout);
    };
    print_run(run, alg::registry::run(*run.algorithm, ctx, run.arguments), boards_, w.json);
}

void shell_session::cmd_algorithms(const std::vector<std::string>& args) {
    if (!args.empty()) throw bad_arguments("takes no arguments");
    const auto list = alg::registry::global().list();
    std::size_t width = 0;
    for (const auto* a : list) width = std::max(width, a->name.size());
    for (const auto* a : list) fmt::print("{:<{}}  {}\n", a->name, width, a->help);
    std::fflush(stdout);
}

void shell_session::cmd_help(const std::vector<std::string>& args) {
    if (args.size() > 1 && args[0] == "run") return cmd_help({args[1]});
    if (args.size() > 1) throw bad_arguments("expected at most one COMMAND or ALGORITHM");
    if (args.empty()) {
        std::size_t width = 0;
        for (const auto& c : commands()) width = std::max(width, c.usage.size());
        for (const auto& c : commands()) fmt::print("{:<{}}  {}\n", c.usage, width, c.help);
        std::string verbs;
        for (const auto& v : tw_verbs())
            if (!find_command(v)) verbs += (verbs.empty() ? "" : ", ") + v;
        fmt::print("\nAlso tw's other verbs, run as `tw VERB ...` would: {} (VERB --help).\n", verbs);
        fmt::print("Several commands on a line: separate them with ';'. Ctrl-C cancels the running command.\n");
        std::fflush(stdout);
        return;
    }
    if (const auto* c = find_command(args[0])) {
        print_line(fmt::format("{}\n  {}", c->usage, c->help));
        return;
    }
    if (const auto* a = alg::registry::global().find(args[0])) {
        fmt::print("{}", alg::registry::usage(*a));
        std::fflush(stdout);
        return;
    }
    throw bad_arguments(fmt::format("'{}' is neither a command nor a registered algorithm", args[0]));
}

void shell_session::cmd_dump(const std::vector<std::string>& args) {
    if (!args.empty()) throw bad_arguments("takes no arguments");
    fmt::print("{}", rt_.dump_text());
    std::fflush(stdout);
}

// ---- completion --------------------------------------------------------------

const std::vector<std::string>& shell_session::board_methods() {
    const auto i = current();
    if (auto it = methods_.find(i); it != methods_.end()) return it->second;
    auto names = rt_.run([&] {
        tw::deadline_scope d(k_completion_deadline);
        std::vector<std::string> out;
        for (const auto& [name, info] : board(i).tuber().resolve("Board").methods) out.push_back(name);
        return out;
    });
    return methods_[i] = std::move(names);
}

std::vector<std::string> shell_session::complete(std::string_view before_cursor, std::string_view word) {
    // The words of this command (after the last ';') before the one being
    // completed decide what it can be. Quotes are not interpreted: completion
    // only offers names, which never need them.
    auto prior = before_cursor.substr(0, before_cursor.size() - word.size());
    if (const auto semi = prior.rfind(';'); semi != std::string_view::npos) prior.remove_prefix(semi + 1);
    std::vector<std::string> context;
    for (std::size_t p = 0; p < prior.size();) {
        const auto b = prior.find_first_not_of(" \t", p);
        if (b == std::string_view::npos) break;
        const auto e = std::min(prior.find_first_of(" \t", b), prior.size());
        context.emplace_back(prior.substr(b, e - b));
        p = e;
    }

    std::vector<std::string> candidates;
    if (context.empty()) {
        candidates = command_names();
        candidates.insert(candidates.end(), tw_verbs().begin(), tw_verbs().end());
    } else if (context.size() == 1) {
        const auto& cmd = context[0];
        if (cmd == "run" || cmd == "help") {
            for (const auto* a : alg::registry::global().list()) candidates.push_back(a->name);
            if (cmd == "help")
                for (auto& n : command_names()) candidates.push_back(std::move(n));
        } else if (cmd == "call" && !boards_.empty()) {
            try {
                candidates = board_methods();
            } catch (const std::exception&) {
                return {};  // board unreachable: nothing to offer, the prompt stays usable
            }
        } else if (cmd == "use") {
            for (std::size_t i = 0; i < boards_.size(); ++i) {
                candidates.push_back(std::to_string(i));
                if (!boards_[i].name.empty()) candidates.push_back(boards_[i].name);
            }
        } else if (cmd == "tune") {
            candidates = {"all"};
        }
    }
    std::vector<std::string> out;
    for (auto& c : candidates)
        if (c.starts_with(word)) out.push_back(std::move(c));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace tw::cli
