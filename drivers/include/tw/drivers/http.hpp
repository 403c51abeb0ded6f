#pragma once
// tw::http_connection: HTTP/1.1 POST over one keep-alive TCP connection, for
// the JSON protocols (Tuber, JSON-RPC 2.0), on tw fibers with Boost.Beast.
//
// Keep-alive and reconnect: the connection is reused while the server keeps
// it open; a server that closes after every reply (HTTP/1.0) gets a fresh
// connection per request. A request sent on a reused connection that the
// server had meanwhile closed (nothing of a reply came back) is sent once more
// on a new connection; any other failure is reported, never retried.
// Bounded input: replies larger than max_body, or headers larger than
// max_header, are a protocol_error (rejected as soon as the header announces
// them, so memory stays bounded) and close the connection.
// Deadlines: each post's exchange (connect, send, reply) runs under
// min(options.timeout, the caller's deadline); the wait for the connection
// behind other fibers' posts is bounded by the caller's deadline only.
// A request that fails or times out closes the connection, so the next
// request never reads the rest of an old reply.
//
// Thread safety: shareable by fibers of any thread; requests are serialised
// in arrival order (tw::device_lock).
// Errors: timeout_error, cancelled_error, connection_error, protocol_error.
//
// Example:
//   tw::http_connection c("127.0.0.1:9000");
//   auto r = c.post("/tuber", R"({"object": "Board", "property": "SERIAL"})");
//   // r.status == 200, r.body == R"({"result":"SIM0000"})"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tw/drivers/command_log.hpp>
#include <tw/drivers/tcp_stream.hpp>
#include <tw/sync.hpp>

namespace tw {

struct http_options {
    std::chrono::nanoseconds timeout = std::chrono::seconds(5);
    reconnect_policy reconnect{};
    std::size_t max_body = 64 * 1024 * 1024;
    std::size_t max_header = 64 * 1024;
    command_log log{};
};

struct http_reply {
    unsigned status = 0;
    std::string reason;
    std::string content_type;
    std::string body;
};

// What post() makes of the bytes of one reply, without a connection: the
// same parser, limits and errors (for tests and fuzzing). The end of `bytes`
// is the end of the stream: a reply cut short there is a connection_error, as
// in post().
// Errors: protocol_error (malformed, header or body over the limits),
// connection_error (the bytes end before the reply does).
http_reply parse_http_reply(const std::string& address, std::string_view bytes, std::size_t max_header = 64 * 1024,
                            std::size_t max_body = 64 * 1024 * 1024);

class http_connection {
public:
    using headers = std::vector<std::pair<std::string, std::string>>;

    // `address` is HOST:PORT (or [v6]:PORT).
    explicit http_connection(std::string address, http_options opts = {});
    http_connection(const http_connection&) = delete;
    http_connection& operator=(const http_connection&) = delete;
    ~http_connection();

    http_reply post(std::string_view target, std::string body, const headers& extra = {},
                    std::string_view content_type = "application/json");
    void close();

    const std::string& address() const noexcept { return address_; }
    const http_options& opts() const noexcept { return opts_; }

private:
    struct impl;
    std::string address_;
    http_options opts_;
    std::unique_ptr<impl> impl_;
};

}  // namespace tw
