#include <tw/drivers/jsonrpc/client.hpp>

#include <climits>
#include <map>
#include <stdexcept>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/core.h>

#include <tw/drivers/checked.hpp>

namespace tw::jsonrpc {

namespace {

std::string json_text(const json::value& v) { return json::serialize(v); }

json::object make_request(std::string_view method, json::value params, const json::value& id) {
    json::object o;
    o["jsonrpc"] = "2.0";
    o["method"] = json::string(method);
    if (!params.is_null()) {
        if (!params.is_array() && !params.is_object())
            throw std::invalid_argument("jsonrpc: params must be an array, an object or null");
        o["params"] = std::move(params);
    }
    if (!id.is_null()) o["id"] = id;
    return o;
}

}  // namespace

result parse_response(const std::string& address, std::string_view method, const json::value& resp) {
    if (!resp.is_object())
        return result(std::make_exception_ptr(protocol_error(address, fmt::format("{}: response is not an object: {}", method, json_text(resp)))));
    const auto& o = resp.get_object();
    if (auto* err = o.if_contains("error"); err && !err->is_null()) {
        int code = 0;
        std::string message, data;
        if (err->is_object()) {
            auto& eo = err->get_object();
            // An int, by the spec; anything else is reported, not narrowed.
            if (auto* c = eo.if_contains("code"); c && !c->is_null()) try {
                    code = tw::checked<int>(address, fmt::format("{}: error.code", method), *c, INT_MIN, INT_MAX);
                } catch (const protocol_error&) {
                    return result(std::current_exception());
                }
            if (auto* m = eo.if_contains("message"); m && m->is_string()) message = std::string(m->get_string());
            if (auto* d = eo.if_contains("data")) data = json_text(*d);
        } else {
            message = json_text(*err);
        }
        auto what = fmt::format("{}: error {}: {}", method, code, message);
        if (!data.empty()) what += " (data: " + data + ")";
        return result(std::make_exception_ptr(protocol_error(address, what, code, message, data)));
    }
    auto* r = o.if_contains("result");
    if (!r) return result(std::make_exception_ptr(protocol_error(address, fmt::format("{}: response has neither result nor error", method))));
    return result(*r);
}

json::value parse_reply(const std::string& address, const http_reply& r) {
    if (r.status < 200 || r.status >= 300) {
        std::string msg = r.reason;
        boost::system::error_code ec;
        auto v = json::parse(r.body, ec);
        // Some servers send a JSON-RPC error with a non-2xx status: report it.
        if (!ec && v.is_object() && v.get_object().contains("error")) return v;
        throw protocol_error(address, fmt::format("HTTP {} {}", r.status, r.reason), static_cast<int>(r.status), msg);
    }
    if (r.body.find_first_not_of(" \t\r\n") == std::string::npos) return nullptr;
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (ec) throw protocol_error(address, "reply is not JSON (" + ec.message() + ")");
    return v;
}

result parse_call_reply(const std::string& address, std::string_view method, std::int64_t id, const json::value& v) {
    if (v.is_object()) {
        auto* rid = v.get_object().if_contains("id");
        const bool error_without_id = v.get_object().contains("error") && (!rid || rid->is_null());
        if (!error_without_id && (!rid || !rid->is_int64() || rid->get_int64() != id))
            throw protocol_error(address, fmt::format("{}: reply for another request (id {}, expected {})", method,
                                                      rid ? json_text(*rid) : "none", id));
    }
    return parse_response(address, method, v);
}

std::vector<result> parse_batch_reply(const std::string& address, const std::vector<std::int64_t>& ids,
                                      const std::vector<std::string>& methods, const json::value& v) {
    std::vector<result> out;
    if (ids.empty()) return out;  // notifications only
    if (v.is_object() && v.get_object().contains("error")) {
        // The server rejected the whole batch (e.g. invalid request).
        for (std::size_t i = 0; i < ids.size(); ++i) out.push_back(parse_response(address, methods[i], v));
        return out;
    }
    if (!v.is_array()) throw protocol_error(address, "batch reply is not an array");
    std::map<std::int64_t, const json::value*> by_id;
    for (auto& r : v.get_array())
        if (r.is_object())
            if (auto* id = r.get_object().if_contains("id"); id && id->is_int64()) by_id[id->get_int64()] = &r;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        auto it = by_id.find(ids[i]);
        if (it == by_id.end())
            out.emplace_back(std::make_exception_ptr(protocol_error(address, fmt::format("{}: no response in the batch reply", methods[i]))));
        else
            out.push_back(parse_response(address, methods[i], *it->second));
    }
    return out;
}

url_parts parse_url(std::string_view url) {
    auto fail = [&](const char* why) -> url_parts {
        throw std::invalid_argument("invalid URL '" + std::string(url) + "': " + why + " (expected http://HOST:PORT/PATH)");
    };
    std::string_view rest = url;
    bool scheme = false;
    if (rest.starts_with("http://")) {
        rest.remove_prefix(7);
        scheme = true;
    } else if (rest.find("://") != std::string_view::npos) {
        return fail("only http:// is supported");
    }
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    if (authority.empty()) return fail("no host");
    const bool has_port = authority.back() != ']' && authority.rfind(':') != std::string_view::npos &&
                          (authority.front() != '[' || authority.rfind(':') > authority.find(']'));
    std::string address(authority);
    if (!has_port) {
        if (!scheme) return fail("no port");
        address += ":80";
    }
    try {
        parse_address(address);
    } catch (const std::invalid_argument& e) {
        return fail(e.what());
    }
    return {address, target};
}

const json::value& result::value() const {
    if (error_) std::rethrow_exception(error_);
    return value_;
}

std::string result::error_message() const { return tw::describe(error_); }

client::client(std::string_view url, options opts)
    : target_(parse_url(url).target),
      http_(parse_url(url).address, http_options{.timeout = opts.timeout,
                                                .reconnect = opts.reconnect,
                                                .max_body = opts.max_reply,
                                                .max_header = opts.max_header,
                                                .log = opts.log}) {}

client::~client() = default;

json::value client::request(const json::value& body) {
    return parse_reply(address(), http_.post(target_, json::serialize(body)));
}

json::value client::call(std::string_view method, json::value params) {
    const auto id = next_id();
    auto v = request(make_request(method, std::move(params), id));
    return parse_call_reply(address(), method, id, v).value();
}

void client::notify(std::string_view method, json::value params) {
    auto v = request(make_request(method, std::move(params), nullptr));
    // A notification has no reply; a server that reports an error anyway is heard.
    if (v.is_object() && v.get_object().contains("error")) parse_response(address(), method, v).value();
}

std::size_t batch::call(std::string_view method, json::value params) {
    const auto id = client_->next_id();
    requests_.push_back(make_request(method, std::move(params), id));
    ids_.push_back(id);
    methods_.emplace_back(method);
    return ids_.size() - 1;
}

void batch::notify(std::string_view method, json::value params) {
    requests_.push_back(make_request(method, std::move(params), nullptr));
}

std::vector<result> batch::execute() {
    json::array reqs = std::move(requests_);
    auto ids = std::move(ids_);
    auto methods = std::move(methods_);
    requests_ = {};
    ids_ = {};
    methods_ = {};
    if (reqs.empty()) return {};
    auto v = client_->request(json::value(std::move(reqs)));
    return parse_batch_reply(client_->address(), ids, methods, v);
}

}  // namespace tw::jsonrpc
