#include <tw/drivers/http.hpp>

#include <atomic>
#include <mutex>

#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/core.h>

#include <tw/deadline.hpp>
#include <tw/duration.hpp>
#include <tw/drivers/errors.hpp>
#include <tw/yield.hpp>

namespace tw {

namespace beast = boost::beast;
namespace http = boost::beast::http;

namespace {

// The server closed the connection (or it broke) before a whole reply came.
bool is_connection_drop(const boost::system::error_code& ec) {
    namespace ae = boost::asio::error;
    return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == ae::eof ||
           ec == ae::connection_reset || ec == ae::broken_pipe || ec == ae::connection_aborted ||
           ec == ae::not_connected || ec == ae::bad_descriptor || ec == ae::operation_aborted;
}

using reply_parser = http::response_parser<http::string_body>;

void set_limits(reply_parser& p, std::size_t max_header, std::size_t max_body) {
    p.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(max_header, UINT32_MAX)));
    p.body_limit(max_body);
}

// A complete reply out of its parser (the body is moved).
http_reply to_reply(reply_parser& p) {
    auto& res = p.get();
    http_reply r;
    r.status = res.result_int();
    r.reason = std::string(res.reason());
    if (auto it = res.find(http::field::content_type); it != res.end()) r.content_type = std::string(it->value());
    r.body = std::move(res.body());
    return r;
}

// Reading a reply failed with ec: the error that says so.
[[noreturn]] void throw_reply_error(const std::string& address, const boost::system::error_code& ec, std::size_t max_header,
                                    std::size_t max_body) {
    if (ec == http::error::body_limit)
        throw protocol_error(address, fmt::format("reply body larger than {} bytes; connection closed", max_body));
    if (ec == http::error::header_limit)
        throw protocol_error(address, fmt::format("reply header larger than {} bytes; connection closed", max_header));
    if (is_connection_drop(ec)) throw connection_error(address, ec, "connection closed before the reply was complete");
    if (ec.category() == http::make_error_code(http::error::bad_version).category())
        throw protocol_error(address, "malformed HTTP reply (" + ec.message() + "); connection closed");
    throw connection_error(address, ec, "HTTP exchange failed");
}

}  // namespace

http_reply parse_http_reply(const std::string& address, std::string_view bytes, std::size_t max_header, std::size_t max_body) {
    reply_parser p;
    set_limits(p, max_header, max_body);
    p.eager(true);
    boost::asio::const_buffer in(bytes.data(), bytes.size());
    boost::system::error_code ec;
    while (!p.is_done() && in.size() > 0) {
        const auto n = p.put(in, ec);
        if (ec == http::error::need_more) {
            ec = {};
            break;  // all there is: the end of the stream decides below
        }
        if (ec || n == 0) break;
        in += n;
    }
    if (!ec && !p.is_done()) p.put_eof(ec);
    if (ec) throw_reply_error(address, ec, max_header, max_body);
    return to_reply(p);
}

struct http_connection::impl {
    explicit impl(const std::string& address) : lock(address) {}
    tw::device_lock lock;
    // Requests holding or waiting for `lock`, for the message of a caller
    // whose deadline passes in the queue.
    std::atomic<std::size_t> queued{0};
    std::optional<tcp_stream> stream;
    beast::flat_buffer buffer;

    void close(std::string_view why) {
        if (stream) stream->close(why);
        stream.reset();
        buffer.clear();
    }
};

http_connection::http_connection(std::string address, http_options opts)
    : address_(std::move(address)), opts_(std::move(opts)), impl_(std::make_unique<impl>(address_)) {}

http_connection::~http_connection() = default;

void http_connection::close() {
    tw::deadline_scope d(opts_.timeout);
    std::lock_guard g(impl_->lock);
    impl_->close("closed by the client");
}

// The request timeout covers the exchange only, not the wait for the
// connection: fibers that share a board queue behind `lock` (FIFO), and with
// a slow board the last of eight would otherwise spend its whole timeout
// queueing behind the others' exchanges and fail although its own exchange
// takes a fraction of it. The queue is bounded anyway — each holder's
// exchange ends by its timeout — and by the caller's deadline, which alone
// limits the wait.
http_reply http_connection::post(std::string_view target, std::string body, const headers& extra, std::string_view content_type) {
    std::unique_lock g(impl_->lock, std::defer_lock);
    {
        ++impl_->queued;
        struct leave {
            std::atomic<std::size_t>& n;
            ~leave() { --n; }
        } left{impl_->queued};
        try {
            g.lock();
        } catch (const tw::timeout_error&) {
            throw tw::timeout_error(fmt::format("{}: POST {}: the caller's deadline passed while waiting for the board "
                                                "({} requests queued)",
                                                address_, target, impl_->queued.load()));
        }
    }
    // Which limit ends the exchange: the request timeout, or the caller's
    // deadline if that comes first. Decided now, for the message.
    const auto caller = tw::current_deadline();
    tw::deadline_scope d(opts_.timeout);
    const bool caller_first = d.deadline() == caller && caller != clock::time_point::max();

    http::request<http::string_body> req{http::verb::post, std::string(target), 11};
    req.set(http::field::host, address_);
    req.set(http::field::user_agent, "tworoutine");
    req.set(http::field::content_type, content_type);
    for (const auto& [k, v] : extra) req.set(k, v);
    req.keep_alive(true);
    req.body() = std::move(body);
    req.prepare_payload();
    if (opts_.log) opts_.log.sent(address_, fmt::format("POST {} {}", target, req.body()));

    for (int attempt = 0;; ++attempt) {
        const bool reused = impl_->stream && impl_->stream->is_open();
        if (!reused) {
            impl_->close("reconnecting");
            impl_->stream.emplace(tcp_stream::connect(address_, opts_.reconnect, opts_.log));
        }
        auto& sock = impl_->stream->socket();
        boost::system::error_code ec;
        bool got_some = false;
        try {
            http::async_write(sock, req, tw::yield[ec]);
            if (!ec) {
                reply_parser p;
                set_limits(p, opts_.max_header, opts_.max_body);
                http::async_read(sock, impl_->buffer, p, tw::yield[ec]);
                got_some = p.got_some();
                if (!ec) {
                    const bool keep = p.get().keep_alive();
                    http_reply r = to_reply(p);
                    if (opts_.log) opts_.log.received(address_, fmt::format("{} {}", r.status, r.body));
                    if (!keep) impl_->close("the server closes after each reply");
                    return r;
                }
            }
        } catch (const tw::timeout_error&) {
            // Part of the request or reply may be in flight: nobody may read
            // the rest of it.
            impl_->close("timed out");
            if (caller_first)
                throw tw::timeout_error(fmt::format("{}: POST {}: the caller's deadline passed before the reply was complete",
                                                    address_, target));
            throw tw::timeout_error(fmt::format("{}: POST {}: no reply within the request timeout of {}", address_, target,
                                                tw::format_duration(opts_.timeout)));
        } catch (...) {
            impl_->close("interrupted");
            throw;
        }
        impl_->close(ec.message());
        if (reused && attempt == 0 && !got_some && is_connection_drop(ec)) {
            opts_.log.event(address_, "kept-alive connection was closed by the server; resending on a new one");
            continue;
        }
        throw_reply_error(address_, ec, opts_.max_header, opts_.max_body);
    }
}

}  // namespace tw
