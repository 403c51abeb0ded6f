// The child-process launcher of `tw bench` (child.hpp): posix_spawn with the
// child's stdout on a pipe. posix_spawn rather than fork: the parent may hold
// runtime threads, and a forked copy of a multi-threaded process may only call
// async-signal-safe functions before exec.

#include "child.hpp"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/core.h>

extern char** environ;

namespace tw::cli::bench {

namespace {

// Runs spawn() with the calling thread on `cpu` alone (if cpu >= 0), which the
// spawned process inherits from its first instruction on: pinning it
// afterwards, by pid, would race with the threads it starts.
template <class F>
int on_cpu(int cpu, F spawn) {
    if (cpu < 0) return spawn();
    cpu_set_t saved, one;
    if (::pthread_getaffinity_np(::pthread_self(), sizeof saved, &saved) != 0)
        throw std::runtime_error("bench: cannot read this thread's CPU affinity");
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (const int rc = ::pthread_setaffinity_np(::pthread_self(), sizeof one, &one); rc != 0)
        throw std::runtime_error(fmt::format("bench: cannot pin to CPU {}: {}", cpu, std::strerror(rc)));
    const int rc = spawn();
    ::pthread_setaffinity_np(::pthread_self(), sizeof saved, &saved);
    return rc;
}

}  // namespace

child_process::child_process(const std::string& path, const std::vector<std::string>& args, int cpu) {
    std::vector<std::string> a = args;  // posix_spawn takes char* const[]
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error(fmt::format("bench: pipe failed: {}", std::strerror(errno)));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    int rc = 0;
    try {
        rc = on_cpu(cpu, [&] { return ::posix_spawn(&pid_, path.c_str(), &fa, nullptr, argv.data(), environ); });
    } catch (...) {
        posix_spawn_file_actions_destroy(&fa);
        ::close(fds[0]);
        ::close(fds[1]);
        throw;
    }
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);  // the child's end: end of file reaches us when the child exits
    if (rc != 0) {
        ::close(fds[0]);
        pid_ = -1;
        throw std::runtime_error(fmt::format("bench: cannot start {}: {}", path, std::strerror(rc)));
    }
    out_ = fds[0];
}

child_process::~child_process() {
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        wait();
    }
    if (out_ >= 0) ::close(out_);
}

std::string child_process::read_line() {
    // A byte at a time: the simulator's start-up line is followed by nothing
    // until it is stopped, so reading ahead would block.
    std::string line;
    char c;
    while (::read(out_, &c, 1) == 1) {
        if (c == '\n') return line;
        line += c;
    }
    return line;
}

std::string child_process::read_all() {
    std::string s;
    char buf[4096];
    for (ssize_t k; (k = ::read(out_, buf, sizeof buf)) > 0;) s.append(buf, static_cast<std::size_t>(k));
    return s;
}

int child_process::wait() {
    if (pid_ < 0) return -1;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void child_process::terminate() {
    if (pid_ > 0) ::kill(pid_, SIGTERM);
}

}  // namespace tw::cli::bench
