#pragma once
// The one child-process launcher of `tw bench`: starts a program with its
// stdout on a pipe, reads what it prints, waits for it. Both benchmarks need a
// fresh process per measurement (micro: one side of an isolated figure; fanout:
// one client, the simulator, Python asyncio) so that RSS and CPU time belong to
// what is measured alone.
//
// Errors: the constructor throws std::runtime_error when the pipe or
// posix_spawn fails; wait() returns the exit code (128 + signal when killed).
// The destructor sends SIGTERM to a child not yet waited for, then reaps it.
//
// Example:
//   tw::cli::bench::child_process c(tw::cli::bench::self_exe(), {"tw", "bench", "micro", "--child-side", "tw"});
//   std::string out = c.read_all();
//   if (c.wait() != 0) throw std::runtime_error("child failed");

#include <sys/types.h>

#include <string>
#include <vector>

namespace tw::cli::bench {

// This program, re-executed for child measurements (the path is resolved by
// the kernel at spawn time, so it works wherever tw is installed).
inline const char* self_exe() { return "/proc/self/exe"; }

class child_process {
public:
    // args[0] is the name the child sees as argv[0]. cpu >= 0: the child and
    // every thread it starts run on that CPU only.
    child_process(const std::string& path, const std::vector<std::string>& args, int cpu = -1);
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process();

    // One line of stdout, without its '\n' ("" at end of file).
    std::string read_line();
    // Everything the child prints until it closes stdout.
    std::string read_all();
    // Reaps the child: its exit code, 128 + signal number if killed, -1 if already reaped.
    int wait();
    // Asks the child to stop (SIGTERM); wait() still reaps it.
    void terminate();
    // Its process id (-1 once reaped).
    pid_t pid() const noexcept { return pid_; }

private:
    pid_t pid_ = -1;
    int out_ = -1;
};

}  // namespace tw::cli::bench
