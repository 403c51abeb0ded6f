#pragma once
// tw::parse_address: a network address as people write it — "HOST:PORT",
// "[IPv6]:PORT" — split into host and port. The one parser of addresses: the
// drivers use it when they connect, and the tw command line uses it to refuse
// a mistyped address as a usage error before anything connects.
//
// Accepted: a non-empty HOST (a name, an IPv4 address, or an IPv6 address in
// brackets), a colon, and a PORT of decimal digits in 1..65535.
//
// Thread safety: a pure function.
// Errors: std::invalid_argument quoting the text and saying what is wrong —
// "missing port", "bad port 'x'", "port 99999 out of range 1..65535",
// "missing host", "IPv6 addresses go in brackets", "unbalanced brackets".
//
// Example:
//   auto a = tw::parse_address("[::1]:5025");   // a.host == "::1", a.port == 5025
//   tw::parse_address("10.0.0.7");              // throws: missing port

#include <cstdint>
#include <string>
#include <string_view>

namespace tw {

struct address_parts {
    std::string host;  // without brackets for IPv6
    std::uint16_t port = 0;
};

address_parts parse_address(std::string_view address);

}  // namespace tw
