#include <tw/drivers/tuber/board.hpp>
#include <tw/drivers/tuber/client.hpp>

#include <tw/drivers/checked.hpp>

#include "text.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

namespace tw::tuber {

namespace {

using tw::detail::trim;

// Splits at top-level commas (not inside brackets or quotes).
std::vector<std::string_view> split_top_level(std::string_view s) {
    std::vector<std::string_view> out;
    int depth = 0;
    char quote = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (quote) {
            if (c == '\\') ++i;
            else if (c == quote) quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '(' || c == '[' || c == '{') {
            ++depth;
        } else if (c == ')' || c == ']' || c == '}') {
            --depth;
        } else if (c == ',' && depth == 0) {
            out.push_back(s.substr(start, i - start));
            start = i + 1;
        }
    }
    out.push_back(s.substr(start));
    return out;
}

// A Python default as JSON where it reads as JSON (numbers, strings in double
// quotes, true/false/null), the Python spellings of constants, else as text.
json::value python_default(std::string_view text) {
    text = trim(text);
    if (text == "None") return nullptr;
    if (text == "True") return true;
    if (text == "False") return false;
    if (text.size() >= 2 && text.front() == '\'' && text.back() == '\'')
        return json::string(text.substr(1, text.size() - 2));
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (!ec) return v;
    return json::string(text);
}

std::string json_text(const json::value& v) { return json::serialize(v); }

// Appends v's JSON text to out, without a string of its own in between.
template <class T>
void append_json(std::string& out, const T& v) {
    json::serializer sr;
    sr.reset(&v);
    // Arguments are mostly a few numbers: one read usually does, and a
    // serializer that never has to suspend allocates nothing.
    std::size_t room = 128;
    while (!sr.done()) {
        const auto used = out.size();
        out.resize(used + room);
        out.resize(used + sr.read(out.data() + used, room).size());
        room *= 2;
    }
}

std::string json_string(std::string_view s) { return json::serialize(json::string_view(s.data(), s.size())); }

// Requests are written as JSON text directly rather than built as a tree and
// serialised: a tuning sweep sends thousands of calls per board, and a tree
// per call (built, serialised, destroyed) was a large share of tw tune's
// client time. Names are escaped by Boost.JSON; the text is what serialising
// {"object", "method", "args", "kwargs"} in that order gave.
//
// A method call up to its arguments: {"object":"Board","method":"get_samples","args":
std::string call_prefix(std::string_view object, std::string_view method) {
    return "{\"object\":" + json_string(object) + ",\"method\":" + json_string(method) + ",\"args\":";
}

// The rest of a call after call_prefix: [0],"kwargs":{"n":256}}
void append_call_arguments(std::string& out, const json::array& args, const json::object& kwargs) {
    append_json(out, args);
    out += ",\"kwargs\":";
    append_json(out, kwargs);
    out += '}';
}

// A property read: {"object":"Board","property":"SERIAL"}
std::string property_request(std::string_view object, std::string_view name) {
    return "{\"object\":" + json_string(object) + ",\"property\":" + json_string(name) + "}";
}

std::string error_message_of(const json::value& err) {
    if (err.is_string()) return std::string(err.get_string());
    if (err.is_object()) {
        if (auto* m = err.get_object().if_contains("message"); m && m->is_string()) return std::string(m->get_string());
    }
    return json_text(err);
}

std::vector<std::string> warnings_of(const json::object& o) {
    std::vector<std::string> w;
    if (auto* ws = o.if_contains("warnings"); ws && ws->is_array())
        for (auto& x : ws->get_array()) w.push_back(x.is_string() ? std::string(x.get_string()) : json_text(x));
    return w;
}

}  // namespace

