#pragma once
// System calls per round trip for `tw bench fanout --syscalls`: runs a client
// child under `strace -f -c` twice, with 1 and with R+1 timed round trips per
// connection, and takes the difference, so that start-up, connect and
// teardown cancel out and what remains is the steady state of R round trips
// per connection (docs/BENCHMARKS.md "Fan-out"). The short run is short so
// that the rate is one run's: how often a read finds nothing depends on the
// load, and differs from run to run. A tracer slows every call,
// which makes a read after a write find its reply waiting more often than in
// an untraced run: failed calls (EAGAIN) are a lower bound.
//
// Errors: strace missing, or a traced child failing, throws
// std::runtime_error naming it.
//
// Example:
//   auto c = count_syscalls(cmd_with(100), cmd_with(200), 100 * 100);
//   c.per_rt;              // e.g. 2.03 (a sendmsg and a recvfrom, a few epoll_wait)
//   c.by_name["recvfrom"]; // 1.01

#include <map>
#include <string>
#include <vector>

namespace tw::cli::bench {

// A program to run: its path and its argv (argv[0] first).
struct command {
    std::string path;
    std::vector<std::string> args;
};

struct syscall_counts {
    double per_rt = 0;         // every system call
    double failed_per_rt = 0;  // those that failed (mostly EAGAIN: a read with nothing to read)
    std::map<std::string, double> by_name;  // per round trip, calls made at least once per 100 round trips
};

// strace's path, or "" if it is not installed.
std::string strace_path();

// `shorter` and `longer` differ only in their round trips: `extra_rts` more in
// `longer`, summed over connections.
syscall_counts count_syscalls(const command& shorter, const command& longer, double extra_rts);

// strace -c's summary table -> name -> {calls, errors} ("total" left out).
std::map<std::string, std::pair<double, double>> parse_strace_summary(const std::string& text);

}  // namespace tw::cli::bench
