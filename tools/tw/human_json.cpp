// tw::cli::human_json: see human_json.hpp.
#include "human_json.hpp"

#include <cmath>

#include <boost/json/serialize.hpp>
#include <fmt/core.h>

namespace tw::cli {

namespace json = boost::json;

std::string human_number(double v) {
    if (!std::isfinite(v)) return json::serialize(json::value(v));  // what Boost.JSON writes for them
    const double a = std::abs(v);
    // %g switches to exponents below 1e-5 and from 10^precision up; plain
    // notation is easier to read up to 1e15 (an integer count, a frequency).
    if (a >= 1e10 && a < 1e15 && v == std::trunc(v)) return fmt::format("{:.0f}", v);
    return fmt::format("{:.10g}", v);
}

namespace {

void write(std::string& out, const json::value& v) {
    switch (v.kind()) {
        case json::kind::double_: out += human_number(v.get_double()); break;
        case json::kind::array: {
            out += '[';
            bool first = true;
            for (const auto& e : v.get_array()) {
                if (!first) out += ',';
                first = false;
                write(out, e);
            }
            out += ']';
            break;
        }
        case json::kind::object: {
            out += '{';
            bool first = true;
            for (const auto& [key, e] : v.get_object()) {
                if (!first) out += ',';
                first = false;
                out += json::serialize(json::string_view(key));
                out += ':';
                write(out, e);
            }
            out += '}';
            break;
        }
        default: out += json::serialize(v); break;  // strings, integers, booleans, null
    }
}

}  // namespace

std::string human_json(const json::value& v) {
    std::string out;
    write(out, v);
    return out;
}

}  // namespace tw::cli
