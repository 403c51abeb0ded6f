#pragma once
// Helpers of the driver tests (tests/drivers), on top of the simulator tests'
// helpers (tests/sim/sim_test_util.hpp: sim_runtime, child, run_command, k_guard):
//
//   clients            the runtime the drivers under test run on; call(f) runs f
//                      on one of its fibers under the k_guard deadline and
//                      checks afterwards that no fiber was left behind.
//   python_server      an independent server run with /usr/bin/python3 that
//                      prints "port N" once it listens.
//   scripted_server    a TCP server on a fiber of the test's runtime whose
//                      connection handler the test writes (misbehaving peers:
//                      oversized replies, a reply cut once, replies out of order).
//   read_http_request  on a fiber: reads one HTTP request (headers and body);
//                      returns the body.
//   http_ok(body)      an HTTP/1.1 200 reply carrying a JSON body.
//   json_peer          a scripted_server that answers every POST with one
//                      crafted JSON body (a hostile or broken Tuber board or
//                      JSON-RPC server).
//   board_properties_reply  that body for tuber::board's batch of SERIAL,
//                      FIRMWARE, NCHANNELS, FMIN, FMAX (values as JSON text).
//
// Driver objects hold sockets of the clients' runtime: create them inside call().

#include <tw/tw.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "../sim/sim_test_util.hpp"

namespace tw_drivers_test {

using namespace std::chrono_literals;
using tw_sim_test::k_guard;
using tcp = boost::asio::ip::tcp;

inline std::string drivers_dir() { return TW_DRIVERS_SCRIPTS_DIR; }

class clients : public tw_sim_test::client_runtime {
public:
    using client_runtime::client_runtime;
    ~clients() {
        EXPECT_EQ(rt().counters().live_fibers, 0u) << rt().dump_text();
        EXPECT_TRUE(rt().shutdown());
    }
};

// /usr/bin/python3 tests/drivers/<script> [args]: waits for its "port N" line.
class python_server {
public:
    python_server(const std::string& script, std::vector<std::string> args = {})
        : proc_(argv(script, std::move(args))) {
        auto line = proc_.read_line();
        if (!line || line->rfind("port ", 0) != 0) {
            ADD_FAILURE() << script << " did not start: " << line.value_or("(no output)") << "\n" << proc_.stderr_text();
            return;
        }
        port_ = line->substr(5);
    }
    ~python_server() {
        proc_.signal(SIGTERM);
        proc_.wait();
    }
    std::string address() const { return "127.0.0.1:" + port_; }
    bool ok() const { return !port_.empty(); }

private:
    static std::vector<std::string> argv(const std::string& script, std::vector<std::string> args) {
        std::vector<std::string> v{"/usr/bin/python3", drivers_dir() + "/" + script};
        for (auto& a : args) v.push_back(std::move(a));
        return v;
    }
    tw_sim_test::child proc_;
    std::string port_;
};

// A loopback server on fibers of `rt`: handler(socket, n) runs on its own fiber
// for the n-th accepted connection (0, 1, ...). Stops (and joins every fiber)
// when destroyed; construct and destroy it on a fiber of `rt` or a plain thread.
class scripted_server {
public:
    using handler = std::function<void(tcp::socket&, std::size_t)>;

    // Construct on a fiber of `rt` (inside clients::call).
    scripted_server(tw::runtime& rt, handler h) : h_(std::move(h)) {
        auto acc = std::make_shared<tcp::acceptor>(tw::this_fiber::executor(),
                                                   tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
        port_ = acc->local_endpoint().port();
        acceptor_task_ = rt.spawn(tw::spawn_options{.name = "scripted-server", .child = false}, [this, acc] {
            std::vector<tw::task<void>> conns;
            try {
                for (std::size_t n = 0;; ++n) {
                    auto sock = std::make_shared<tcp::socket>(acc->async_accept(tw::yield));
                    conns.push_back(tw::spawn(tw::spawn_options{.name = "scripted-connection"}, [this, sock, n] {
                        try {
                            h_(*sock, n);
                        } catch (...) {
                        }
                        boost::system::error_code ignored;
                        sock->close(ignored);  // the handler returned: hang up
                    }));
                }
            } catch (...) {
            }
            tw::cancellation_shield shield;
            for (auto& c : conns) c.cancel();
            for (auto& c : conns) try {
                    c.wait();
                } catch (...) {
                }
        });
    }
    ~scripted_server() {
        acceptor_task_.cancel("test over");
        try {
            acceptor_task_.wait();
        } catch (...) {
        }
    }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_.load()); }

private:
    handler h_;
    std::atomic<unsigned short> port_{0};
    tw::task<void> acceptor_task_;
};

// Reads one HTTP request (headers and Content-Length body) from `sock` and
// returns its body; `buf` keeps bytes of a pipelined next request.
inline std::string read_http_request(tcp::socket& sock, std::string& buf) {
    auto n = boost::asio::async_read_until(sock, boost::asio::dynamic_buffer(buf), "\r\n\r\n", tw::yield);
    auto head = buf.substr(0, n);
    std::size_t len = 0;
    if (auto p = head.find("Content-Length: "); p != std::string::npos) len = std::stoul(head.substr(p + 16));
    while (buf.size() < n + len) {
        char tmp[4096];
        auto k = sock.async_read_some(boost::asio::buffer(tmp), tw::yield);
        buf.append(tmp, k);
    }
    auto body = buf.substr(n, len);
    buf.erase(0, n + len);
    return body;
}

inline std::string http_ok(const std::string& body) {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
}

// An HTTP peer (a Tuber board, a JSON-RPC server) that answers every
// request, on every connection, with `body` (keep-alive). Construct and
// destroy on a fiber of `rt`, like scripted_server.
class json_peer {
public:
    json_peer(tw::runtime& rt, std::string body)
        : reply_(http_ok(body)), srv_(rt, [this](tcp::socket& sock, std::size_t) {
              std::string buf;
              for (;;) {
                  read_http_request(sock, buf);
                  boost::asio::async_write(sock, boost::asio::buffer(reply_), tw::yield);
              }
          }) {}
    std::string address() const { return srv_.address(); }

private:
    std::string reply_;
    scripted_server srv_;
};

inline std::string board_properties_reply(const std::string& nchannels, const std::string& fmin = "4e6",
                                          const std::string& fmax = "6e6") {
    return R"([{"result": "SN-1"}, {"result": "fw-1"}, {"result": )" + nchannels + R"(}, {"result": )" + fmin +
           R"(}, {"result": )" + fmax + "}]";
}

}  // namespace tw_drivers_test
