#include "bench_common.hpp"

#include <sys/utsname.h>

#include <fstream>
#include <thread>

#include <boost/algorithm/string/trim.hpp>
#include <fmt/format.h>

namespace tw::cli {

std::string machine_string() {
    std::string cpu = "unknown CPU";
    std::ifstream f("/proc/cpuinfo");
    for (std::string line; std::getline(f, line);)
        if (line.rfind("model name", 0) == 0) {
            if (auto p = line.find(':'); p != std::string::npos) cpu = boost::algorithm::trim_copy(line.substr(p + 1));
            break;
        }
    utsname u{};
    ::uname(&u);
    return fmt::format("{}, {} cores, {} {} {}", cpu, std::thread::hardware_concurrency(), u.sysname, u.release, u.machine);
}

}  // namespace tw::cli
