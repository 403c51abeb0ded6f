// System calls per round trip, counted by strace (syscalls.hpp).

#include "syscalls.hpp"

#include "child.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/core.h>

namespace tw::cli::bench {

namespace {

using counts = std::map<std::string, std::pair<double, double>>;

counts traced_run(const std::string& strace, const command& c) {
    char tmpl[] = "/tmp/tw-bench-strace-XXXXXX";  // mkstemp fills in the Xs
    const int fd = ::mkstemp(tmpl);
    if (fd < 0) throw std::runtime_error("bench fanout: cannot create a file for strace's summary");
    ::close(fd);
    const std::string file = tmpl;
    // /proc/self/exe would name strace itself once strace runs it.
    const std::string path = c.path == self_exe() ? std::filesystem::read_symlink(c.path).string() : c.path;
    std::vector<std::string> args = {"strace", "-f", "-c", "-o", file, "--", path};
    args.insert(args.end(), c.args.begin() + 1, c.args.end());
    child_process p(strace, args);
    (void)p.read_all();  // the client's JSON line: its timings are the tracer's, not kept
    const int rc = p.wait();
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    std::filesystem::remove(file);
    if (rc != 0) throw std::runtime_error(fmt::format("bench fanout: the client under strace failed (exit {})", rc));
    return parse_strace_summary(text.str());
}

}  // namespace

std::string strace_path() {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/bin:/bin");
    for (std::string d; std::getline(dirs, d, ':');)
        if (!d.empty() && ::access((d + "/strace").c_str(), X_OK) == 0) return d + "/strace";
    return "";
}

counts parse_strace_summary(const std::string& text) {
    // % time     seconds  usecs/call     calls    errors syscall
    // ------ ----------- ----------- --------- --------- ----------------
    //  55.82    8.315799       45441       183        74 futex
    //   9.16    1.363994          13    101000           sendmsg
    counts out;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::vector<std::string> w;
        for (std::string x; words >> x;) w.push_back(x);
        if (w.size() != 5 && w.size() != 6) continue;
        char* end = nullptr;
        const double calls = std::strtod(w[3].c_str(), &end);
        if (end == w[3].c_str() || *end) continue;  // the header
        const double errors = w.size() == 6 ? std::strtod(w[4].c_str(), nullptr) : 0;
        if (w.back() != "total") out[w.back()] = {calls, errors};
    }
    return out;
}

syscall_counts count_syscalls(const command& shorter, const command& longer, double extra_rts) {
    const auto strace = strace_path();
    if (strace.empty()) throw std::runtime_error("bench fanout: --syscalls needs strace (Debian: apt-get install strace)");
    const auto a = traced_run(strace, shorter);
    const auto b = traced_run(strace, longer);
    auto diff = b;  // longer − shorter, name by name (a call may appear in one run only)
    for (const auto& [name, v] : a) {
        diff[name].first -= v.first;
        diff[name].second -= v.second;
    }
    syscall_counts c;
    for (const auto& [name, v] : diff) {
        c.per_rt += v.first / extra_rts;
        c.failed_per_rt += v.second / extra_rts;
        if (v.first / extra_rts >= 0.01) c.by_name[name] = v.first / extra_rts;
    }
    return c;
}

}  // namespace tw::cli::bench
