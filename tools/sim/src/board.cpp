#include "board.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <optional>
#include <stdexcept>

#include <boost/json.hpp>
#include <fmt/core.h>

#include <tw/sim/simulator.hpp>

namespace tw::sim::detail {

namespace json = boost::json;

namespace {

constexpr std::int64_t k_max_n = 1'000'000;  // get_samples: samples averaged per call

// A failed call. `code` is its JSON-RPC error code; Tuber shows only the message.
struct call_error : std::runtime_error {
    int code;
    std::string argument;  // the argument at fault, if any
    call_error(int c, const std::string& m, std::string arg = {}) : std::runtime_error(m), code(c), argument(std::move(arg)) {}
};
constexpr int k_parse_error = -32700;
constexpr int k_invalid_request = -32600;
constexpr int k_method_not_found = -32601;
constexpr int k_invalid_params = -32602;
constexpr int k_server_error = -32000;

struct param_def {
    const char* name;
    std::optional<std::int64_t> default_value;
};

struct call_context {
    board& b;
    std::vector<std::string>& warnings;
    json::storage_ptr sp;  // for a result that allocates (get_samples' {"i", "q"}): the caller's scratch
};

// A call's arguments, bound to the method's parameters: a fixed array rather
// than a vector, since a call is a few µs and an allocation would be a fair
// share of it.
constexpr std::size_t k_max_params = 2;
using bound_args = std::array<json::value, k_max_params>;

struct method_def {
    const char* name;
    const char* doc;
    std::vector<param_def> params;  // at most k_max_params
    json::value (*fn)(call_context&, const method_def&, bound_args&);
};

// Numbers in messages: integers without a fraction, others in shortest form.
std::string num(double v) {
    if (std::abs(v) < 1e15 && v == std::floor(v)) return fmt::format("{}", static_cast<long long>(v));
    return fmt::format("{}", v);
}

// At most `max` bytes of s (valid UTF-8, as Boost.JSON's parser guarantees
// for strings from a request), cut between characters so that the result is
// valid UTF-8 too: it goes into a JSON reply. Bounds what a message echoes.
std::string clip(std::string_view s, std::size_t max = 60) {
    if (s.size() <= max) return std::string(s);
    std::size_t n = max - 3;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;  // not inside a character
    return std::string(s.substr(0, n)) + "...";
}

std::string shown(const json::value& v) { return clip(json::serialize(v), 40); }

// Boost.JSON 1.81 reads a number beyond a double's range (1e999) as infinity
// and writes it back as `Infinity`, which is not JSON. A request holding one is
// refused as unreadable, so that no reply can echo it. The recursion is as
// deep as the parser allows (32 levels by default).
bool all_finite(const json::value& v) {
    if (v.is_double()) return std::isfinite(v.get_double());
    if (const auto* a = v.if_array()) return std::all_of(a->begin(), a->end(), [](const json::value& x) { return all_finite(x); });
    if (const auto* o = v.if_object())
        return std::all_of(o->begin(), o->end(), [](const json::key_value_pair& kv) { return all_finite(kv.value()); });
    return true;
}
constexpr const char* k_out_of_range = "a number is beyond the range of a double (about 1.8e308)";

std::optional<std::int64_t> as_integer(const json::value& v) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64()) return v.get_uint64() > static_cast<std::uint64_t>(INT64_MAX) ? std::nullopt
                                                                                    : std::optional<std::int64_t>(static_cast<std::int64_t>(v.get_uint64()));
    if (v.is_double()) {
        double d = v.get_double();
        if (std::isfinite(d) && d == std::floor(d) && std::abs(d) < 9e15) return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
}

std::optional<double> as_number(const json::value& v) {
    if (v.is_int64()) return static_cast<double>(v.get_int64());
    if (v.is_uint64()) return static_cast<double>(v.get_uint64());
    if (v.is_double() && std::isfinite(v.get_double())) return v.get_double();
    return std::nullopt;
}

std::int64_t integer_arg(const method_def& m, std::size_t i, const json::value& v, std::int64_t lo, std::int64_t hi) {
    auto x = as_integer(v);
    if (!x || *x < lo || *x > hi)
        throw call_error(k_invalid_params,
                         fmt::format("{}: argument '{}' must be an integer in [{}, {}], got {}", m.name, m.params[i].name, lo, hi, shown(v)),
                         m.params[i].name);
    return *x;
}

double number_arg(const method_def& m, std::size_t i, const json::value& v, double lo, double hi, const char* what) {
    auto x = as_number(v);
    if (!x || *x < lo || *x > hi)
        throw call_error(k_invalid_params,
                         fmt::format("{}: argument '{}' must be a number in [{}, {}]{}, got {}", m.name, m.params[i].name, num(lo),
                                     num(hi), what, shown(v)),
                         m.params[i].name);
    return *x;
}

board::channel_state& channel_arg(call_context& c, const method_def& m, bound_args& a) {
    auto ch = integer_arg(m, 0, a[0], 0, static_cast<std::int64_t>(c.b.channels.size()) - 1);
    return c.b.channels[static_cast<std::size_t>(ch)];
}

const std::vector<method_def>& methods() {
    static const std::vector<method_def> table = {
        {"get_temperature", "FPGA temperature in degrees Celsius (slow drift plus noise).", {},
         [](call_context& c, const method_def&, bound_args&) -> json::value {
             const auto& p = c.b.params();
             double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - p.epoch).count();
             double phase = unit_interval(counter_hash({p.seed, static_cast<std::uint64_t>(stream::fpga_temperature), p.index})) *
                            2 * std::numbers::pi;
             auto noise = gaussian_pair(
                 counter_hash({p.seed, static_cast<std::uint64_t>(stream::fpga_temperature), p.index, ++c.b.temperature_reads}));
             return 45.0 + 2.0 * std::sin(2 * std::numbers::pi * t / 600.0 + phase) + 0.05 * noise.real();
         }},
        {"set_frequency", "Set the carrier frequency of a channel, in Hz (FMIN <= hz <= FMAX).", {{"channel", {}}, {"hz", {}}},
         [](call_context& c, const method_def& m, bound_args& a) -> json::value {
             auto& ch = channel_arg(c, m, a);
             ch.frequency = number_arg(m, 1, a[1], c.b.params().fmin, c.b.params().fmax, " (FMIN..FMAX, Hz)");
             return nullptr;
         }},
        {"get_frequency", "Carrier frequency of a channel, in Hz.", {{"channel", {}}},
         [](call_context& c, const method_def& m, bound_args& a) -> json::value { return channel_arg(c, m, a).frequency; }},
        {"set_amplitude", "Set the carrier amplitude of a channel (0 <= amplitude <= 1).", {{"channel", {}}, {"amplitude", {}}},
         [](call_context& c, const method_def& m, bound_args& a) -> json::value {
             auto& ch = channel_arg(c, m, a);
             ch.amplitude = number_arg(m, 1, a[1], 0.0, 1.0, "");
             return nullptr;
         }},
        {"get_amplitude", "Carrier amplitude of a channel.", {{"channel", {}}},
         [](call_context& c, const method_def& m, bound_args& a) -> json::value { return channel_arg(c, m, a).amplitude; }},
        {"get_samples", "Mean of n complex samples of the channel's response: {\"i\": float, \"q\": float}.",
         {{"channel", {}}, {"n", 256}},
         [](call_context& c, const method_def& m, bound_args& a) -> json::value {
             auto& ch = channel_arg(c, m, a);
             auto n = integer_arg(m, 1, a[1], 1, k_max_n);
             const auto& p = c.b.params();
             const auto index = static_cast<std::size_t>(&ch - c.b.channels.data());
             auto v = ch.amplitude * s21(c.b.resonators(), ch.frequency) +
                      sample_noise(p.seed, p.index, index, ch.calls++, static_cast<std::size_t>(n));
             if (ch.amplitude == 0) c.warnings.push_back(fmt::format("channel {} has amplitude 0: the samples are noise only", index));
             return json::object({{"i", v.real()}, {"q", v.imag()}}, c.sp);
         }},
        {"reset", "Set every channel back to amplitude 0 and frequency FMIN.", {},
         [](call_context& c, const method_def&, bound_args&) -> json::value {
             for (auto& ch : c.b.channels) {
                 ch.amplitude = 0;
                 ch.frequency = c.b.params().fmin;
             }
             return nullptr;
         }},
    };
    static const bool fits = std::all_of(table.begin(), table.end(), [](const method_def& m) { return m.params.size() <= k_max_params; });
    if (!fits) throw std::logic_error("a simulated method has more than k_max_params parameters");
    return table;
}