result parse_result(const std::string& address, const std::string& name, const json::value& entry) {
    if (!entry.is_object())
        return result(std::make_exception_ptr(protocol_error(address, fmt::format("{}: reply entry is not an object: {}", name, json_text(entry)))));
    const auto& o = entry.get_object();
    if (auto* err = o.if_contains("error")) {
        auto msg = error_message_of(*err);
        return result(std::make_exception_ptr(protocol_error(address, fmt::format("{}: {}", name, msg), 0, msg)));
    }
    auto* r = o.if_contains("result");
    if (!r) return result(std::make_exception_ptr(protocol_error(address, fmt::format("{}: reply has neither result nor error: {}", name, json_text(entry)))));
    return result(json::value(*r, json::storage_ptr()), warnings_of(o));
}

json::value parse_reply(const std::string& address, const http_reply& r, json::storage_ptr sp) {
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec, std::move(sp));
    if (ec) {
        if (r.status != 200)
            throw protocol_error(address, fmt::format("HTTP {} {}", r.status, r.reason), static_cast<int>(r.status), r.reason);
        throw protocol_error(address, "reply is not JSON (" + ec.message() + ")");
    }
    if (r.status != 200) {
        std::string msg = r.reason;
        if (v.is_object())
            if (auto* e = v.get_object().if_contains("error")) msg = error_message_of(*e);
        throw protocol_error(address, fmt::format("HTTP {}: {}", r.status, msg), static_cast<int>(r.status), msg);
    }
    return v;
}

namespace {

// parse_batch_reply with the call names looked up only for messages:
// name_of(i) is call i's "Object.method".
template <class NameOf>
std::vector<result> batch_results(const std::string& address, std::size_t n, NameOf name_of, const json::value& v) {
    std::vector<result> out;
    if (v.is_object() && v.get_object().contains("error")) {
        // The whole request was refused: every call gets that error.
        auto msg = error_message_of(v.get_object().at("error"));
        for (std::size_t i = 0; i < n; ++i)
            out.emplace_back(std::make_exception_ptr(protocol_error(address, fmt::format("{}: {}", name_of(i), msg), 0, msg)));
        return out;
    }
    if (!v.is_array() || v.get_array().size() != n)
        throw protocol_error(address, fmt::format("batch of {} calls: the reply is not an array of {} results", n, n));
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.push_back(parse_result(address, name_of(i), v.get_array()[i]));
    return out;
}

}  // namespace

std::vector<result> parse_batch_reply(const std::string& address, const std::vector<std::string>& names, const json::value& v) {
    return batch_results(address, names.size(), [&](std::size_t i) -> const std::string& { return names[i]; }, v);
}

object_info parse_description(const std::string& address, std::string_view object, const json::value& v) {
    if (!v.is_object()) throw protocol_error(address, fmt::format("description of {} is not an object", object));
    object_info info;
    info.name = std::string(object);
    const auto& o = v.get_object();
    if (auto* d = o.if_contains("__doc__"); d && d->is_string()) info.doc = std::string(d->get_string());
    if (auto* ms = o.if_contains("methods"); ms && ms->is_object()) {
        for (auto& [name, m] : ms->get_object()) {
            method_info mi;
            mi.name = std::string(name);
            if (m.is_object()) {
                auto& mo = m.get_object();
                if (auto* d = mo.if_contains("__doc__"); d && d->is_string()) mi.doc = std::string(d->get_string());
                if (auto* s = mo.if_contains("__signature__")) mi.parameters = parse_signature(*s);
            }
            mi.signature = format_signature(mi.parameters);
            info.methods.emplace(mi.name, std::move(mi));
        }
    }
    if (auto* ps = o.if_contains("properties"); ps && ps->is_object()) info.properties = ps->get_object();
    return info;
}

