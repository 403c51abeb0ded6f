#pragma once
// tw::jsonrpc::client: JSON-RPC 2.0 over HTTP POST for plain blocking code on
// tw fibers — calls, notifications and batches, at any URL path. Servers that
// speak HTTP/1.0 and close after every reply work too (a new connection per
// call then); keep-alive servers keep one connection (tw::http_connection).
//
// An error object in a reply becomes a protocol_error with the error's code,
// message and data (as JSON text in data()).
//
// Thread safety: one client may be shared by fibers of any thread; requests
// are serialised in arrival order. A batch is built on one fiber.
// Errors: protocol_error (an error object, a malformed or oversized reply),
// timeout_error, cancelled_error, connection_error.
//
// Example:
//   tw::jsonrpc::client rpc("http://127.0.0.1:9000/rpc");
//   double t = rpc.call("Board.get_temperature").as_double();
//   rpc.notify("Board.reset");
//   tw::jsonrpc::batch b(rpc);
//   b.call("Board.get_frequency", boost::json::array{0});
//   b.call("Board.get_frequency", boost::json::array{1});
//   auto results = b.execute();                 // in the order of the calls

#include <chrono>
#include <cstddef>
#include <atomic>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include <tw/drivers/errors.hpp>
#include <tw/drivers/http.hpp>

namespace tw::jsonrpc {

namespace json = boost::json;
using namespace std::chrono_literals;

struct options {
    std::chrono::nanoseconds timeout = 5s;     // per exchange (not the wait for the client), under the caller's deadline
    reconnect_policy reconnect{};
    std::size_t max_reply = 64 * 1024 * 1024;
    std::size_t max_header = 64 * 1024;
    command_log log{};
};

struct url_parts {
    std::string address;  // HOST:PORT
    std::string target;   // "/rpc"; "/" when the URL has no path
};
// "http://HOST:PORT/PATH", "HOST:PORT/PATH" or "HOST:PORT" (port 80 if none
// after http://); throws std::invalid_argument naming the URL otherwise.
url_parts parse_url(std::string_view url);

// One entry of a batch: the result or the error of that call.
class result {
public:
    bool ok() const noexcept { return !error_; }
    const json::value& value() const;  // rethrows this call's error
    const std::exception_ptr& error() const noexcept { return error_; }
    std::string error_message() const;

    explicit result(json::value v) : value_(std::move(v)) {}
    explicit result(std::exception_ptr e) : error_(std::move(e)) {}

private:
    json::value value_;
    std::exception_ptr error_;
};

// Reading replies without a connection: what client and batch do with the
// bytes a server sends (pure functions, for tests and fuzzing). `address` and
// the method names are for messages.
// Errors: protocol_error as the client's.
//
// A reply's HTTP status and body -> its JSON value (null for an empty body).
json::value parse_reply(const std::string& address, const http_reply& r);
// A response object -> its result, or its error object as a protocol_error.
result parse_response(const std::string& address, std::string_view method, const json::value& response);
// The reply to call(method) sent with `id` -> its result; a reply for another
// id throws.
result parse_call_reply(const std::string& address, std::string_view method, std::int64_t id, const json::value& reply);
// A batch's reply -> one result per call (`ids` and `methods` in the order queued).
std::vector<result> parse_batch_reply(const std::string& address, const std::vector<std::int64_t>& ids,
                                      const std::vector<std::string>& methods, const json::value& reply);

class client {
public:
    explicit client(std::string_view url, options opts = {});
    client(const client&) = delete;
    client& operator=(const client&) = delete;
    ~client();

    // params: an array (positional), an object (named) or null (none sent).
    json::value call(std::string_view method, json::value params = nullptr);
    void notify(std::string_view method, json::value params = nullptr);

    // A raw exchange: posts `body` and returns the parsed reply (null when the
    // server sent no body, as for notifications).
    json::value request(const json::value& body);

    std::int64_t next_id() noexcept { return ++id_; }
    const std::string& address() const noexcept { return http_.address(); }
    const std::string& target() const noexcept { return target_; }

private:
    std::string target_;
    http_connection http_;
    std::atomic<std::int64_t> id_{0};
};

class batch {
public:
    explicit batch(client& c) : client_(&c) {}
    // Queue a call (returns its index in the results) or a notification.
    std::size_t call(std::string_view method, json::value params = nullptr);
    void notify(std::string_view method, json::value params = nullptr);
    // Sends the batch in one POST; one result per call, in the order queued.
    std::vector<result> execute();

private:
    client* client_;
    json::array requests_;
    std::vector<std::int64_t> ids_;  // of the calls, in order
    std::vector<std::string> methods_;
};

}  // namespace tw::jsonrpc
