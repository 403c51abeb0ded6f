#pragma once
// tw::tuber::client: Tuber — the JSON-over-HTTP protocol of the readout
// boards (docs/WIRE_FORMATS.md, Tuber) — for plain blocking code on tw fibers: method
// calls, properties, `resolve` (descriptions, cached), and batches (many calls
// in one POST, results in order, an error per failed call).
//
// Warnings the board attaches to a result are passed to options.on_warning
// (default: spdlog's default logger, level warn), and returned by
// call_with_warnings() and in batch results.
// Metadata: resolve(object) asks once and caches; `__signature__` may be an
// object ({"parameters": [...]}) or a string ("(channel, n=256)").
// Connection: HTTP/1.1 keep-alive with reconnect (tw::http_connection); replies
// are bounded (options.max_reply, default 64 MiB).
//
// Thread safety: one client may be shared by fibers of any thread; requests
// are serialised in arrival order (batch calls to cut round trips).
// Errors: protocol_error for a call the board rejected (its message in
// peer_message()), for a malformed or oversized reply; timeout_error,
// cancelled_error, connection_error.
//
// Example:
//   tw::tuber::client c("127.0.0.1:9000");
//   c.call("Board", "set_frequency", {0, 4.5e6});
//   auto iq = c.call("Board", "get_samples", {0}, {{"n", 1024}});
//   std::string serial = c.property("Board", "SERIAL").as_string().c_str();
//
//   tw::tuber::batch b(c);
//   for (int ch = 0; ch < 4; ++ch) b.call("Board", "get_frequency", {ch});
//   for (auto& r : b.execute()) fmt::print("{}\n", r.value().as_double());

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include <tw/drivers/errors.hpp>
#include <tw/drivers/http.hpp>

namespace tw::tuber {

namespace json = boost::json;
using namespace std::chrono_literals;

struct options {
    std::chrono::nanoseconds timeout = 5s;        // per exchange (not the wait for the client), under the caller's deadline
    reconnect_policy reconnect{};
    std::size_t max_reply = 64 * 1024 * 1024;     // reply body limit
    std::size_t max_header = 64 * 1024;           // reply header limit
    std::string target = "/tuber";
    command_log log{};
    // Receives each warning: the board's address, "Object.method", the text.
    // Empty: spdlog's default logger at level warn.
    std::function<void(const std::string& address, const std::string& call, const std::string& warning)> on_warning;
};

struct parameter {
    std::string name;
    std::string kind;                          // "POSITIONAL_OR_KEYWORD", "VAR_POSITIONAL", ...
    std::optional<json::value> default_value;  // none: required
};

struct method_info {
    std::string name;
    std::string doc;
    std::vector<parameter> parameters;
    std::string signature;  // "(channel, n=256)"
};

struct object_info {
    std::string name;
    std::string doc;
    std::map<std::string, method_info> methods;
    json::object properties;  // NAME -> value at the time of resolve
};

// `__signature__` in either form -> parameters (a string is parsed as
// Python writes signatures; "self" and the "/" and "*" markers are dropped).
std::vector<parameter> parse_signature(const json::value& signature);
// Parameters -> "(channel, n=256)".
std::string format_signature(const std::vector<parameter>& params);

// A call's result with the warnings the board attached.
struct reply {
    json::value value;
    std::vector<std::string> warnings;
};

// One entry of a batch: a value or the error of that call, plus warnings.
class result {
public:
    bool ok() const noexcept { return !error_; }
    // The value, or rethrows this call's error (a protocol_error).
    const json::value& value() const;
    const std::exception_ptr& error() const noexcept { return error_; }
    std::string error_message() const;
    const std::vector<std::string>& warnings() const noexcept { return warnings_; }

