#include "descriptor_budget.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace tw::algorithms::detail {

namespace {

// Descriptors open in this process now; 0 if /proc is not there.
std::size_t open_descriptors() {
    std::size_t n = 0;
    std::error_code ec;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
    return n;
}

}  // namespace

std::size_t descriptor_budget(std::size_t wanted, std::size_t items) {
    std::size_t cap = wanted ? std::min(wanted, items) : items;
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        const std::size_t limit = static_cast<std::size_t>(rl.rlim_cur);
        const std::size_t used = open_descriptors() + k_descriptor_reserve;
        cap = std::min(cap, limit > used ? limit - used : 0);
    }
    return std::max<std::size_t>(cap, 1);
}

}  // namespace tw::algorithms::detail
