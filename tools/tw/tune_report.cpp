// The tw tune report, written and read: see tune_report.hpp. Every field and
// rule here is one of docs/report.schema.json; change both together (and the
// schema's version when an old reader could no longer read a new report).
#include "tune_report.hpp"

#include <time.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <stdexcept>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace tw::cli {

namespace alg = tw::algorithms;
namespace json = boost::json;

json::object report_header(int schema, std::string_view command) {
    return json::object{{"schema", schema}, {"tool", "tw " TW_VERSION}, {"command", command}};
}

// ---- writing -----------------------------------------------------------------

namespace {

std::string iso8601(std::chrono::system_clock::time_point tp) {
    const std::time_t t = std::chrono::system_clock::to_time_t(tp);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// Channel i of a board is tuned to its i-th resonance (tune_board), so the
// first channels_tuned channels carry that resonance's linewidth and Q.
json::object channel_json(const alg::channel_result& c, const alg::resonance* r) {
    json::object o{{"channel", c.channel},
                   {"frequency", c.frequency},
                   {"amplitude", c.amplitude},
                   {"s21", c.s21},
                   {"verified", c.verified}};
    if (r) {
        o["linewidth"] = r->linewidth;
        o["q"] = r->q;
    }
    return o;
}

json::object board_json(const board_entry& e, const alg::board_outcome& o) {
    json::object b;
    b["address"] = e.address;
    b["name"] = e.name;
    b["serial"] = o.result ? o.result->serial : "";
    b["status"] = alg::to_string(o.status);
    b["error"] = o.error;
    b["resonators_found"] = o.result ? o.result->resonators_found : 0;
    b["channels_tuned"] = o.result ? o.result->channels_tuned : 0;
    b["channels_verified"] = o.result ? o.result->channels_verified : 0;
    b["elapsed_s"] = o.elapsed_s;
    json::array chans;
    if (o.result)
        for (std::size_t i = 0; i < o.result->channels.size(); ++i) {
            const bool tuned = i < o.result->channels_tuned && i < o.result->resonances.size();
            chans.push_back(channel_json(o.result->channels[i], tuned ? &o.result->resonances[i] : nullptr));
        }
    b["channels"] = std::move(chans);
    return b;
}

}  // namespace

tune_summary summarize(const std::vector<alg::board_outcome>& outcomes) {
    tune_summary s;
    s.boards = outcomes.size();
    for (const auto& out : outcomes) {
        switch (out.status) {
            case alg::board_status::ok: ++s.ok; break;
            case alg::board_status::failed: ++s.failed; break;
            case alg::board_status::timeout: ++s.timeout; break;
            case alg::board_status::cancelled: ++s.cancelled; break;
        }
        if (out.result) {
            s.resonators_found += out.result->resonators_found;
            s.channels_tuned += out.result->channels_tuned;
            s.channels_verified += out.result->channels_verified;
            s.channels += out.result->channels.size();
        }
    }
    return s;
}

json::object make_tune_report(const std::vector<board_entry>& boards, const std::vector<alg::board_outcome>& outcomes,
                              const tune_run& run) {
    if (boards.size() != outcomes.size()) throw std::logic_error("make_tune_report: one outcome per board");
    auto r = report_header(k_tune_report_schema, run.command);
    if (run.seed)
        r["seed"] = *run.seed;
    else
        r["seed"] = nullptr;
    r["started"] = iso8601(run.started);
    r["elapsed_s"] = run.elapsed_s;
    json::array bs;
    for (std::size_t i = 0; i < boards.size(); ++i) bs.push_back(board_json(boards[i], outcomes[i]));
    r["boards"] = std::move(bs);
    const auto s = summarize(outcomes);
    r["summary"] = json::object{{"boards", s.boards},
                                {"ok", s.ok},
                                {"failed", s.failed},
                                {"timeout", s.timeout},
                                {"cancelled", s.cancelled},
                                {"resonators_found", s.resonators_found},
                                {"channels_tuned", s.channels_tuned},
                                {"channels_verified", s.channels_verified},
                                {"interrupted", run.interrupted}};
    return r;
}

// ---- reading -----------------------------------------------------------------

namespace {

// One object of the report and where it is ("boards[2]"), so that every
// message names the field as a path a user can find in the file.
class fields {
public:
    fields(const json::object& o, std::string where, const std::string& path)
        : o_(o), where_(std::move(where)), path_(path) {}

    [[noreturn]] void fail(std::string_view key, std::string_view what) const {
        throw std::invalid_argument("report '" + path_ + "': " + name(key) + " " + std::string(what));
    }
    std::string name(std::string_view key) const { return where_.empty() ? std::string(key) : where_ + "." + std::string(key); }

    const json::value* optional(std::string_view key) const { return o_.if_contains(key); }
    const json::value& required(std::string_view key) const {
        const auto* v = o_.if_contains(key);
        if (!v) fail(key, "is missing");
        return *v;
    }

