// The HTTP side of a simulated board: POST /tuber and POST /rpc over
// HTTP/1.1 keep-alive (HTTP/1.0 too), with the request limits of
// docs/WIRE_FORMATS.md, Tuber.
#include "servers.hpp"

#include <boost/algorithm/string/predicate.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fmt/core.h>

#include <tw/deadline.hpp>
#include <tw/errors.hpp>
#include <tw/yield.hpp>

namespace tw::sim::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

std::string error_body(std::string_view message) {
    return boost::json::serialize(boost::json::object{{"error", boost::json::object{{"message", message}}}});
}

std::string response(unsigned status, std::string_view reason, std::string_view body, bool keep_alive, bool http10,
                     std::string_view extra_headers = {}) {
    std::string r = fmt::format("HTTP/1.1 {} {}\r\nServer: twsim\r\n", status, reason);
    if (!body.empty()) r += "Content-Type: application/json\r\n";
    r += fmt::format("Content-Length: {}\r\n", body.size());
    if (!keep_alive)
        r += "Connection: close\r\n";
    else if (http10)
        r += "Connection: keep-alive\r\n";
    r += extra_headers;
    r += "\r\n";
    r += body;
    return r;
}

bool continue_on_error(const http::request<http::string_body>& req) {
    auto opts = req["X-Tuber-Options"];
    std::string_view v(opts.data(), opts.size());
    while (!v.empty()) {
        auto comma = v.find(',');
        auto tok = v.substr(0, comma);
        while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
        while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
        if (boost::algorithm::iequals(tok, "continue-on-error")) return true;
        v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    }
    return false;
}

// Writes a reply that is not subject to the board's faults and closes the
// connection, letting the peer finish sending first (a reset would lose it).
void reply_and_close(tcp::socket& s, std::string_view reply, const server_options& o) {
    if (write_bounded(s, reply, o)) drain_and_close(s, std::chrono::milliseconds(2000), 64 * 1024 * 1024);
}

// A request target as it may appear in a JSON message: printable ASCII kept,
// every other byte percent-encoded (a target is raw bytes, JSON text must be
// UTF-8), at most 200 characters.
std::string printable_target(std::string_view target) {
    constexpr std::size_t k_max = 200;
    std::string out;
    for (unsigned char c : target) {
        if (out.size() >= k_max) {
            out += "...";
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '%')
            out += static_cast<char>(c);
        else
            out += fmt::format("%{:02X}", c);
    }
    return out;
}

enum class read_result { request, closed, timed_out, header_too_large, body_too_large, malformed };

using request_parser = http::request_parser<http::string_body>;

void set_limits(request_parser& p) {
    p.header_limit(k_max_http_header);
    p.body_limit(k_max_http_body);
}

// How reading a request ended.
read_result classify(const boost::system::error_code& ec) {
    if (ec == http::error::header_limit) return read_result::header_too_large;
    if (ec == http::error::body_limit) return read_result::body_too_large;
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) return read_result::closed;
    if (ec && ec.category() == http::make_error_code(http::error::bad_method).category()) return read_result::malformed;
    if (ec) return read_result::closed;  // reset, EOF, ...
    return read_result::request;
}

// The reply (closing the connection) to a request that is too large or malformed.
std::string refusal(read_result r, const boost::system::error_code& ec) {
    switch (r) {
        case read_result::header_too_large:
            return response(413, "Payload Too Large", error_body(fmt::format("request header block larger than {} bytes", k_max_http_header)),
                            false, false);
        case read_result::body_too_large:
            return response(413, "Payload Too Large", error_body(fmt::format("request body larger than {} bytes", k_max_http_body)),
                            false, false);
        default: return response(400, "Bad Request", error_body("malformed HTTP request: " + ec.message()), false, false);
    }
}

// The reply to a whole request: 404, 405, or the board's Tuber or JSON-RPC reply.
std::string answer(board& b, const http::request<http::string_body>& req, const board::pause_fn& pause) {
    const bool keep_alive = req.keep_alive();
    const bool http10 = req.version() == 10;
    std::string_view target(req.target().data(), req.target().size());
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    if (target != "/tuber" && target != "/rpc")
        return response(404, "Not Found",
                        error_body(fmt::format("no such path '{}': use POST /tuber or POST /rpc", printable_target(target))),
                        keep_alive, http10);
    if (req.method() != http::verb::post)
        return response(405, "Method Not Allowed", error_body(fmt::format("{} needs POST", target)), keep_alive, http10,
                        "Allow: POST\r\n");
    if (target == "/tuber") return response(200, "OK", b.tuber(req.body(), continue_on_error(req), pause), keep_alive, http10);
    // Only notifications: 200 with an empty body rather than 204, which
    // some clients (libjsonrpccpp 0.7) take for an error.
    return response(200, "OK", b.jsonrpc(req.body(), pause), keep_alive, http10);
}