const method_def* find_method(std::string_view name) {
    for (const auto& m : methods())
        if (name == m.name) return &m;
    return nullptr;
}

std::string signature_text(const method_def& m) {
    std::string s = "(";
    for (std::size_t i = 0; i < m.params.size(); ++i) {
        if (i) s += ", ";
        s += m.params[i].name;
        if (m.params[i].default_value) s += "=" + std::to_string(*m.params[i].default_value);
    }
    return s + ")";
}

// Python's rules: positional first, then keywords; no duplicates, no unknowns.
bound_args bind_args(const method_def& m, const json::array* args, const json::object* kwargs) {
    bound_args out;
    std::array<bool, k_max_params> set{};
    const std::size_t npos = args ? args->size() : 0;
    if (npos > m.params.size())
        throw call_error(k_invalid_params, fmt::format("{}{} takes {} argument{}, got {}", m.name, signature_text(m), m.params.size(),
                                                       m.params.size() == 1 ? "" : "s", npos));
    for (std::size_t i = 0; i < npos; ++i) {
        out[i] = (*args)[i];
        set[i] = true;
    }
    if (kwargs)
        for (const auto& kv : *kwargs) {
            auto it = std::find_if(m.params.begin(), m.params.end(), [&](const param_def& p) { return kv.key() == p.name; });
            if (it == m.params.end())
                throw call_error(k_invalid_params, fmt::format("{}{} got an unexpected keyword argument '{}'", m.name, signature_text(m),
                                                               clip(kv.key())),
                                 clip(kv.key()));
            auto i = static_cast<std::size_t>(it - m.params.begin());
            if (set[i])
                throw call_error(k_invalid_params, fmt::format("{}{} got multiple values for argument '{}'", m.name, signature_text(m), it->name),
                                 it->name);
            out[i] = kv.value();
            set[i] = true;
        }
    for (std::size_t i = 0; i < m.params.size(); ++i) {
        if (set[i]) continue;
        if (!m.params[i].default_value)
            throw call_error(k_invalid_params,
                             fmt::format("{}{} missing required argument '{}'", m.name, signature_text(m), m.params[i].name), m.params[i].name);
        out[i] = *m.params[i].default_value;
    }
    return out;
}

