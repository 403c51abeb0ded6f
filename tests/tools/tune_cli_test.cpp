// tw tune end to end: the report (schema 1) of a simulated run, a run that
// hits its deadline, unreachable boards from a board-list file, and a run
// interrupted by SIGINT (report still written, unfinished boards cancelled).
// The schema file (docs/report.schema.json) against tw itself: the reports tw
// writes follow it field by field, and tw refuses, naming the field, every
// report that breaks one of its required fields or types.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <regex>
#include <string>
#include <variant>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "cli_test_util.hpp"

namespace json = boost::json;
using tw_test::read_json;
using tw_test::run_tw;
using tw_test::temp_path;

namespace {

// ---- docs/report.schema.json, as far as the tune report uses it ----------------
// Not a general JSON Schema validator: the keywords the schema file holds
// (type, const, enum, minimum, maximum, exclusiveMinimum, minLength, required,
// properties, items, $ref to #/$defs/...). A keyword the schema gains that
// this does not know fails the test, so the check cannot silently weaken.

// A field's place in a report: keys and array indices from the root.
using step = std::variant<std::string, std::size_t>;
using field_path = std::vector<step>;

std::string to_text(const field_path& p) {
    std::string out;
    for (const auto& s : p) {
        if (const auto* k = std::get_if<std::string>(&s))
            out += (out.empty() ? "" : ".") + *k;
        else
            out += "[" + std::to_string(std::get<std::size_t>(s)) + "]";
    }
    return out;
}

const json::object& load_schema() {
    static const json::object schema = read_json(TW_REPORT_SCHEMA);
    return schema;
}

const json::object& resolve(const json::object& s) {
    const auto* ref = s.if_contains("$ref");
    if (!ref) return s;
    const std::string r(ref->as_string());
    const std::string prefix = "#/$defs/";
    EXPECT_EQ(r.rfind(prefix, 0), 0u) << r;
    return load_schema().at("$defs").at(r.substr(prefix.size())).as_object();
}

bool has_type(const json::value& v, std::string_view t) {
    if (t == "integer")
        return v.is_int64() || v.is_uint64() || (v.is_double() && v.get_double() == std::trunc(v.get_double()));
    if (t == "number") return v.is_number();
    if (t == "string") return v.is_string();
    if (t == "boolean") return v.is_bool();
    if (t == "array") return v.is_array();
    if (t == "object") return v.is_object();
    if (t == "null") return v.is_null();
    ADD_FAILURE() << "unknown type " << t;
    return false;
}

bool matches_type(const json::value& v, const json::value& type) {
    if (type.is_string()) return has_type(v, type.as_string());
    for (const auto& t : type.as_array())
        if (has_type(v, t.as_string())) return true;
    return false;
}

// Checks `v` at `at` against schema `s`; appends the path of every required
// field met (in the first element of each array: one per field of the format).
void check_against_schema(const json::value& v, const json::object& sv, const field_path& at,
                          std::vector<field_path>* required) {
    const auto& s = resolve(sv);
    const auto where = to_text(at);
    for (const auto& [k, kw] : s) {
        if (k == "type") {
            EXPECT_TRUE(matches_type(v, kw)) << where << " is not " << json::serialize(kw) << ": " << json::serialize(v);
        } else if (k == "const") {
            EXPECT_EQ(v.to_number<double>(), kw.to_number<double>()) << where;
        } else if (k == "enum") {
            bool found = false;
            for (const auto& e : kw.as_array()) found = found || e == v;
            EXPECT_TRUE(found) << where << " = " << json::serialize(v);
        } else if (k == "minimum") {
            if (v.is_number()) {
                EXPECT_GE(v.to_number<double>(), kw.to_number<double>()) << where;
            }
        } else if (k == "maximum") {
            if (v.is_number()) {
                EXPECT_LE(v.to_number<double>(), kw.to_number<double>()) << where;
            }
        } else if (k == "exclusiveMinimum") {
            if (v.is_number()) {
                EXPECT_GT(v.to_number<double>(), kw.to_number<double>()) << where;
            }
        } else if (k == "minLength") {
            if (v.is_string()) {
                EXPECT_GE(v.as_string().size(), kw.to_number<std::size_t>()) << where;
            }
        } else if (k == "required") {
            if (!v.is_object()) continue;
            for (const auto& r : kw.as_array()) {
                auto p = at;
                p.emplace_back(std::string(r.as_string()));
                EXPECT_TRUE(v.as_object().contains(r.as_string())) << to_text(p) << " is required but missing";
                if (required) required->push_back(p);
            }
        } else if (k == "properties") {
            if (!v.is_object()) continue;
            // Every field written is described: the schema is the whole format.
            for (const auto& [name, fv] : v.as_object()) {
                auto p = at;
                p.emplace_back(std::string(name));
                const auto* ps = kw.as_object().if_contains(name);
                EXPECT_TRUE(ps) << to_text(p) << " is written but not in the schema";
                if (ps) check_against_schema(fv, ps->as_object(), p, required);
            }
        } else if (k == "items") {
            if (!v.is_array()) continue;
            for (std::size_t i = 0; i < v.as_array().size(); ++i) {
                auto p = at;
                p.emplace_back(i);
                check_against_schema(v.as_array()[i], kw.as_object(), p, i == 0 ? required : nullptr);
            }
        } else if (k != "$schema" && k != "$defs" && k != "$ref" && k != "title" && k != "description" && k != "format") {
            ADD_FAILURE() << "the schema uses '" << k << "', which this test does not check (at " << where << ")";
        }
    }
}

// The field at `p` of `root`'s copy, and its parent object.
json::value& at_path(json::value& root, const field_path& p, std::size_t depth) {
    json::value* v = &root;
    for (std::size_t i = 0; i < depth; ++i) {
        if (const auto* k = std::get_if<std::string>(&p[i]))
            v = &v->as_object().at(*k);
        else
            v = &v->as_array().at(std::get<std::size_t>(p[i]));
    }
    return *v;
}

}  // namespace

