#pragma once
// Helpers of the simulator tests (tests/sim):
//
//   run_python(script, args)   runs tests/sim/<script> with Debian's
//                              /usr/bin/python3 under `timeout` (the deadlock
//                              guard), returns exit status and output.
//   child                      a process (e.g. `tw sim`) whose stdout lines
//                              are read with a time limit; terminate() sends
//                              SIGTERM, wait() returns its exit status.
//   sim_runtime                the simulator's runtime; checks at the end of
//                              the test that no fiber was left behind.
//   client_runtime             a runtime for the test's own clients, separate
//                              from the simulator's: call(f) runs f on one of
//                              its fibers under a k_guard deadline.
//   http_client, line_client   blocking-style clients on tw fibers.
//   wait_until(pred)           on a fiber: checks pred every millisecond
//                              until it holds (the fiber's deadline — k_guard
//                              in client_runtime::call — ends a wait that never does).
//   read_until_closed(s)       on a fiber: reads until the peer closes;
//                              returns the bytes and how the stream ended.
//
// No fixed ports anywhere: the simulator picks free ports and tests pass them on.

#include <tw/tw.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>

extern char** environ;

namespace tw_sim_test {

using namespace std::chrono_literals;
using tcp = boost::asio::ip::tcp;

// How long anything in a test may take before it counts as a deadlock.
inline constexpr std::chrono::seconds k_guard{20};

inline std::string scripts_dir() { return TW_SIM_SCRIPTS_DIR; }

struct command_result {
    int status = -1;  // exit status, or 128 + signal
    std::string output;
};

// Runs a shell command, capturing stdout and stderr together.
inline command_result run_command(const std::string& cmd) {
    command_result r;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
    int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

inline command_result run_python(const std::string& script, const std::vector<std::string>& args) {
    std::string cmd = "timeout -k 5 60 /usr/bin/python3 " + scripts_dir() + "/" + script;
    for (const auto& a : args) cmd += " '" + a + "'";
    return run_command(cmd);
}

// "127.0.0.1:41234" -> 41234
inline std::string port_of(const std::string& address) { return address.substr(address.rfind(':') + 1); }

inline tcp::endpoint endpoint_of(const std::string& address) {
    auto colon = address.rfind(':');
    auto host = address.substr(0, colon);
    if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
    return {boost::asio::ip::make_address(host), static_cast<unsigned short>(std::stoi(address.substr(colon + 1)))};
}

// A child process with its stdout and stderr on pipes.
class child {
public:
    explicit child(std::vector<std::string> argv) {
        int out[2], err[2];
        if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_adddup2(&fa, err[1], 2);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        if (::posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ) != 0) pid_ = -1;
        posix_spawn_file_actions_destroy(&fa);
        ::close(out[1]);
        ::close(err[1]);
        out_ = out[0];
        err_ = err[0];
    }
    child(const child&) = delete;
    child& operator=(const child&) = delete;
    ~child() {
        if (pid_ > 0 && !reaped_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::close(out_);
        ::close(err_);
    }

    // The next stdout line (without "\n"), or nullopt at EOF or after `limit`.
    std::optional<std::string> read_line(std::chrono::milliseconds limit = k_guard) {
        const auto until = std::chrono::steady_clock::now() + limit;
        for (;;) {
            if (auto nl = out_buf_.find('\n'); nl != std::string::npos) {
                auto line = out_buf_.substr(0, nl);
                out_buf_.erase(0, nl + 1);
                return line;
            }
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd p{out_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char buf[4096];
            auto n = ::read(out_, buf, sizeof buf);
            if (n <= 0) return std::nullopt;
            out_buf_.append(buf, static_cast<std::size_t>(n));
        }
    }

    void signal(int sig) { ::kill(pid_, sig); }

    // Exit status (128 + signal if killed), or -1 if still running after `limit`.
    int wait(std::chrono::milliseconds limit = k_guard) {
        const auto until = std::chrono::steady_clock::now() + limit;
        for (;;) {
            int st = 0;
            auto r = ::waitpid(pid_, &st, WNOHANG);
            if (r == pid_) {
                reaped_ = true;
                return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            }
            if (std::chrono::steady_clock::now() >= until) return -1;
            // Nothing to wait on but the child itself: poll its pipe for EOF.
            pollfd p{out_, POLLIN, 0};
            ::poll(&p, 1, 20);
            if (p.revents & (POLLIN | POLLHUP)) {
                char buf[4096];
                auto n = ::read(out_, buf, sizeof buf);
                if (n > 0) out_buf_.append(buf, static_cast<std::size_t>(n));
            }
        }
    }

    std::string stderr_text() {
        std::string s;
        char buf[4096];
        ::fcntl(err_, F_SETFL, O_NONBLOCK);
        ssize_t n;
        while ((n = ::read(err_, buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
        return s;
    }

private:
    pid_t pid_ = -1;
    int out_ = -1, err_ = -1;
    bool reaped_ = false;
    std::string out_buf_;
};

// The simulator's runtime, and the leak check of every test: declared before
// the simulator, it is destroyed after it, when no fiber may be left and
// shutdown must be clean (nothing ignoring cancellation).
class sim_runtime : public tw::runtime {
public:
    explicit sim_runtime(std::size_t threads = 1) : tw::runtime({.threads = threads, .name = "sim"}) {}
    ~sim_runtime() {
        EXPECT_EQ(counters().live_fibers, 0u) << dump_text();
        EXPECT_TRUE(shutdown());
    }
};

// The test's own client fibers, on a runtime of their own.
class client_runtime {
public:
    explicit client_runtime(std::size_t threads = 1) : rt_({.threads = threads, .name = "test-client"}) {}
    template <class F>
    auto call(F&& f) {
        return rt_.run([&] {
            tw::deadline_scope guard(k_guard);
            return f();
        });
    }
    tw::runtime& rt() { return rt_; }

private:
    tw::runtime rt_;
};

// Connects on the calling fiber.
inline tcp::socket connect(const std::string& address) {
    tcp::socket s(tw::this_fiber::executor());
    s.async_connect(endpoint_of(address), tw::yield);
    return s;
}

struct http_reply {
    int status = 0;
    std::string body;
    bool keep_alive = true;
};

// For a condition that has no event to wait on (e.g. a server-side count).
template <class Pred>
void wait_until(Pred pred) {
    while (!pred()) tw::sleep_for(1ms);
}

struct closed_stream {
    std::string bytes;                  // everything read before the end
    boost::system::error_code end;      // eof: a FIN; connection_reset: a reset
};

inline closed_stream read_until_closed(tcp::socket& s) {
    closed_stream r;
    char buf[4096];
    for (;;) {
        auto n = s.async_read_some(boost::asio::buffer(buf), tw::yield[r.end]);
        if (r.end) return r;
        r.bytes.append(buf, n);
    }
}

// HTTP/1.1 keep-alive client on a tw fiber.
class http_client {
public:
    explicit http_client(const std::string& address) : s_(connect(address)) {}

    http_reply post(const std::string& target, const std::string& body, std::vector<std::pair<std::string, std::string>> headers = {}) {
        send(target, body, std::move(headers));
        return receive();
    }

    // The two halves of post(), for a test that does something in between.
    void send(const std::string& target, const std::string& body, std::vector<std::pair<std::string, std::string>> headers = {}) {
        namespace http = boost::beast::http;
        http::request<http::string_body> req{http::verb::post, target, 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::content_type, "application/json");
        for (auto& [k, v] : headers) req.set(k, v);
        req.body() = body;
        req.prepare_payload();
        http::async_write(s_, req, tw::yield);
    }
    http_reply receive() {
        namespace http = boost::beast::http;
        http::response_parser<http::string_body> p;
        p.body_limit(64 * 1024 * 1024);
        http::async_read(s_, buf_, p, tw::yield);
        return {static_cast<int>(p.get().result_int()), p.get().body(), p.get().keep_alive()};
    }

    tcp::socket& socket() { return s_; }

private:
    tcp::socket s_;
    boost::beast::flat_buffer buf_;
};

// Line-protocol client (SCPI) on a tw fiber.
class line_client {
public:
    explicit line_client(const std::string& address) : s_(connect(address)) {}
    void write(const std::string& line) {
        auto l = line + "\n";
        boost::asio::async_write(s_, boost::asio::buffer(l), tw::yield);
    }
    std::string read_line() {
        auto n = boost::asio::async_read_until(s_, boost::asio::dynamic_buffer(buf_), '\n', tw::yield);
        auto line = buf_.substr(0, n - 1);
        buf_.erase(0, n);
        return line;
    }
    std::string query(const std::string& q) {
        write(q);
        return read_line();
    }
    tcp::socket& socket() { return s_; }

private:
    tcp::socket s_;
    std::string buf_;
};

}  // namespace tw_sim_test
