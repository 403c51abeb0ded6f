// tw bench line-server (line_server.hpp): a callback state machine per
// connection, written as a reader of Asio's examples would, with nothing of
// tw in the path: no fibers, no deadlines, no per-instrument state.

#include "line_server.hpp"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fmt/core.h>

#include <tw/duration.hpp>

namespace tw::cli::bench {

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// As long as the simulator's answer to MEAS? ("+3.9992E+00\n"), so both
// servers move the same bytes.
const std::string k_reply = "+2.5000E+01\n";

class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket s, std::chrono::nanoseconds latency) : s_(std::move(s)), timer_(s_.get_executor()), latency_(latency) {}
    void read() {
        asio::async_read_until(s_, asio::dynamic_buffer(buf_), '\n', [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
            if (ec) return;  // closed by the client, or reset: the session ends
            self->buf_.erase(0, n);
            if (self->latency_.count() == 0) return self->write();
            self->timer_.expires_after(self->latency_);
            self->timer_.async_wait([self](boost::system::error_code) { self->write(); });
        });
    }

private:
    void write() {
        asio::async_write(s_, asio::buffer(k_reply), [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
            if (!ec) self->read();
        });
    }
    tcp::socket s_;
    asio::steady_timer timer_;
    std::chrono::nanoseconds latency_;
    std::string buf_;
};

void accept(tcp::acceptor& a, std::chrono::nanoseconds latency) {
    a.async_accept([&a, latency](boost::system::error_code ec, tcp::socket s) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
            s.set_option(tcp::no_delay(true), ec);
            std::make_shared<session>(std::move(s), latency)->read();
        }
        accept(a, latency);  // also after a failed accept (e.g. out of descriptors for a moment)
    });
}

}  // namespace

void run_line_server(const line_server_options& o) {
    // As many connections as tw sim takes: raise the soft descriptor limit.
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    const auto latency = tw::parse_duration(o.latency);
    asio::io_context io{1};
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    std::string line = "scpi ";
    for (std::size_t i = 0; i < o.ports; ++i) {
        // Opens, binds and listens (backlog SOMAXCONN: thousands connect at once).
        auto a = std::make_unique<tcp::acceptor>(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        line += fmt::format("{}127.0.0.1:{}", i ? "," : "", a->local_endpoint().port());
        accept(*a, latency);
        acceptors.push_back(std::move(a));
    }
    asio::signal_set stop(io, SIGTERM, SIGINT);
    stop.async_wait([&](boost::system::error_code, int) { io.stop(); });
    fmt::print("{}\n", line);
    std::fflush(stdout);
    io.run();
}

}  // namespace tw::cli::bench