std::vector<parameter> parse_signature(const json::value& sig) {
    std::vector<parameter> out;
    if (sig.is_object()) {
        auto* ps = sig.get_object().if_contains("parameters");
        if (!ps) return out;
        auto add = [&](const json::value& p, std::string fallback_name) {
            parameter q;
            q.name = std::move(fallback_name);
            if (p.is_object()) {
                auto& po = p.get_object();
                if (auto* n = po.if_contains("name"); n && n->is_string()) q.name = std::string(n->get_string());
                if (auto* k = po.if_contains("kind"); k && k->is_string()) q.kind = std::string(k->get_string());
                if (auto* d = po.if_contains("default")) q.default_value = *d;
            }
            if (q.name != "self") out.push_back(std::move(q));
        };
        if (ps->is_array())
            for (auto& p : ps->get_array()) add(p, "");
        else if (ps->is_object())  // {"name": {...}} as inspect's OrderedDict
            for (auto& [k, p] : ps->get_object()) add(p, std::string(k));
        return out;
    }
    if (!sig.is_string()) return out;
    std::string_view s = trim(sig.get_string());
    if (auto arrow = s.rfind("->"); arrow != std::string_view::npos && s.find(')') < arrow) s = trim(s.substr(0, arrow));
    if (!s.empty() && s.front() == '(') s.remove_prefix(1);
    if (!s.empty() && s.back() == ')') s.remove_suffix(1);
    if (trim(s).empty()) return out;
    for (auto part : split_top_level(s)) {
        part = trim(part);
        if (part.empty() || part == "/" || part == "*") continue;
        parameter q;
        q.kind = "POSITIONAL_OR_KEYWORD";
        if (part.starts_with("**")) {
            q.kind = "VAR_KEYWORD";
            part.remove_prefix(2);
        } else if (part.starts_with("*")) {
            q.kind = "VAR_POSITIONAL";
            part.remove_prefix(1);
        }
        std::string_view name = part, def;
        bool has_default = false;
        if (auto eq = part.find('='); eq != std::string_view::npos) {
            name = part.substr(0, eq);
            def = part.substr(eq + 1);
            has_default = true;
        }
        if (auto colon = name.find(':'); colon != std::string_view::npos) name = name.substr(0, colon);  // annotation
        q.name = std::string(trim(name));
        if (has_default) q.default_value = python_default(def);
        if (q.name != "self") out.push_back(std::move(q));
    }
    return out;
}

std::string format_signature(const std::vector<parameter>& params) {
    std::string s = "(";
    for (std::size_t i = 0; i < params.size(); ++i) {
        if (i) s += ", ";
        if (params[i].kind == "VAR_POSITIONAL") s += "*";
        if (params[i].kind == "VAR_KEYWORD") s += "**";
        s += params[i].name;
        if (params[i].default_value) s += "=" + json_text(*params[i].default_value);
    }
    return s + ")";
}

const json::value& result::value() const {
    if (error_) std::rethrow_exception(error_);
    return value_;
}

std::string result::error_message() const { return tw::describe(error_); }

client::client(std::string address, options opts)
    : opts_(std::move(opts)),
      http_(std::move(address), http_options{.timeout = opts_.timeout,
                                             .reconnect = opts_.reconnect,
                                             .max_body = opts_.max_reply,
                                             .max_header = opts_.max_header,
                                             .log = opts_.log}) {}

client::~client() = default;

void client::warn(const std::string& call, const std::string& warning) const {
    if (opts_.on_warning)
        opts_.on_warning(address(), call, warning);
    else
        spdlog::warn("{}: {}: {}", address(), call, warning);
}

json::value client::request(const json::value& body, bool continue_on_error) {
    return request_text(json::serialize(body), continue_on_error);
}

json::value client::request_text(std::string body, bool continue_on_error, json::storage_ptr sp) {
    http_connection::headers h;
    if (continue_on_error) h.emplace_back("X-Tuber-Options", "continue-on-error");
    return parse_reply(address(), http_.post(opts_.target, std::move(body), h), std::move(sp));
}