json::value call_method(board& b, const method_def& m, const json::array* args, const json::object* kwargs,
                        std::vector<std::string>& warnings, json::storage_ptr sp = {}) {
    auto bound = bind_args(m, args, kwargs);
    call_context c{b, warnings, std::move(sp)};
    return m.fn(c, m, bound);
}

json::object properties(const board& b) {
    const auto& p = b.params();
    return json::object{{"SERIAL", p.serial},
                        {"FIRMWARE", "twsim-1.0"},
                        {"NCHANNELS", static_cast<std::int64_t>(p.channels)},
                        {"FMIN", p.fmin},
                        {"FMAX", p.fmax}};
}

json::object describe(const board& b) {
    json::object ms;
    for (const auto& m : methods()) {
        json::array params;
        for (const auto& p : m.params) {
            json::object po{{"name", p.name}, {"kind", "POSITIONAL_OR_KEYWORD"}};
            if (p.default_value) po["default"] = *p.default_value;
            params.push_back(std::move(po));
        }
        ms[m.name] = json::object{{"__doc__", m.doc}, {"__signature__", json::object{{"parameters", std::move(params)}}}};
    }
    return json::object{{"__doc__", fmt::format("Simulated readout board {} ({} channels, {} to {} Hz).", b.params().serial,
                                                b.params().channels, num(b.params().fmin), num(b.params().fmax))},
                        {"methods", std::move(ms)},
                        {"properties", properties(b)}};
}

std::string not_run_message() {
    return fmt::format("not run: the reply to this batch reached {} MiB; send smaller batches", k_reply_budget / (1024 * 1024));
}

