#pragma once
// Reading a saved `tw tune --report` file (schema 1, written by tune.cpp) for
// the commands that act on one: `tw tune --only-failed` and `tw apply`.
// Only the fields those need are read, and each is checked, so a hand-edited
// or truncated report is refused with a message naming the field rather than
// half-applied.
//
// Errors: std::invalid_argument with a one-line message naming the file and
// the bad field (callers map it to a usage error, exit 2).
//
// Example:
//   auto r = tw::cli::read_tune_report("run.json");
//   for (auto& b : r.boards) if (b.status != "ok") fmt::print("{} {}\n", b.name, b.address);

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace tw::cli {

struct report_channel {
    int channel = 0;
    double frequency = 0;  // Hz
    double amplitude = 0;
};

struct report_board {
    std::string address;
    std::string name;
    std::string serial;  // "" when the board never answered
    std::string status;  // "ok", "failed", "timeout", "cancelled"
    std::vector<report_channel> channels;
};

struct tune_report {
    bool simulated = false;  // written by `tw tune --sim`: "seed" is a number
    std::vector<report_board> boards;
};

namespace detail {

[[noreturn]] inline void bad_report(const std::string& path, const std::string& what) {
    throw std::invalid_argument("report '" + path + "': " + what);
}

inline const boost::json::value& field(const boost::json::object& o, const char* key, const std::string& where,
                                       const std::string& path) {
    const auto* v = o.if_contains(key);
    if (!v) bad_report(path, where + "." + key + " is missing");
    return *v;
}

inline std::string string_field(const boost::json::object& o, const char* key, const std::string& where,
                                const std::string& path) {
    const auto& v = field(o, key, where, path);
    if (!v.is_string()) bad_report(path, where + "." + key + " is not a string");
    return std::string(v.get_string());
}

inline double number_field(const boost::json::object& o, const char* key, const std::string& where,
                           const std::string& path) {
    const auto& v = field(o, key, where, path);
    boost::system::error_code ec;
    const double d = v.to_number<double>(ec);
    if (ec) bad_report(path, where + "." + key + " is not a number");
    return d;
}

}  // namespace detail

// The text of a report -> what tw reads of it; `path` is for messages. Pure
// (tests and fuzzing).
inline tune_report parse_tune_report(std::string_view text, const std::string& path) {
    boost::system::error_code ec;
    const auto root = boost::json::parse(text, ec);
    if (ec) detail::bad_report(path, "not JSON (" + ec.message() + ")");
    if (!root.is_object()) detail::bad_report(path, "not a JSON object");
    const auto& r = root.get_object();

    const auto* schema = r.if_contains("schema");
    if (!schema) detail::bad_report(path, "no \"schema\": not a tw tune report");
    if (!schema->is_int64() && !schema->is_uint64())
        detail::bad_report(path, "\"schema\" is not an integer");
    if (!(schema->is_int64() ? schema->get_int64() == 1 : schema->get_uint64() == 1))
        detail::bad_report(path, "schema " + boost::json::serialize(*schema) + " is not supported (this tw reads schema 1)");

    tune_report out;
    if (const auto* seed = r.if_contains("seed")) out.simulated = !seed->is_null();
    const auto* boards = r.if_contains("boards");
    if (!boards || !boards->is_array()) detail::bad_report(path, "\"boards\" is missing or not an array");
    for (std::size_t i = 0; i < boards->get_array().size(); ++i) {
        const auto where = "boards[" + std::to_string(i) + "]";
        const auto& bv = boards->get_array()[i];
        if (!bv.is_object()) detail::bad_report(path, where + " is not an object");
        const auto& b = bv.get_object();
        report_board rb;
        rb.address = detail::string_field(b, "address", where, path);
        if (rb.address.empty()) detail::bad_report(path, where + ".address is empty");
        rb.name = detail::string_field(b, "name", where, path);
        rb.status = detail::string_field(b, "status", where, path);
        if (const auto* s = b.if_contains("serial"); s && s->is_string()) rb.serial = std::string(s->get_string());
        const auto* chans = b.if_contains("channels");
        if (chans) {
            if (!chans->is_array()) detail::bad_report(path, where + ".channels is not an array");
            for (std::size_t k = 0; k < chans->get_array().size(); ++k) {
                const auto cwhere = where + ".channels[" + std::to_string(k) + "]";
                const auto& cv = chans->get_array()[k];
                if (!cv.is_object()) detail::bad_report(path, cwhere + " is not an object");
                const auto& c = cv.get_object();
                const double ch = detail::number_field(c, "channel", cwhere, path);
                if (!(ch >= 0 && ch <= 65535) || ch != static_cast<double>(static_cast<int>(ch)))
                    detail::bad_report(path, cwhere + ".channel is not a channel number");
                report_channel rc{static_cast<int>(ch), detail::number_field(c, "frequency", cwhere, path),
                                  detail::number_field(c, "amplitude", cwhere, path)};
                if (!(rc.frequency > 0)) detail::bad_report(path, cwhere + ".frequency is not a positive number");
                if (!(rc.amplitude >= 0 && rc.amplitude <= 1)) detail::bad_report(path, cwhere + ".amplitude is not in [0, 1]");
                rb.channels.push_back(rc);
            }
        }
        out.boards.push_back(std::move(rb));
    }
    return out;
}

inline tune_report read_tune_report(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::invalid_argument("cannot read the report '" + path + "': " + std::strerror(errno));
    std::stringstream text;
    text << f.rdbuf();
    return parse_tune_report(text.str(), path);
}

}  // namespace tw::cli
