#pragma once
// Helpers shared by the verbs: flags checked where they enter (numbers against
// their documented range, durations, output files, addresses), JSON arguments
// as typed on a command line, and the command log (shown with --log-level
// debug).
//
// Every check here is a usage error (CLI::ValidationError: exit 2, one line
// naming the flag); numbers and output files are checked by CLI11 validators,
// so they fail while parsing, before any work (or simulated board) starts.
//
// Example:
//   count_option(*cmd, "--concurrency", o->concurrency, "Boards at once (0: all)", 0, k_max_concurrency)
//       ->capture_default_str();
//   real_option(*cmd, "--amplitude", o->amplitude, "Carrier amplitude", k_min_amplitude, 1);
//   output_option(*cmd, "--report", o->report, "Write a JSON report to FILE")->option_text("FILE");

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <fmt/core.h>

#include <tw/algorithms/defaults.hpp>
#include <tw/drivers/command_log.hpp>

namespace tw::cli {

// Ranges shared by several verbs (each flag's help shows its range).
// Simulated boards and compressors get a TCP port each.
inline constexpr std::uint64_t k_max_ports = 65535;
// Boards (or instruments) worked on at once; above the number of boards it
// means "all", so the cap only keeps nonsense out.
inline constexpr std::uint64_t k_max_concurrency = 1'000'000;

namespace detail {

template <class T> struct option_value { using type = T; };
template <class T> struct option_value<std::optional<T>> { using type = T; };

}  // namespace detail

// Declares a whole-number flag whose value must lie in [lo, hi] (both shown
// in its help). The text is checked before CLI11 converts it, because CLI11
// reads "-1" into an unsigned as 2^64-1 (strtoull), accepts out-of-range text
// as the type's maximum, and reads "010" as octal: only plain decimal digits
// pass, and the text is handed on in canonical form. `var` may be any integer
// type or a std::optional of one.
template <class V>
CLI::Option* count_option(CLI::App& cmd, const std::string& name, V& var, const std::string& help, std::uint64_t lo,
                          std::uint64_t hi) {
    using T = typename detail::option_value<V>::type;
    static_assert(std::is_integral_v<T>, "count_option declares whole-number flags");
    if (lo > hi || hi > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
        throw std::logic_error("count_option " + name + ": range does not fit the variable");
    const std::string range = fmt::format("{}..{}", lo, hi);
    const std::string said = lo == hi   ? std::to_string(lo)
                             : lo == 0 ? fmt::format("a whole number, at most {}", hi)
                                       : fmt::format("a whole number, at least {} and at most {}", lo, hi);
    auto check = [lo, hi, said](std::string& text) -> std::string {
        std::uint64_t v = 0;
        const auto* end = text.data() + text.size();
        const auto [stop, ec] = std::from_chars(text.data(), end, v);
        const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
        if (!digits || ec != std::errc() || stop != end || v < lo || v > hi)
            return fmt::format("must be {}, got '{}'", said, text);
        text = std::to_string(v);
        return {};
    };
    // A single allowed value is said by the help text itself ("one simulated board").
    return cmd.add_option(name, var, lo == hi ? help : help + " (" + range + ")")
        ->check(CLI::Validator(check, "", ""))
        ->type_name("N");
}

// The same for a real-valued flag: a finite number in [lo, hi].
template <class V>
CLI::Option* real_option(CLI::App& cmd, const std::string& name, V& var, const std::string& help, double lo, double hi) {
    const std::string range = fmt::format("{}..{}", lo, hi);
    auto check = [lo, hi](std::string& text) -> std::string {
        double v = 0;
        const auto* end = text.data() + text.size();
        const auto [stop, ec] = std::from_chars(text.data(), end, v);
        if (text.empty() || ec != std::errc() || stop != end || !std::isfinite(v) || v < lo || v > hi)
            return fmt::format("must be a number, at least {} and at most {}, got '{}'", lo, hi, text);
        return {};
    };
    return cmd.add_option(name, var, help + " (" + range + ")")->check(CLI::Validator(check, "", ""));
}

// Declares a flag naming a file the verb writes (a report, a plot, a CSV). It
// is checked when parsed — the directory exists and may be written, and the
// path, if it exists, is a writable file — so that a run of many minutes does
// not end with nothing written. The file itself is neither created nor
// touched until the verb writes it. With `stdout_ok`, '-' means stdout
// (write_text_file writes there); see human_stream() for the rest of the
// verb's output.
CLI::Option* output_option(CLI::App& cmd, const std::string& name, std::string& var, const std::string& help,
                           bool stdout_ok = true);

// Where a verb prints its human-readable lines: stdout, or stderr when one of
// its outputs is '-', so that stdout carries that document alone and pipes
// (`tw tune --sim 4 --report - | jq .summary`). Two outputs cannot both be
// stdout: a usage error naming them.
std::FILE* human_stream(std::initializer_list<std::pair<std::string_view, std::string_view>> outputs);

// Checks an address HOST:PORT (or [IPv6]:PORT) as it is parsed, before any
// connection is tried: a mistyped port is a usage error, not "cannot connect"
// after retries.
//   cmd->add_option("address", o->address, "Board address HOST:PORT")->required()->check(address_check());
CLI::Validator address_check();

// A duration flag (--deadline DUR, --hold DUR, ...) -> nanoseconds; a bad
// duration is a usage error (exit 2) naming the flag.
std::chrono::nanoseconds duration_option(const std::string& flag, const std::string& text);

// --timeout DUR: a duration_option that must be more than 0.
std::chrono::nanoseconds timeout_option(const std::string& text);

// True if no number in `v` is infinite: Boost.JSON 1.81 reads 1e999 as
// infinity and would send it as `Infinity`, which is not JSON.
bool finite_numbers(const boost::json::value& v);

// An argument as JSON: `3`, `4.5e6`, `true`, `null`, `"text"`, `[1,2]`,
// `{"a":1}`; anything that is not JSON is taken as a string (`hello`).
// A number beyond a double (1e999) is a usage error (CLI::ValidationError).
boost::json::value json_argument(std::string_view text);

// NAME=VALUE with NAME an identifier: a keyword argument.
bool is_keyword_argument(std::string_view text, std::string_view* name, std::string_view* value);

// ARG... as typed, split: JSON values (positional) first, then NAME=VALUE
// (keyword). A positional argument after a keyword one is a usage error
// (CLI::ValidationError), as in Python.
struct json_arguments {
    boost::json::array positional;
    boost::json::object keywords;
};
json_arguments split_arguments(const std::vector<std::string>& args);

// How a run over boards ends when not every board did: tw::cancelled_error
// if it was interrupted (Ctrl-C), else a failure naming how many boards
// `fell_short` ("not ok", "did not end ok"); exit status 1 either way.
void end_of_board_run(std::string_view verb, bool interrupted, std::size_t ok, std::size_t total,
                      std::string_view fell_short);

// Every command and reply at level debug through tw's logger (--log-level debug).
tw::command_log verb_log();

}  // namespace tw::cli
