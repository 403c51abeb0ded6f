#pragma once
// Helpers shared by the one-off verbs (tw call, tw rpc, tw scpi, tw modbus):
// --timeout parsing, JSON arguments as typed on a command line, and the
// command log (shown with --log-level debug).

#include <chrono>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <spdlog/spdlog.h>

#include <tw/drivers/command_log.hpp>
#include <tw/duration.hpp>

namespace tw::cli {

// A duration flag (--deadline DUR, --hold DUR, ...) -> nanoseconds; a bad
// duration is a usage error (exit 2) naming the flag.
inline std::chrono::nanoseconds duration_option(const std::string& flag, const std::string& text) {
    try {
        return tw::parse_duration(text);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError(flag, e.what());
    }
}

// --timeout DUR: a duration_option that must be more than 0.
inline std::chrono::nanoseconds timeout_option(const std::string& text) {
    const auto d = duration_option("--timeout", text);
    if (d.count() == 0) throw CLI::ValidationError("--timeout", "invalid duration '" + text + "': must be more than 0");
    return d;
}

// An argument as JSON: `3`, `4.5e6`, `true`, `null`, `"text"`, `[1,2]`,
// `{"a":1}`; anything that is not JSON is taken as a string (`hello`).
inline boost::json::value json_argument(std::string_view text) {
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    if (!ec) return v;
    return boost::json::string(text);
}

// NAME=VALUE with NAME an identifier: a keyword argument.
inline bool is_keyword_argument(std::string_view text, std::string_view* name, std::string_view* value) {
    const auto eq = text.find('=');
    if (eq == std::string_view::npos || eq == 0) return false;
    for (std::size_t i = 0; i < eq; ++i) {
        const char c = text[i];
        const bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    *name = text.substr(0, eq);
    *value = text.substr(eq + 1);
    return true;
}

// Every command and reply at level debug through tw's logger (--log-level debug).
inline tw::command_log verb_log() { return tw::command_log(spdlog::default_logger(), tw::command_log::level::debug); }

}  // namespace tw::cli
