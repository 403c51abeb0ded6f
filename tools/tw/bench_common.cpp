#include "bench_common.hpp"

#include <sys/utsname.h>

#include <fstream>
#include <thread>

#include <fmt/format.h>

namespace tw::cli {

std::string trim(std::string s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    const auto e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string machine_string() {
    std::string cpu = "unknown CPU";
    std::ifstream f("/proc/cpuinfo");
    for (std::string line; std::getline(f, line);)
        if (line.rfind("model name", 0) == 0) {
            if (auto p = line.find(':'); p != std::string::npos) cpu = trim(line.substr(p + 1));
            break;
        }
    utsname u{};
    ::uname(&u);
    return fmt::format("{}, {} cores, {} {} {}", cpu, std::thread::hardware_concurrency(), u.sysname, u.release, u.machine);
}

}  // namespace tw::cli
