#pragma once
// Shared by the libFuzzer harnesses (tests/fuzz): the input as text, and a
// check that stops the run with a message when a property does not hold
// (libFuzzer then saves the input as a crash-* file).
//
// A harness catches exactly the errors its parser documents (protocol_error,
// std::invalid_argument, ...); anything else escaping it is a finding: an
// uncaught exception aborts, and libFuzzer reports it with the input.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace tw::fuzz {

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// Splits off the first byte (a harness's mode switch); 0 for empty input.
inline std::uint8_t take_byte(std::string_view& in) {
    if (in.empty()) return 0;
    const auto b = static_cast<std::uint8_t>(in.front());
    in.remove_prefix(1);
    return b;
}

[[noreturn]] inline void fail(const char* what) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
}

inline void require(bool ok, const char* what) {
    if (!ok) fail(what);
}

}  // namespace tw::fuzz
