// The HTTP side of a simulated board: POST /tuber and POST /rpc over
// HTTP/1.1 keep-alive (HTTP/1.0 too), with the request limits of PROTOCOLS.md.
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
    if (status != 204) r += fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n", body.size());
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
void reply_and_close(tcp::socket& s, unsigned status, std::string_view reason, std::string_view message) {
    auto r = response(status, reason, error_body(message), false, false);
    boost::system::error_code ec;
    asio::async_write(s, asio::buffer(r), tw::yield[ec]);
    if (!ec) drain_and_close(s, std::chrono::milliseconds(2000), 64 * 1024 * 1024);
}

}  // namespace

void serve_tuber_connection(tcp::socket& s, board& b, fault_state& f, const server_options& o) {
    beast::flat_buffer buf;
    const auto idle = o.idle_timeout.count() > 0 ? o.idle_timeout : std::chrono::nanoseconds::max();
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(k_max_http_header);
        parser.body_limit(k_max_http_body);
        boost::system::error_code ec;
        bool timed_out = false;
        {
            tw::deadline_scope d(idle);
            try {
                http::async_read_header(s, buf, parser, tw::yield[ec]);
                if (!ec && !parser.is_done()) {
                    auto expect = parser.get()[http::field::expect];
                    if (boost::algorithm::iequals(std::string_view(expect.data(), expect.size()), "100-continue")) {
                        static constexpr std::string_view k_continue = "HTTP/1.1 100 Continue\r\n\r\n";
                        asio::async_write(s, asio::buffer(k_continue.data(), k_continue.size()), tw::yield);
                    }
                    http::async_read(s, buf, parser, tw::yield[ec]);
                }
            } catch (const tw::timeout_error&) {
                timed_out = true;
            }
        }
        if (timed_out) return;  // idle too long: close
        if (ec == http::error::header_limit) {
            reply_and_close(s, 413, "Payload Too Large",
                            fmt::format("request header block larger than {} bytes", k_max_http_header));
            return;
        }
        if (ec == http::error::body_limit) {
            reply_and_close(s, 413, "Payload Too Large", fmt::format("request body larger than {} bytes", k_max_http_body));
            return;
        }
        if (ec == http::error::end_of_stream || ec == http::error::partial_message) return;
        if (ec && ec.category() == http::make_error_code(http::error::bad_method).category()) {
            reply_and_close(s, 400, "Bad Request", "malformed HTTP request: " + ec.message());
            return;
        }
        if (ec) return;  // reset, EOF, ...

        const auto& req = parser.get();
        const bool keep_alive = req.keep_alive();
        const bool http10 = req.version() == 10;
        std::string_view target(req.target().data(), req.target().size());
        if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
        std::string reply;
        if (target != "/tuber" && target != "/rpc") {
            reply = response(404, "Not Found", error_body(fmt::format("no such path '{}': use POST /tuber or POST /rpc", target)),
                             keep_alive, http10);
        } else if (req.method() != http::verb::post) {
            reply = response(405, "Method Not Allowed", error_body(fmt::format("{} needs POST", target)), keep_alive, http10,
                             "Allow: POST\r\n");
        } else if (target == "/tuber") {
            reply = response(200, "OK", b.tuber(req.body(), continue_on_error(req)), keep_alive, http10);
        } else {
            auto body = b.jsonrpc(req.body());
            reply = body.empty() ? response(204, "No Content", {}, keep_alive, http10) : response(200, "OK", body, keep_alive, http10);
        }
        if (!send_reply(s, reply, f, framing::http)) return;
        if (!keep_alive) {
            drain_and_close(s, std::chrono::milliseconds(2000), 1024 * 1024);
            return;
        }
    }
}

}  // namespace tw::sim::detail