TEST(TuneReportSchema, ReportsFollowTheSchemaAndTwRefusesEveryBrokenRequiredField) {
    ASSERT_EQ(load_schema().at("properties").at("schema").at("const").to_number<int>(), 1);
    const auto report = temp_path("schema", "tuned.json");
    auto r = run_tw("tune --sim 2 --channels 8 --quiet --report " + report, tw_test::k_hang_guarded);
    ASSERT_EQ(r.status, 0) << r.output;
    const json::value written = read_json(report);

    std::vector<field_path> required;
    check_against_schema(written, load_schema(), {}, &required);
    // Every level of the format was reached: top, summary, board, channel.
    ASSERT_EQ(required.size(), 8u + 9u + 10u + 5u);

    // The tuned channels carry their resonance's linewidth and Q.
    const auto& ch0 = written.at("boards").at(0).at("channels").at(0).as_object();
    ASSERT_TRUE(ch0.contains("linewidth") && ch0.contains("q")) << json::serialize(ch0);
    EXPECT_GT(ch0.at("linewidth").to_number<double>(), 0);
    EXPECT_NEAR(ch0.at("q").to_number<double>(),
                ch0.at("frequency").to_number<double>() / ch0.at("linewidth").to_number<double>(),
                0.01 * ch0.at("q").to_number<double>());  // resonance's frequency, not the carrier's: within 1 %

    // The report as written is read back (apply's dry run lists both boards).
    r = run_tw("apply --dry-run " + report, tw_test::k_usage_checked);
    EXPECT_EQ(r.status, 0) << r.error;

    const auto broken = temp_path("schema", "broken.json");
    auto refused = [&](const std::string& verb, const field_path& p, const std::string& what) {
        r = run_tw(verb + " " + broken, tw_test::k_usage_checked);
        EXPECT_EQ(r.status, 2) << verb << ": " << to_text(p) << " " << what << ": " << r.output << r.error;
        const auto needle = "report '" + broken + "': " + to_text(p) + " is ";
        EXPECT_NE(r.error.find(needle), std::string::npos) << verb << ": " << needle << " not in " << r.error;
        EXPECT_EQ(tw_test::count_of(r.error, "\n"), 1u) << r.error;
    };
    for (const auto& p : required) {
        // Removed.
        json::value copy = written;
        at_path(copy, p, p.size() - 1).as_object().erase(std::get<std::string>(p.back()));
        tw_test::write_file(broken, json::serialize(copy));
        refused("apply --dry-run", p, "missing");
        // Of a type the schema does not allow (an array, or a string where an array is due).
        copy = written;
        auto& field = at_path(copy, p, p.size());
        field = field.is_array() ? json::value("x") : json::value(json::array{});
        tw_test::write_file(broken, json::serialize(copy));
        refused("apply --dry-run", p, "of another type");
    }
    // --only-failed reads through the same reader.
    json::value copy = written;
    copy.at("summary").as_object().erase("channels_verified");
    tw_test::write_file(broken, json::serialize(copy));
    refused("tune --only-failed", {std::string("summary"), std::string("channels_verified")}, "missing");

    // A schema version this tw does not know, even with every field right.
    copy = written;
    copy.as_object()["schema"] = 2;
    tw_test::write_file(broken, json::serialize(copy));
    r = run_tw("apply --dry-run " + broken, tw_test::k_usage_checked);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.error.find("schema 2 is not supported (this tw reads schema 1)"), std::string::npos) << r.error;
    std::remove(broken.c_str());
    std::remove(report.c_str());
}

