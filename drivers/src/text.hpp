#pragma once
// Text helpers of the drivers' parsers (internal: not installed).
//
// trim() is on the path of every SCPI and Tuber reply, so it is a plain
// std::isspace loop over a view: Boost's trim_copy classifies through a
// std::locale, a reference-counted copy per call.
//
// Example: trim(" +4.2E1\r\n") == "+4.2E1"

#include <cctype>
#include <string_view>

namespace tw::detail {

inline std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

}  // namespace tw::detail
