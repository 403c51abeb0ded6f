#include <tw/drivers/checked.hpp>

#include <boost/json/serialize.hpp>
#include <fmt/core.h>

namespace tw::detail {

void throw_unchecked(const std::string& address, std::string_view name, std::string_view value, std::string_view problem,
                     std::string_view lo, std::string_view hi) {
    throw protocol_error(address, fmt::format("{} is {}, {} the range [{}, {}]", name, value, problem, lo, hi));
}

std::string number_text(double v) { return fmt::format("{}", v); }
std::string number_text(long long v) { return fmt::format("{}", v); }
std::string number_text(unsigned long long v) { return fmt::format("{}", v); }

// Long values (a string of a megabyte) are cut: the message is for a log line.
std::string json_text(const boost::json::value& v) {
    auto s = boost::json::serialize(v);
    constexpr std::size_t k_max = 64;
    if (s.size() > k_max) s = s.substr(0, k_max) + "...";
    return s;
}

}  // namespace tw::detail