TEST(TuneCli, SimulatedRunSucceedsAndWritesTheReport) {
    const auto report = temp_path("tune", "ok.json");
    auto r = run_tw("tune --sim 3 --channels 16 --seed 5 --report " + report);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(boards\s+3\n\s+ok\s+3\n\s+failed\s+0\n\s+timed out\s+0)"))) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(resonators found\s+48)"))) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(channels tuned\s+48)"))) << r.output;
    auto j = read_json(report);
    EXPECT_EQ(j.at("schema").as_int64(), 1);
    EXPECT_EQ(j.at("tool").as_string(), "tw " TW_VERSION_TEXT);
    EXPECT_NE(std::string(j.at("command").as_string().c_str()).find("tune --sim 3 --channels 16 --seed 5"), std::string::npos);
    EXPECT_EQ(j.at("seed").to_number<int>(), 5);
    EXPECT_TRUE(std::regex_match(std::string(j.at("started").as_string().c_str()),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
    EXPECT_GT(j.at("elapsed_s").to_number<double>(), 0);
    const auto& boards = j.at("boards").as_array();
    ASSERT_EQ(boards.size(), 3u);
    for (const auto& bv : boards) {
        const auto& b = bv.as_object();
        EXPECT_EQ(b.at("status").as_string(), "ok");
        EXPECT_EQ(b.at("error").as_string(), "");
        EXPECT_FALSE(b.at("serial").as_string().empty());
        EXPECT_NE(b.at("address").as_string().find("127.0.0.1:"), json::string::npos);
        EXPECT_EQ(b.at("resonators_found").to_number<int>(), 16);
        const auto& chans = b.at("channels").as_array();
        ASSERT_EQ(chans.size(), 16u);
        double prev = 0;
        for (const auto& cv : chans) {
            const auto& c = cv.as_object();
            EXPECT_EQ(c.at("amplitude").to_number<double>(), 0.5);
            const double f = c.at("frequency").to_number<double>();
            EXPECT_GT(f, prev);  // channel i on the i-th lowest resonance
            prev = f;
        }
    }
    const auto& s = j.at("summary").as_object();
    EXPECT_EQ(s.at("ok").to_number<int>(), 3);
    EXPECT_EQ(s.at("failed").to_number<int>(), 0);
    EXPECT_EQ(s.at("channels_tuned").to_number<int>(), 48);
    std::remove(report.c_str());
}

TEST(TuneCli, DeadlineMarksBoardsTimedOutAndExitsOne) {
    const auto report = temp_path("tune", "deadline.json");
    auto r = run_tw("tune --sim 2 --channels 16 --deadline 1ms --report " + report);
    ASSERT_EQ(r.status, 1) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(timed out\s+2)"))) << r.output;
    auto j = read_json(report);
    for (const auto& b : j.at("boards").as_array()) {
        EXPECT_EQ(b.at("status").as_string(), "timeout");
        EXPECT_FALSE(b.at("error").as_string().empty());
    }
    EXPECT_EQ(j.at("summary").at("timeout").to_number<int>(), 2);
    std::remove(report.c_str());
}

TEST(TuneCli, UnreachableBoardsFromANamedListFailWithTheirErrors) {
    const auto list = temp_path("tune", "boards.txt");
    const auto report = temp_path("tune", "unreachable.json");
    {
        std::ofstream f(list);
        f << "# test boards\nalpha 127.0.0.1:1\n\n127.0.0.1:2+2  # a range\n";
    }
    auto r = run_tw("tune --boards " + list + " --timeout 2s --report " + report);
    ASSERT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("127.0.0.1:1 (alpha) failed"), std::string::npos) << r.output;
    auto j = read_json(report);
    check_against_schema(j, load_schema(), {}, nullptr);
    EXPECT_TRUE(j.at("seed").is_null());
    const auto& boards = j.at("boards").as_array();
    ASSERT_EQ(boards.size(), 3u);
    EXPECT_EQ(boards[0].at("name").as_string(), "alpha");
    EXPECT_EQ(boards[2].at("address").as_string(), "127.0.0.1:3");
    for (const auto& b : boards) {
        EXPECT_EQ(b.at("status").as_string(), "failed");
        EXPECT_FALSE(b.at("error").as_string().empty());
    }
    std::remove(list.c_str());
    std::remove(report.c_str());
}