    std::string string(std::string_view key) const {
        const auto& v = required(key);
        if (!v.is_string()) fail(key, "is not a string");
        return std::string(v.get_string());
    }
    std::string one_of(std::string_view key, std::initializer_list<std::string_view> allowed) const {
        auto s = string(key);
        for (auto a : allowed)
            if (s == a) return s;
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        fail(key, "is '" + s + "', not one of " + list);
    }
    bool boolean(std::string_view key) const {
        const auto& v = required(key);
        if (!v.is_bool()) fail(key, "is not true or false");
        return v.get_bool();
    }
    double number(std::string_view key) const { return number_value(key, required(key)); }
    double number_value(std::string_view key, const json::value& v) const {
        if (!v.is_number()) fail(key, "is not a number");
        return v.to_number<double>();
    }
    double at_least_zero(std::string_view key) const {
        const double d = number(key);
        if (!(d >= 0)) fail(key, "is negative");
        return d;
    }
    // JSON Schema's "integer": any number with no fraction (5 and 5.0 alike).
    static bool is_integer(const json::value& v) {
        if (v.is_int64() || v.is_uint64()) return true;
        return v.is_double() && std::isfinite(v.get_double()) && v.get_double() == std::trunc(v.get_double());
    }
    double count_value(std::string_view key, const json::value& v) const {
        if (!is_integer(v)) fail(key, "is not an integer");
        const double d = v.to_number<double>();
        if (d < 0) fail(key, "is negative");
        return d;
    }
    double count(std::string_view key) const { return count_value(key, required(key)); }
    const json::array& array(std::string_view key) const {
        const auto& v = required(key);
        if (!v.is_array()) fail(key, "is not an array");
        return v.get_array();
    }
    fields object(std::string_view key) const {
        const auto& v = required(key);
        if (!v.is_object()) fail(key, "is not an object");
        return {v.get_object(), name(key), path_};
    }
    fields element(const json::array& a, std::string_view key, std::size_t i) const {
        const auto n = name(key) + "[" + std::to_string(i) + "]";
        if (!a[i].is_object()) throw std::invalid_argument("report '" + path_ + "': " + n + " is not an object");
        return {a[i].get_object(), n, path_};
    }

private:
    const json::object& o_;
    std::string where_;
    const std::string& path_;
};

report_channel read_channel(const fields& c) {
    const double ch = c.count("channel");
    if (ch > 65535) c.fail("channel", "is not a channel number (0 to 65535)");
    report_channel rc{static_cast<int>(ch), c.number("frequency"), c.number("amplitude")};
    if (!(rc.frequency > 0)) c.fail("frequency", "is not a positive number");
    if (!(rc.amplitude >= 0 && rc.amplitude <= 1)) c.fail("amplitude", "is not in [0, 1]");
    c.at_least_zero("s21");
    c.boolean("verified");
    // Only on channels tuned to a resonance; 0 when it could not be measured.
    for (const char* k : {"linewidth", "q"})
        if (const auto* v = c.optional(k); v && !(c.number_value(k, *v) >= 0)) c.fail(k, "is negative");
    return rc;
}

report_board read_board(const fields& b) {
    report_board rb;
    rb.address = b.string("address");
    if (rb.address.empty()) b.fail("address", "is empty");
    rb.name = b.string("name");
    rb.serial = b.string("serial");
    rb.status = b.one_of("status", {"ok", "failed", "timeout", "cancelled"});
    b.string("error");
    for (const char* k : {"resonators_found", "channels_tuned", "channels_verified"}) b.count(k);
    b.at_least_zero("elapsed_s");
    const auto& chans = b.array("channels");
    for (std::size_t k = 0; k < chans.size(); ++k) rb.channels.push_back(read_channel(b.element(chans, "channels", k)));
    return rb;
}

}  // namespace

tune_report parse_tune_report(std::string_view text, const std::string& path) {
    boost::system::error_code ec;
    const auto root = json::parse(text, ec);
    if (ec) throw std::invalid_argument("report '" + path + "': not JSON (" + ec.message() + ")");
    if (!root.is_object()) throw std::invalid_argument("report '" + path + "': not a JSON object");
    const fields r(root.get_object(), "", path);

    // The version first: a report of another schema fails on that, not on
    // whichever of its fields this tw does not know.
    const auto* schema = r.optional("schema");
    if (!schema) r.fail("schema", "is missing: not a tw tune report");
    if (!fields::is_integer(*schema)) r.fail("schema", "is not an integer");
    if (schema->to_number<double>() != k_tune_report_schema)
        throw std::invalid_argument("report '" + path + "': schema " + json::serialize(*schema) +
                                    " is not supported (this tw reads schema " + std::to_string(k_tune_report_schema) + ")");

    tune_report out;
    r.string("tool");
    r.string("command");
    const auto& seed = r.required("seed");
    if (!seed.is_null()) r.count_value("seed", seed);
    out.simulated = !seed.is_null();
    r.string("started");
    r.at_least_zero("elapsed_s");
    const auto& boards = r.array("boards");
    for (std::size_t i = 0; i < boards.size(); ++i) out.boards.push_back(read_board(r.element(boards, "boards", i)));
    const auto summary = r.object("summary");
    for (const char* k : {"boards", "ok", "failed", "timeout", "cancelled", "resonators_found", "channels_tuned",
                          "channels_verified"})
        summary.count(k);
    summary.boolean("interrupted");
    return out;
}

tune_report read_tune_report(const std::string& path) {
    // An ifstream opens a directory and reads it as empty: say what it is.
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw std::invalid_argument("cannot read the report '" + path + "': it is a directory");
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::invalid_argument("cannot read the report '" + path + "': " + std::strerror(errno));
    std::stringstream text;
    text << f.rdbuf();
    return parse_tune_report(text.str(), path);
}

}  // namespace tw::cli
