#include <tw/drivers/address.hpp>

#include <charconv>
#include <stdexcept>
#include <system_error>

namespace tw {

address_parts parse_address(std::string_view address) {
    auto fail = [&](const std::string& why) -> address_parts {
        throw std::invalid_argument("invalid address '" + std::string(address) + "': " + why +
                                    " (expected HOST:PORT or [IPv6]:PORT)");
    };
    const auto colon = address.rfind(':');
    // "[::1]" has colons but no port: the last colon must follow the bracket.
    const auto bracket = address.rfind(']');
    if (colon == std::string_view::npos || (bracket != std::string_view::npos && colon < bracket))
        return fail("missing port");
    std::string_view host = address.substr(0, colon);
    const std::string_view port = address.substr(colon + 1);
    if (host.empty()) return fail("missing host");
    if (host.front() == '[') {
        if (host.size() < 3 || host.back() != ']') return fail("unbalanced brackets");
        host = host.substr(1, host.size() - 2);
    } else if (host.find_first_of(":[]") != std::string_view::npos) {
        return fail(host.find(':') != std::string_view::npos ? "IPv6 addresses go in brackets" : "unbalanced brackets");
    }
    if (port.empty()) return fail("missing port");
    // Digits only: from_chars alone would take "80x" as 80.
    if (port.find_first_not_of("0123456789") != std::string_view::npos) return fail("bad port '" + std::string(port) + "'");
    unsigned long value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || value == 0 || value > 65535)
        return fail("port " + std::string(port) + " out of range 1..65535");
    return {std::string(host), static_cast<std::uint16_t>(value)};
}

}  // namespace tw