std::string batch_too_large(std::size_t n, const char* what) {
    return fmt::format("a batch holds at most {} {}, this one has {}: nothing was run", k_max_batch, what, n);
}

// ---- Tuber -------------------------------------------------------------------

json::value tuber_call(board& b, const json::value& call, std::vector<std::string>& warnings, json::storage_ptr sp) {
    if (!call.is_object()) throw call_error(k_invalid_request, "a call must be a JSON object, got " + shown(call));
    // One pass over the keys (the parser keeps one of each: the last value
    // of a duplicate) rather than a lookup per key.
    const json::value *object = nullptr, *method = nullptr, *args = nullptr, *kwargs = nullptr, *property = nullptr,
                      *resolve = nullptr;
    for (const auto& kv : call.get_object()) {
        const auto k = kv.key();
        const json::value* v = &kv.value();
        if (k == "object")
            object = v;
        else if (k == "method")
            method = v;
        else if (k == "args")
            args = v;
        else if (k == "kwargs")
            kwargs = v;
        else if (k == "property")
            property = v;
        else if (k == "resolve")
            resolve = v;
        else
            throw call_error(k_invalid_request, fmt::format("unknown key '{}' in call object (allowed: object, method, args, kwargs, "
                                                            "property, resolve)",
                                                            clip(k)));
    }
    if (method && !method->is_string()) throw call_error(k_invalid_request, "'method' must be a string, got " + shown(*method));
    if (property && !property->is_string()) throw call_error(k_invalid_request, "'property' must be a string, got " + shown(*property));
    if (args && !args->is_array() && !args->is_null()) throw call_error(k_invalid_request, "'args' must be an array, got " + shown(*args));
    if (kwargs && !kwargs->is_object() && !kwargs->is_null())
        throw call_error(k_invalid_request, "'kwargs' must be an object, got " + shown(*kwargs));
    if (resolve && !resolve->is_bool()) throw call_error(k_invalid_request, "'resolve' must be true or false, got " + shown(*resolve));
    if (method && property) throw call_error(k_invalid_request, "a call has either 'method' or 'property', not both");
    if (!method && (args || kwargs)) throw call_error(k_invalid_request, "'args' and 'kwargs' need a 'method'");

    // object: a string, or a path list (["Board"]) as real Tuber servers accept.
    std::optional<std::string_view> name;
    if (object && !object->is_null()) {
        if (object->is_string()) {
            name = object->get_string();
        } else if (object->is_array() && object->get_array().size() == 1 && object->get_array()[0].is_string()) {
            name = object->get_array()[0].get_string();
        } else {
            throw call_error(k_invalid_request, "'object' must be a string or null, got " + shown(*object));
        }
    }
    if (!name) {
        if (method || property) throw call_error(k_invalid_request, "the registry (object null) has no methods or properties; objects: Board");
        return json::object{{"objects", json::array{"Board"}}};
    }
    if (*name != "Board") throw call_error(k_method_not_found, fmt::format("no object '{}' (objects: Board)", clip(*name)));
    if (property) {
        auto props = properties(b);
        auto pname = std::string_view(property->get_string());
        if (auto* v = props.if_contains(pname)) return *v;
        // Methods are attributes too: describe one, like tuberd's resolve of a callable.
        if (auto* m = find_method(pname)) return describe(b).at("methods").at(m->name);
        throw call_error(k_invalid_params, fmt::format("Board has no property '{}' (properties: SERIAL, FIRMWARE, NCHANNELS, FMIN, FMAX)", clip(pname)));
    }
    if (!method) return describe(b);  // {"object": "Board"} with or without "resolve": true
    auto mname = std::string_view(method->get_string());
    const method_def* m = find_method(mname);
    if (!m) throw call_error(k_method_not_found, fmt::format("Board has no method '{}'", clip(mname)));
    return call_method(b, *m, args && args->is_array() ? &args->get_array() : nullptr,
                       kwargs && kwargs->is_object() ? &kwargs->get_object() : nullptr, warnings, std::move(sp));
}

