#pragma once
// tw shell's state and commands: the boards, the one in use, a connection per
// board, and the command table (boards, use, call, sweep, tune, health, run,
// algorithms, help, dump, quit). shell.cpp owns the terminal, the history and
// the signals; this file owns what a command does. call, sweep, tune, health
// and run parse their words through the definitions their tw verbs use
// (call.hpp, sweep.hpp, tune.hpp, health.hpp, run.hpp); tw's other verbs
// (scpi, modbus, rpc, cooldown, apply, sim, ...) run as `tw VERB ...` in a
// child process, Ctrl-C forwarded to it.
//
// Threads: the session owns a tw::runtime with one worker thread. execute()
// is called by the shell's main thread; it runs the command on a fiber of that
// runtime and blocks until the fiber ends, watching `interrupt_fd` meanwhile:
// whenever that descriptor becomes readable (the SIGINT handler writes to it),
// the command's task is cancelled — its blocking calls throw
// tw::cancelled_error, its fibers unwind, its connections are closed so they
// are reusable — and execute() reports it as cancelled.
//
// Thread safety: one thread calls execute(), complete() and prompt(), one at a
// time (the main thread); they never overlap a running command because
// execute() blocks.
// Errors: execute() never throws for a command's failure; it prints one line
// to stderr and returns command_status::failed.
//
// Example:
//   tw::cli::shell_session s({{"sim-0", "127.0.0.1:41234"}}, {}, interrupt_fd);
//   s.execute({"call", "get_temperature"});   // prints the result as JSON: 4.173E1
//   s.complete("call get_te", "get_te");      // {"get_temperature"}

#include <cstddef>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <tw/algorithms/defaults.hpp>
#include <tw/drivers/tuber/board.hpp>
#include <tw/runtime.hpp>

#include "board_list.hpp"

namespace tw::cli {

enum class command_status { ok, failed, cancelled, quit };

struct shell_settings {
    tuber::options tuber{};        // per connection to a board
    std::size_t concurrency = algorithms::k_default_concurrency;  // boards at once for `tune all`, `health`, `run`
};

class shell_session {
public:
    shell_session(std::vector<board_entry> boards, shell_settings settings, int interrupt_fd);
    shell_session(const shell_session&) = delete;
    shell_session& operator=(const shell_session&) = delete;
    ~shell_session();

    // Runs one command (words[0] is its name) on a fiber; see the file comment.
    command_status execute(const std::vector<std::string>& words);

    // Completions of `word`, the word under the cursor, whose line up to the
    // cursor is `before_cursor` (which ends with `word`).
    std::vector<std::string> complete(std::string_view before_cursor, std::string_view word);

    // "tw sim-1> ": the board in use, for the prompt.
    std::string prompt() const;

    // The command names, for help and completion.
    static std::vector<std::string> command_names();

private:
    struct command;
    static const std::vector<command>& commands();
    static const command* find_command(std::string_view name);

    // Commands, run on a fiber of rt_; they throw to fail (bad_arguments for
    // a usage mistake).
    void cmd_boards(const std::vector<std::string>& args);
    void cmd_use(const std::vector<std::string>& args);
    void cmd_call(const std::vector<std::string>& args);
    void cmd_sweep(const std::vector<std::string>& args);
    void cmd_tune(const std::vector<std::string>& args);
    void cmd_health(const std::vector<std::string>& args);
    void cmd_run(const std::vector<std::string>& args);
    void cmd_algorithms(const std::vector<std::string>& args);
    void cmd_help(const std::vector<std::string>& args);
    void cmd_dump(const std::vector<std::string>& args);

    // The board in use; tw::usage_error when the shell has no boards.
    std::size_t current() const;
    std::string board_label(std::size_t i) const;  // "1 (sim-1, 127.0.0.1:41240)"
    // The connection to board i, made on first use (on a fiber of rt_).
    tuber::board& board(std::size_t i);
    std::vector<std::string> addresses() const;
    // Board methods of the board in use, from its `resolve` metadata, asked once.
    const std::vector<std::string>& board_methods();

    std::vector<board_entry> boards_;
    shell_settings settings_;
    int interrupt_fd_;
    int done_fds_[2] = {-1, -1};  // the command fiber writes to [1] when it ends
    std::size_t current_ = 0;
    std::map<std::size_t, std::vector<std::string>> methods_;  // board index -> method names
    tw::runtime rt_;
    // Declared after rt_: destroyed first, and on a fiber of rt_ (~shell_session),
    // because their sockets belong to rt_'s io_context.
    std::map<std::size_t, std::unique_ptr<tuber::board>> connections_;
};

}  // namespace tw::cli