reply client::call_with_warnings(std::string_view object, std::string_view method, json::array args, json::object kwargs) {
    const auto name = fmt::format("{}.{}", object, method);
    auto body = call_prefix(object, method);
    append_call_arguments(body, args, kwargs);
    auto v = request_text(std::move(body), false);
    auto r = parse_result(address(), name, v);
    reply out{r.value(), r.warnings()};  // value() rethrows the call's error
    return out;
}

json::value client::call(std::string_view object, std::string_view method, json::array args, json::object kwargs) {
    const auto name = fmt::format("{}.{}", object, method);
    auto r = call_with_warnings(object, method, std::move(args), std::move(kwargs));
    for (auto& w : r.warnings) warn(name, w);
    return std::move(r.value);
}

json::value client::property(std::string_view object, std::string_view name) {
    const auto what = fmt::format("{}.{}", object, name);
    auto r = parse_result(address(), what, request_text(property_request(object, name), false));
    for (auto& w : r.warnings()) warn(what, w);
    return r.value();
}

std::vector<std::string> client::objects() {
    auto r = parse_result(address(), "registry", request(json::object{}));
    const auto& v = r.value();
    std::vector<std::string> out;
    const json::value* objs = v.is_object() ? v.get_object().if_contains("objects") : nullptr;
    if (!objs || !objs->is_array()) throw protocol_error(address(), "registry description has no 'objects' list: " + json_text(v));
    for (auto& o : objs->get_array())
        if (o.is_string()) out.emplace_back(o.get_string());
    return out;
}

const object_info& client::resolve(std::string_view object) {
    {
        std::lock_guard g(cache_mtx_);
        if (auto it = cache_.find(object); it != cache_.end()) return *it->second;
    }
    json::object req;
    req["object"] = json::string(object);
    req["resolve"] = true;
    auto r = parse_result(address(), std::string(object), request(req));
    auto info = std::make_unique<object_info>(parse_description(address(), object, r.value()));
    std::lock_guard g(cache_mtx_);
    auto [it, inserted] = cache_.try_emplace(std::string(object), std::move(info));
    return *it->second;
}

void client::forget_metadata() {
    std::lock_guard g(cache_mtx_);
    // References handed out earlier stay valid: the old entries are kept.
    for (auto& [name, info] : cache_) retired_.push_back(std::move(info));
    cache_.clear();
}

std::uint32_t batch::target_of(bool property, std::string_view object, std::string_view member) {
    for (std::size_t i = 0; i < targets_.size(); ++i) {
        const auto& t = targets_[i];
        if (t.property == property && t.object == object && t.member == member) return static_cast<std::uint32_t>(i);
    }
    target t{property, std::string(object), std::string(member), fmt::format("{}.{}", object, member),
             property ? property_request(object, member) : call_prefix(object, member)};
    targets_.push_back(std::move(t));
    return static_cast<std::uint32_t>(targets_.size() - 1);
}

std::size_t batch::call(std::string_view object, std::string_view method, json::array args, json::object kwargs) {
    const auto t = target_of(false, object, method);
    if (!targets_of_calls_.empty()) calls_ += ',';
    calls_ += targets_[t].prefix;
    append_call_arguments(calls_, args, kwargs);
    targets_of_calls_.push_back(t);
    return targets_of_calls_.size() - 1;
}

std::size_t batch::property(std::string_view object, std::string_view name) {
    const auto t = target_of(true, object, name);
    if (!targets_of_calls_.empty()) calls_ += ',';
    calls_ += targets_[t].prefix;
    targets_of_calls_.push_back(t);
    return targets_of_calls_.size() - 1;
}