    result(json::value v, std::vector<std::string> w) : value_(std::move(v)), warnings_(std::move(w)) {}
    explicit result(std::exception_ptr e) : error_(std::move(e)) {}

private:
    json::value value_;
    std::exception_ptr error_;
    std::vector<std::string> warnings_;
};

// Reading replies without a connection: what client and batch do with the
// bytes a board sends (pure functions, for tests and fuzzing). `address`
// and the call names ("Object.method") are for messages.
// Errors: protocol_error as the client's.
//
// A reply's HTTP status and body -> its JSON value, its tree allocated from
// `sp` (e.g. a json::monotonic_resource dropped at once with the reply).
json::value parse_reply(const std::string& address, const http_reply& r, json::storage_ptr sp = {});
// One call's entry of a reply -> its result (the board's error inside it).
// The result's value is a copy in the default storage, whatever storage
// `entry` lives in, so it may outlive the reply.
result parse_result(const std::string& address, const std::string& call, const json::value& entry);
// A batch's reply -> one result per call in `calls`, in order.
std::vector<result> parse_batch_reply(const std::string& address, const std::vector<std::string>& calls,
                                      const json::value& reply);
// A resolve reply (the value of `result`) -> the object's description.
object_info parse_description(const std::string& address, std::string_view object, const json::value& description);

class client {
public:
    explicit client(std::string address, options opts = {});
    client(const client&) = delete;
    client& operator=(const client&) = delete;
    ~client();

    json::value call(std::string_view object, std::string_view method, json::array args = {}, json::object kwargs = {});
    reply call_with_warnings(std::string_view object, std::string_view method, json::array args = {},
                             json::object kwargs = {});
    json::value property(std::string_view object, std::string_view name);
    // The object's description, asked once and cached.
    const object_info& resolve(std::string_view object);
    // The registry's objects ({} -> {"objects": [...]}).
    std::vector<std::string> objects();
    // Forgets cached descriptions (e.g. after a firmware update).
    void forget_metadata();

    // One raw request: a call object or an array of them; returns the parsed
    // reply as is. continue_on_error sets X-Tuber-Options: continue-on-error.
    json::value request(const json::value& body, bool continue_on_error = false);

    const std::string& address() const noexcept { return http_.address(); }
    const options& opts() const noexcept { return opts_; }

    // For batch: report a warning through options.on_warning.
    void warn(const std::string& call, const std::string& warning) const;

private:
    friend class batch;
    // request() for a body already serialised; the reply's tree is allocated
    // from `sp`.
    json::value request_text(std::string body, bool continue_on_error, json::storage_ptr sp = {});

    options opts_;
    http_connection http_;
    std::mutex cache_mtx_;
    std::map<std::string, std::unique_ptr<object_info>, std::less<>> cache_;
    std::vector<std::unique_ptr<object_info>> retired_;  // forgotten, still referenced perhaps
};

// A batching context: queue calls, send them in one POST, get one result per
// call in order. Not thread-safe (build it on one fiber); the client it uses is.
class batch {
public:
    explicit batch(client& c, bool continue_on_error = false) : client_(&c), continue_on_error_(continue_on_error) {}

    // Queue a call or property read; returns its index in the results.
    std::size_t call(std::string_view object, std::string_view method, json::array args = {}, json::object kwargs = {});
    std::size_t property(std::string_view object, std::string_view name);
    std::size_t size() const noexcept { return targets_of_calls_.size(); }
    bool empty() const noexcept { return targets_of_calls_.empty(); }

    // Sends everything queued (one POST) and clears the queue. Errors of single
    // calls are in their results; a failed exchange (timeout, connection,
    // unparsable reply) throws.
    std::vector<result> execute();

private:
    // A distinct method or property the queued calls address: its name for
    // messages and the JSON text each call to it starts with. A tuning sweep
    // queues thousands of calls to two or three of these, so each call costs
    // an index instead of a string and a JSON object of its own.
    struct target {
        bool property;
        std::string object, member;
        std::string name;    // "Object.member"
        std::string prefix;  // {"object":"Object","method":"member","args":  (or the whole property request)
    };
    std::uint32_t target_of(bool property, std::string_view object, std::string_view member);

    client* client_;
    bool continue_on_error_;
    std::string calls_;  // the queued calls as JSON text, comma separated
    std::vector<target> targets_;
    std::vector<std::uint32_t> targets_of_calls_;  // index into targets_, per call
};

}  // namespace tw::tuber
