// Helpers shared by the verbs: see verb_util.hpp.
#include "verb_util.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include <boost/json/parse.hpp>
#include <spdlog/spdlog.h>

#include <tw/drivers/address.hpp>
#include <tw/duration.hpp>
#include <tw/errors.hpp>

namespace tw::cli {

CLI::Option* output_option(CLI::App& cmd, const std::string& name, std::string& var, const std::string& help,
                           bool stdout_ok) {
    auto check = [stdout_ok](std::string& path) -> std::string {
        if (stdout_ok && path == "-") return {};
        namespace fs = std::filesystem;
        std::error_code ec;
        const fs::path p(path);
        if (fs::is_directory(p, ec)) return "cannot write '" + path + "': it is a directory";
        if (path.empty() || p.filename().empty()) return "'" + path + "' is not a file name";
        const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
        if (!fs::is_directory(dir, ec)) return "cannot write '" + path + "': no directory '" + dir.string() + "'";
        if (fs::exists(p, ec)) {
            if (::access(path.c_str(), W_OK) != 0) return "cannot write '" + path + "': " + std::generic_category().message(errno);
        } else if (::access(dir.c_str(), W_OK | X_OK) != 0) {
            return "cannot write '" + path + "': " + std::generic_category().message(errno);
        }
        return {};
    };
    return cmd.add_option(name, var, stdout_ok ? help + " ('-': stdout)" : help)
        ->check(CLI::Validator(check, "", ""))
        ->type_name("FILE");
}

std::FILE* human_stream(std::initializer_list<std::pair<std::string_view, std::string_view>> outputs) {
    std::string_view first;
    for (const auto& [flag, path] : outputs) {
        if (path != "-") continue;
        if (!first.empty())
            throw CLI::ValidationError(std::string(flag), "only one output can be stdout ('-'), and " + std::string(first) +
                                                              " already is");
        first = flag;
    }
    return first.empty() ? stdout : stderr;
}

CLI::Validator address_check() {
    return CLI::Validator(
        [](std::string& address) -> std::string {
            try {
                tw::parse_address(address);
            } catch (const std::invalid_argument& e) {
                return e.what();
            }
            return {};
        },
        "", "");
}

std::chrono::nanoseconds duration_option(const std::string& flag, const std::string& text) {
    try {
        return tw::parse_duration(text);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError(flag, e.what());
    }
}

std::chrono::nanoseconds timeout_option(const std::string& text) {
    const auto d = duration_option("--timeout", text);
    if (d.count() == 0) throw CLI::ValidationError("--timeout", "invalid duration '" + text + "': must be more than 0");
    return d;
}

bool finite_numbers(const boost::json::value& v) {
    if (v.is_double()) return std::isfinite(v.get_double());
    if (const auto* a = v.if_array()) return std::all_of(a->begin(), a->end(), finite_numbers);
    if (const auto* o = v.if_object())
        return std::all_of(o->begin(), o->end(), [](const auto& kv) { return finite_numbers(kv.value()); });
    return true;
}

boost::json::value json_argument(std::string_view text) {
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    if (ec) return boost::json::string(text);
    if (!finite_numbers(v))
        throw CLI::ValidationError("ARG", "'" + std::string(text) + "' holds a number beyond the range of a double (about 1.8e308)");
    return v;
}

bool is_keyword_argument(std::string_view text, std::string_view* name, std::string_view* value) {
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

json_arguments split_arguments(const std::vector<std::string>& args) {
    json_arguments out;
    for (const auto& a : args) {
        std::string_view name, value;
        if (is_keyword_argument(a, &name, &value))
            out.keywords[name] = json_argument(value);
        else if (!out.keywords.empty())
            throw CLI::ValidationError("ARG", "positional argument '" + a + "' after a NAME=VALUE argument");
        else
            out.positional.push_back(json_argument(a));
    }
    return out;
}

void end_of_board_run(std::string_view verb, bool interrupted, std::size_t ok, std::size_t total,
                      std::string_view fell_short) {
    if (interrupted) throw tw::cancelled_error(fmt::format("{}: interrupted", verb));
    if (ok != total) throw std::runtime_error(fmt::format("{}: {} of {} boards {}", verb, total - ok, total, fell_short));
}

tw::command_log verb_log() { return tw::command_log(spdlog::default_logger(), tw::command_log::level::debug); }

}  // namespace tw::cli