TEST(TuneCli, InterruptedRunStillWritesTheReport) {
    const auto report = temp_path("tune", "interrupted.json");
    // 64 boards of 256 channels take far longer than the 1.5 s before SIGINT.
    auto r = run_tw("tune --sim 64 --channels 256 --report " + report, tw_test::k_interrupted_after_1_5s);
    ASSERT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("interrupted"), std::string::npos) << r.output;
    auto j = read_json(report);
    EXPECT_TRUE(j.at("summary").at("interrupted").as_bool());
    EXPECT_GT(j.at("summary").at("cancelled").to_number<int>(), 0);
    for (const auto& b : j.at("boards").as_array()) {
        const auto& st = b.at("status").as_string();
        EXPECT_TRUE(st == "ok" || st == "cancelled") << st;
    }
    std::remove(report.c_str());
}

TEST(TuneCli, StdoutCarriesResultsOnlyProgressGoesToStderr) {
    // `tw tune --sim 4 > out.txt`: the summary in the file, no progress line.
    auto r = run_tw("tune --sim 4 --channels 8", {.merge_stderr = false, .separate_stderr = true, .wrapper = tw_test::k_deadlock_guard});
    ASSERT_EQ(r.status, 0) << r.output << r.error;
    EXPECT_EQ(r.output.find("in flight"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("tune: 4 boards"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("channels tuned"), std::string::npos) << r.output;  // the summary table
    EXPECT_NE(r.error.find("tune: 4/4 done, 0 failed, 0 in flight, 32 channels tuned"), std::string::npos) << r.error;

    // --quiet: nothing on stderr for a run where every board ends ok.
    r = run_tw("tune --sim 2 --channels 8 --quiet", {.merge_stderr = false, .separate_stderr = true, .wrapper = tw_test::k_deadlock_guard});
    ASSERT_EQ(r.status, 0) << r.output << r.error;
    EXPECT_EQ(r.error, "");

    // --report -: stdout is the report alone (it parses), the summary moves to stderr.
    r = run_tw("tune --sim 2 --channels 8 --quiet --report -", {.merge_stderr = false, .separate_stderr = true, .wrapper = tw_test::k_deadlock_guard});
    ASSERT_EQ(r.status, 0) << r.output << r.error;
    const auto report = boost::json::parse(r.output).as_object();
    EXPECT_EQ(report.at("summary").at("ok").to_number<std::int64_t>(), 2);
    EXPECT_NE(r.error.find("channels tuned"), std::string::npos) << r.error;

    // Two outputs on stdout: a usage error before any work.
    r = run_tw("tune --sim 2 --report - --plot -", tw_test::k_usage_checked);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.error.find("only one output can be stdout"), std::string::npos) << r.error;
    EXPECT_EQ(r.output, "");
}

TEST(TuneCli, AMistypedVerbIsGuessedAndAVerbsErrorPointsAtItsHelp) {
    auto r = run_tw("tnue --sim 2", tw_test::k_usage_checked);
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(r.error, "tw: 'tnue' is not a command; did you mean 'tune'? (see tw --help)\n");
    r = run_tw("tune --sim 2 --bogus", tw_test::k_usage_checked);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.error.find("(see tw tune --help)"), std::string::npos) << r.error;
}