// Room in the read buffer while a request comes in. Beast reads at most what
// the buffer has room for (at least 512 bytes, at most 64 KiB), and the parser
// empties the buffer after each read, so it never grew past its first 512
// bytes: a batch of 1,000 calls (70 kB) took some 140 recv calls, each with
// its trip through the reactor, and one tw tune of 64 boards 271,000 of them
// (19,000 with this room). Given back between requests
// (serve_tuber_connection), so that idle connections hold none.
constexpr std::size_t k_read_room = 64 * 1024;

// Reads the next request: the idle timeout until it starts (unless its first
// bytes are already buffered), then the request timeout for all of it, so a
// client sending a byte now and then (slowloris) is dropped.
read_result read_request(tcp::socket& s, beast::flat_buffer& buf, request_parser& parser,
                         const server_options& o, boost::system::error_code& ec) {
    if (buf.size() == 0 && !wait_for_request(s, o)) return read_result::closed;
    buf.reserve(k_read_room);
    try {
        tw::deadline_scope d(or_forever(o.request_timeout));
        http::async_read_header(s, buf, parser, tw::yield[ec]);
        if (!ec && !parser.is_done()) {
            auto expect = parser.get()[http::field::expect];
            if (boost::algorithm::iequals(std::string_view(expect.data(), expect.size()), "100-continue")) {
                static constexpr std::string_view k_continue = "HTTP/1.1 100 Continue\r\n\r\n";
                if (!write_bounded(s, k_continue, o)) return read_result::closed;
            }
            http::async_read(s, buf, parser, tw::yield[ec]);
        }
    } catch (const tw::timeout_error&) {
        return read_result::timed_out;
    }
    return classify(ec);
}

}  // namespace

std::string serve_http_bytes(board& b, std::string_view bytes) {
    std::string out;
    while (!bytes.empty()) {
        request_parser parser;
        set_limits(parser);
        parser.eager(true);
        boost::system::error_code ec;
        while (!parser.is_done() && !bytes.empty()) {
            const auto n = parser.put(asio::const_buffer(bytes.data(), bytes.size()), ec);
            if (ec == http::error::need_more) {
                ec = {};
                break;  // the end of the bytes is the end of the stream
            }
            if (ec || n == 0) break;
            bytes.remove_prefix(n);
        }
        if (!ec && !parser.is_done()) parser.put_eof(ec);
        const auto r = classify(ec);
        if (r == read_result::closed || r == read_result::timed_out) break;
        if (r != read_result::request) {
            out += refusal(r, ec);
            break;
        }
        out += answer(b, parser.get(), {});
        if (!parser.get().keep_alive()) break;
    }
    return out;
}

void serve_tuber_connection(tcp::socket& s, board& b, fault_state& f, const server_options& o) {
    beast::flat_buffer buf;
    // Between the calls of a long batch: let the other connections of this
    // worker (other boards too) run, so one batch cannot stall them.
    const board::pause_fn pause = [] { tw::this_fiber::yield(); };
    for (;;) {
        request_parser parser;
        set_limits(parser);
        boost::system::error_code ec;
        switch (const auto r = read_request(s, buf, parser, o, ec)) {
            case read_result::request: break;
            case read_result::closed:
            case read_result::timed_out: return;
            case read_result::header_too_large:
            case read_result::body_too_large:
            case read_result::malformed: reply_and_close(s, refusal(r, ec), o); return;
        }

        const bool keep_alive = parser.get().keep_alive();
        if (buf.size() == 0) buf.shrink_to_fit();  // nothing pipelined: no buffer while idle
        if (!send_reply(s, answer(b, parser.get(), pause), f, framing::http, o)) return;
        if (!keep_alive) {
            drain_and_close(s, std::chrono::milliseconds(2000), 1024 * 1024);
            return;
        }
    }
}

}  // namespace tw::sim::detail