// JSON text written piece by piece, each value and string by Boost.JSON's own
// serializer, so that the bytes are exactly those json::serialize gives for
// the whole tree ({"result": ..., "warnings": [...]} and the like), without
// building that tree: per call, no object with its table and no string to
// allocate, fill and free.
class json_writer {
public:
    explicit json_writer(std::string& out) noexcept : out_(out) {}
    std::size_t size() const noexcept { return out_.size(); }
    void truncate(std::size_t n) { out_.resize(n); }
    void raw(std::string_view s) { out_ += s; }
    void value(const json::value& v) {
        sr_.reset(&v);
        drain();
    }
    void string(std::string_view s) {
        sr_.reset(json::string_view(s.data(), s.size()));
        drain();
    }
    // {"error":{"message":...}}
    void error(std::string_view message) {
        raw(R"({"error":{"message":)");
        string(message);
        raw("}}");
    }

private:
    void drain() {
        char buf[512];
        while (!sr_.done()) {
            const auto piece = sr_.read(buf);
            out_.append(piece.data(), piece.size());
        }
    }
    std::string& out_;
    json::serializer sr_;
};

// One call → its reply object, written to w.
void tuber_reply(board& b, const json::value& call, bool& failed, json_writer& w) {
    std::vector<std::string> warnings;
    // A result's own memory (get_samples' object): on the stack, no malloc.
    unsigned char scratch_buf[256];
    json::monotonic_resource scratch(scratch_buf);
    const auto start = w.size();
    try {
        const json::value result = tuber_call(b, call, warnings, &scratch);
        w.raw(R"({"result":)");
        w.value(result);
        if (!warnings.empty()) {
            w.raw(R"(,"warnings":[)");
            for (std::size_t i = 0; i < warnings.size(); ++i) {
                if (i > 0) w.raw(",");
                w.string(warnings[i]);
            }
            w.raw("]");
        }
        w.raw("}");
    } catch (const std::exception& e) {
        failed = true;
        w.truncate(start);  // nothing of a reply begun before the failure
        w.error(e.what());
    }
}

// ---- JSON-RPC 2.0 ------------------------------------------------------------

json::object rpc_error(int code, std::string_view message, json::value id, const std::string& argument = {}) {
    json::object err{{"code", code}, {"message", message}};
    if (!argument.empty()) err["data"] = json::object{{"argument", argument}};
    return json::object{{"jsonrpc", "2.0"}, {"error", std::move(err)}, {"id", std::move(id)}};
}

// Echoed ids are bounded (as JSON text, escapes included), so that a reply's size is too.
constexpr std::size_t k_max_id = 256;

// One request → its response (none for a notification). With run = false the
// request is checked but not run: it gets a "not run" error.
std::optional<json::object> rpc_one(board& b, const json::value& req, bool run) {
    if (!req.is_object()) return rpc_error(k_invalid_request, "Invalid Request: not an object", nullptr);
    const auto& o = req.get_object();
    json::value id = nullptr;
    const bool notification = !o.contains("id");
    if (!notification) {
        const auto& v = o.at("id");
        if (!v.is_string() && !v.is_number() && !v.is_null())
            return rpc_error(k_invalid_request, "Invalid Request: id must be a string, a number or null", nullptr);
        if (v.is_string() && json::serialize(v).size() > k_max_id)
            return rpc_error(k_invalid_request, fmt::format("Invalid Request: an id is at most {} bytes of JSON", k_max_id), nullptr);
        id = v;
    }
    auto* ver = o.if_contains("jsonrpc");
    if (!ver || !ver->is_string() || ver->get_string() != "2.0")
        return rpc_error(k_invalid_request, "Invalid Request: \"jsonrpc\" must be \"2.0\"", id);
    auto* method = o.if_contains("method");
    if (!method || !method->is_string()) return rpc_error(k_invalid_request, "Invalid Request: \"method\" must be a string", id);
    auto* params = o.if_contains("params");
    if (params && !params->is_array() && !params->is_object())
        return rpc_error(k_invalid_request, "Invalid Request: \"params\" must be an array or an object", id);
    for (const auto& kv : o) {
        auto k = kv.key();
        if (k != "jsonrpc" && k != "method" && k != "params" && k != "id")
            return rpc_error(k_invalid_request, fmt::format("Invalid Request: unknown member '{}'", clip(k)), id);
    }
    if (!run) {
        if (notification) return std::nullopt;
        return rpc_error(k_server_error, not_run_message(), id);
    }
    json::value result;
    try {
        auto name = std::string_view(method->get_string());
        const method_def* m = name.starts_with("Board.") ? find_method(name.substr(6)) : nullptr;
        if (!m) throw call_error(k_method_not_found, fmt::format("Method not found: '{}' (methods are Board.get_temperature, "
                                                                 "Board.set_frequency, ...)",
                                                                 clip(name)));
        std::vector<std::string> warnings;
        result = call_method(b, *m, params && params->is_array() ? &params->get_array() : nullptr,
                             params && params->is_object() ? &params->get_object() : nullptr, warnings);
    } catch (const call_error& e) {
        if (notification) return std::nullopt;
        return rpc_error(e.code == k_invalid_request ? k_invalid_params : e.code, e.what(), id, e.argument);
    } catch (const std::exception& e) {
        if (notification) return std::nullopt;
        return rpc_error(k_server_error, e.what(), id);
    }
    if (notification) return std::nullopt;
    return json::object{{"jsonrpc", "2.0"}, {"result", std::move(result)}, {"id", std::move(id)}};
}

}  // namespace

