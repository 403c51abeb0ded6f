// fd_limit_child LIMIT ADDRESS...: the process side of
// HealthCheck.AllBoardsAtOnceUnderALowDescriptorLimitWaitTheirTurn
// (health_test.cpp). Lowers its RLIMIT_NOFILE to LIMIT, runs health_check
// over the addresses with concurrency 0 (all at once), prints one line per
// board that is not ok and then "ok N of M"; exits 0 when every board is ok,
// 1 when one is not, 2 when it cannot set up.
//
// A process of its own, not a fork of the test: the limit applies to the
// whole process, and the simulator serving the boards (in the test process)
// needs far more descriptors than LIMIT.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <tw/algorithms/health.hpp>
#include <tw/tw.hpp>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: fd_limit_child LIMIT ADDRESS...\n");
        return 2;
    }
    // The test's simulator sockets are not close-on-exec (Asio opens sockets
    // without SOCK_CLOEXEC): drop them, they are not ours to count.
    ::close_range(3, ~0U, 0);
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = std::strtoul(argv[1], nullptr, 10);
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        std::perror("setrlimit");
        return 2;
    }
    const std::vector<std::string> addresses(argv + 2, argv + argc);
    const auto out = tw::run([&] {
        tw::deadline_scope guard(std::chrono::seconds(60));  // a deadlock guard, never reached when it works
        return tw::algorithms::health_check(addresses, {.concurrency = 0});
    });
    std::size_t ok = 0;
    for (const auto& h : out) {
        if (h.status == tw::algorithms::health_status::ok)
            ++ok;
        else
            std::printf("%s %s %s\n", h.address.c_str(), tw::algorithms::to_string(h.status), h.error.c_str());
    }
    std::printf("ok %zu of %zu\n", ok, out.size());
    return ok == out.size() ? 0 : 1;
}
