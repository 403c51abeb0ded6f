#pragma once
// Durations as people type them (docs/WIRE_FORMATS.md, Durations): a number
// with a unit `ns`,
// `us`, `ms`, `s`, `m` or `h` — "200us", "1.5s", "2m" — where a bare number
// means seconds ("0.25"). Shared by the tw command line, the simulator's fault
// grammar and anything else that reads durations from text.
//
// Thread safety: pure functions.
// Errors: parse_duration throws std::invalid_argument with a message that
// quotes the text and shows the accepted forms.
//
// Example:
//   auto d = tw::parse_duration("1.5s");       // 1'500'000'000 ns
//   std::string s = tw::format_duration(d);    // "1.5s"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace tw {

inline std::chrono::nanoseconds parse_duration(std::string_view text) {
    auto fail = [&](const char* why) -> std::chrono::nanoseconds {
        throw std::invalid_argument("invalid duration '" + std::string(text) + "': " + why +
                                    " (expected a number with a unit ns, us, ms, s, m or h, e.g. 200us or 1.5s; "
                                    "a bare number means seconds)");
    };
    std::string_view t = text;
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    if (t.empty()) return fail("empty");
    double value = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
    if (ec != std::errc() || end == t.data()) return fail("no number");
    std::string_view unit(end, static_cast<std::size_t>(t.data() + t.size() - end));
    double ns_per_unit = 0;
    if (unit.empty() || unit == "s")
        ns_per_unit = 1e9;
    else if (unit == "ns")
        ns_per_unit = 1;
    else if (unit == "us")
        ns_per_unit = 1e3;
    else if (unit == "ms")
        ns_per_unit = 1e6;
    else if (unit == "m")
        ns_per_unit = 60e9;
    else if (unit == "h")
        ns_per_unit = 3600e9;
    else
        return fail("unknown unit");
    if (!std::isfinite(value) || value < 0) return fail("must be a finite number >= 0");
    const double ns = value * ns_per_unit;
    if (ns > 9.2e18) return fail("too long");
    return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ns)));
}

// The shortest of the forms parse_duration reads back exactly where possible:
// "0s", "250ns", "200us", "1.5ms", "2s", "1.5s", "90s".
inline std::string format_duration(std::chrono::nanoseconds d) {
    const auto ns = d.count();
    if (ns == 0) return "0s";
    struct unit {
        std::int64_t ns;
        const char* name;
    };
    constexpr unit units[] = {{1'000'000'000, "s"}, {1'000'000, "ms"}, {1'000, "us"}, {1, "ns"}};
    for (const auto& u : units) {
        if (ns >= u.ns || u.ns == 1) {
            if (ns % u.ns == 0) return std::to_string(ns / u.ns) + u.name;
            char buf[64];
            auto [p, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<double>(ns) / static_cast<double>(u.ns));
            (void)ec;
            return std::string(buf, p) + u.name;
        }
    }
    return std::to_string(ns) + "ns";
}

}  // namespace tw