std::vector<result> batch::execute() {
    // Emptied before sending, so the batch is reusable whatever happens.
    auto body = "[" + std::move(calls_) + "]";
    const auto targets = std::move(targets_);
    const auto of_calls = std::move(targets_of_calls_);
    calls_.clear();
    targets_.clear();
    targets_of_calls_.clear();
    if (of_calls.empty()) return {};
    auto name_of = [&](std::size_t i) -> const std::string& { return targets[of_calls[i]].name; };
    // The reply's tree lives in one arena dropped at once (no walk, no frees);
    // the results copy their values out of it.
    json::monotonic_resource arena;
    std::vector<result> out;
    {
        const auto v = client_->request_text(std::move(body), continue_on_error_, &arena);
        out = batch_results(client_->address(), of_calls.size(), name_of, v);
    }
    for (std::size_t i = 0; i < out.size(); ++i)
        for (auto& w : out[i].warnings()) client_->warn(name_of(i), w);
    return out;
}

// board

board::board(std::string address, options opts, std::string object)
    : client_(std::move(address), std::move(opts)), object_(std::move(object)) {}

const board::info& board::properties() {
    {
        std::lock_guard g(mtx_);
        if (info_) return *info_;
    }
    batch b(client_);
    for (auto* name : {"SERIAL", "FIRMWARE", "NCHANNELS", "FMIN", "FMAX"}) b.property(object_, name);
    auto r = b.execute();
    info i;
    auto text = [&](std::size_t k) {
        const auto& v = r[k].value();
        return v.is_string() ? std::string(v.get_string()) : json_text(v);
    };
    auto name = [&](const char* property) { return object_ + "." + property; };
    i.serial = text(0);
    i.firmware = text(1);
    i.nchannels = tw::checked<int>(address(), name("NCHANNELS"), r[2].value(), 1, k_max_channels);
    i.fmin = tw::checked<double>(address(), name("FMIN"), r[3].value(), 0.0, k_max_frequency);
    i.fmax = tw::checked<double>(address(), name("FMAX"), r[4].value(), 0.0, k_max_frequency);
    if (!(i.fmin < i.fmax))
        throw protocol_error(address(), fmt::format("{} is {}, not below {} = {}", name("FMIN"), i.fmin, name("FMAX"), i.fmax));
    std::lock_guard g(mtx_);
    if (!info_) info_ = std::move(i);
    return *info_;
}

std::string board::serial() { return properties().serial; }
std::string board::firmware() { return properties().firmware; }
int board::nchannels() { return properties().nchannels; }
double board::fmin() { return properties().fmin; }
double board::fmax() { return properties().fmax; }

void board::set_frequency(int channel, double hz) { client_.call(object_, "set_frequency", {channel, hz}); }
double board::get_frequency(int channel) {
    return tw::checked<double>(address(), object_ + ".get_frequency", client_.call(object_, "get_frequency", {channel}), 0.0,
                               k_max_frequency);
}
void board::set_amplitude(int channel, double amplitude) { client_.call(object_, "set_amplitude", {channel, amplitude}); }
double board::get_amplitude(int channel) {
    return tw::checked<double>(address(), object_ + ".get_amplitude", client_.call(object_, "get_amplitude", {channel}), 0.0, 1.0);
}
std::complex<double> board::get_samples(int channel, int n) {
    return to_complex(client_.call(object_, "get_samples", {channel, n}), address(), object_ + ".get_samples");
}
double board::get_temperature() {
    return tw::checked<double>(address(), object_ + ".get_temperature", client_.call(object_, "get_temperature"), -273.15,
                               1000.0);
}
void board::reset() { client_.call(object_, "reset"); }

std::complex<double> board::to_complex(const json::value& v, const std::string& address, const std::string& what) {
    const json::value* i = v.is_object() ? v.get_object().if_contains("i") : nullptr;
    const json::value* q = v.is_object() ? v.get_object().if_contains("q") : nullptr;
    if (!i || !q || !i->is_number() || !q->is_number())
        throw protocol_error(address, fmt::format("{} returned {}, not {{\"i\": number, \"q\": number}}", what, json_text(v)));
    return {tw::checked<double>(address, what + ".i", *i, -k_max_sample, k_max_sample),
            tw::checked<double>(address, what + ".q", *q, -k_max_sample, k_max_sample)};
}

}  // namespace tw::tuber
