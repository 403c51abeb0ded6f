#pragma once
// tw::checked: a number that came from a peer, checked against the range the
// driver documents for it (docs/DRIVERS.md) at the place where it enters the
// program, before anything sizes an allocation or narrows it with a cast. A
// value outside the range, not finite, not an integer where one is expected,
// or not a number at all is a tw::protocol_error that names the value, the
// property and the range:
//
//   127.0.0.1:9000: Board.NCHANNELS is 20000000, outside the range [1, 4096]
//   127.0.0.1:9000: Board.NCHANNELS is 2.5, not an integer in the range [1, 4096]
//   127.0.0.1:9000: Board.FMAX is 1e+308, outside the range [0, 10000000000]
//
// For an integral T the value must be a whole number (2.0 is 2); the range
// check is made before the conversion, so no out-of-range cast can happen
// (static_cast<int>(1e10) would be undefined behaviour). For a floating-point
// T the value must be finite (Boost.JSON reads 1e999 as infinity).
//
// Thread safety: pure functions.
// Errors: tw::protocol_error as above (code() 0: the peer said no error).
//
// Example:
//   int n = tw::checked<int>(address, "Board.NCHANNELS", reply_value, 1, 4096);
//   double k = tw::checked<double>(address, "KRDG? 1", 4.2, 0.0, 1000.0);

#include <cmath>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <boost/json/value.hpp>

#include <tw/drivers/errors.hpp>

namespace tw {

namespace detail {
// Throws the protocol_error: "<name> is <value>, <problem> the range [lo, hi]".
[[noreturn]] void throw_unchecked(const std::string& address, std::string_view name, std::string_view value,
                                  std::string_view problem, std::string_view lo, std::string_view hi);
std::string number_text(double v);
std::string number_text(long long v);
std::string number_text(unsigned long long v);
std::string json_text(const boost::json::value& v);

template <class T>
[[noreturn]] void fail_checked(const std::string& address, std::string_view name, std::string_view value,
                               std::string_view problem, T lo, T hi) {
    if constexpr (std::floating_point<T>)
        throw_unchecked(address, name, value, problem, number_text(static_cast<double>(lo)), number_text(static_cast<double>(hi)));
    else if constexpr (std::signed_integral<T>)
        throw_unchecked(address, name, value, problem, number_text(static_cast<long long>(lo)),
                        number_text(static_cast<long long>(hi)));
    else
        throw_unchecked(address, name, value, problem, number_text(static_cast<unsigned long long>(lo)),
                        number_text(static_cast<unsigned long long>(hi)));
}

// An integer from the peer (already an integer type): within [lo, hi]?
template <std::integral T, std::integral I>
T checked_integer(const std::string& address, std::string_view name, I v, T lo, T hi, std::string_view text) {
    if (std::cmp_less(v, lo) || std::cmp_greater(v, hi)) fail_checked(address, name, text, "outside", lo, hi);
    return static_cast<T>(v);
}
}  // namespace detail

template <class T>
    requires std::integral<T> || std::floating_point<T>
T checked(const std::string& address, std::string_view name, double v, T lo, T hi) {
    if constexpr (std::floating_point<T>) {
        if (!std::isfinite(v)) detail::fail_checked(address, name, detail::number_text(v), "not a finite number in", lo, hi);
        if (v < static_cast<double>(lo) || v > static_cast<double>(hi)) detail::fail_checked(address, name, detail::number_text(v), "outside", lo, hi);
        return static_cast<T>(v);
    } else {
        if (!std::isfinite(v) || v != std::floor(v))
            detail::fail_checked(address, name, detail::number_text(v), "not an integer in", lo, hi);
        // Beyond 2^53 doubles are not exact integers, and beyond 2^63 the
        // cast below would be undefined: no range of ours reaches that far.
        constexpr double k_exact = 9007199254740992.0;  // 2^53
        if (std::fabs(v) > k_exact) detail::fail_checked(address, name, detail::number_text(v), "outside", lo, hi);
        return detail::checked_integer(address, name, static_cast<long long>(v), lo, hi, detail::number_text(v));
    }
}

template <class T>
    requires std::integral<T> || std::floating_point<T>
T checked(const std::string& address, std::string_view name, const boost::json::value& v, T lo, T hi) {
    if constexpr (std::integral<T>) {
        // Integers keep their exact value (a double would round above 2^53).
        if (v.is_int64()) return detail::checked_integer(address, name, v.get_int64(), lo, hi, detail::json_text(v));
        if (v.is_uint64()) return detail::checked_integer(address, name, v.get_uint64(), lo, hi, detail::json_text(v));
    }
    if (!v.is_number()) detail::fail_checked(address, name, detail::json_text(v), "not a number in", lo, hi);
    return checked<T>(address, name, v.to_number<double>(), lo, hi);
}

}  // namespace tw