board::board(board_params p, std::vector<resonator> resonators) : p_(std::move(p)), res_(std::move(resonators)) {
    channels.resize(p_.channels);
    for (auto& ch : channels) ch.frequency = p_.fmin;
}

std::string board::tuber(std::string_view body, bool continue_on_error, const pause_fn& pause) {
    // The parsed request lives in one arena, freed at once; its size is a
    // small multiple of the body's (at most 4 MiB).
    json::monotonic_resource arena;
    json::error_code ec;
    json::value req = json::parse(body, ec, &arena);
    auto error = [](const std::string& message) { return json::serialize(json::object{{"error", json::object{{"message", message}}}}); };
    if (ec) return error("cannot parse the request as JSON: " + ec.message());
    if (!all_finite(req)) return error(std::string("cannot read the request: ") + k_out_of_range);
    bool failed = false;
    std::string out;
    json_writer w(out);
    if (!req.is_array()) {
        tuber_reply(*this, req, failed, w);
        return out;
    }
    const auto& calls = req.get_array();
    if (calls.size() > k_max_batch) return error(batch_too_large(calls.size(), "calls"));
    // The reply is written call by call: no second tree of every result, and
    // its size is known as it grows.
    out = "[";
    for (std::size_t i = 0; i < calls.size(); ++i) {
        if (i > 0 && i % k_calls_per_pause == 0 && pause) pause();
        if (i > 0) out += ',';
        if (out.size() >= k_reply_budget)
            w.error(not_run_message());
        else if (failed && !continue_on_error)
            w.error("Something went wrong in a preceding call");
        else
            tuber_reply(*this, calls[i], failed, w);
    }
    out += ']';
    return out;
}

std::string board::jsonrpc(std::string_view body, const pause_fn& pause) {
    json::monotonic_resource arena;
    json::error_code ec;
    json::value req = json::parse(body, ec, &arena);
    if (ec) return json::serialize(rpc_error(k_parse_error, "Parse error: " + ec.message(), nullptr));
    if (!all_finite(req)) return json::serialize(rpc_error(k_parse_error, std::string("Parse error: ") + k_out_of_range, nullptr));
    if (!req.is_array()) {
        auto reply = rpc_one(*this, req, true);
        return reply ? json::serialize(*reply) : std::string();
    }
    const auto& reqs = req.get_array();
    if (reqs.empty()) return json::serialize(rpc_error(k_invalid_request, "Invalid Request: empty batch", nullptr));
    if (reqs.size() > k_max_batch)
        return json::serialize(rpc_error(k_invalid_request, "Invalid Request: " + batch_too_large(reqs.size(), "requests"), nullptr));
    std::string out = "[";
    bool any = false;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
        if (i > 0 && i % k_calls_per_pause == 0 && pause) pause();
        auto reply = rpc_one(*this, reqs[i], out.size() < k_reply_budget);
        if (!reply) continue;
        if (any) out += ',';
        out += json::serialize(*reply);
        any = true;
    }
    return any ? out + "]" : std::string();
}

}  // namespace tw::sim::detail
