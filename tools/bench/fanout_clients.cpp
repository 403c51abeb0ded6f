// The clients of `tw bench fanout` and the child's measurement
// (fanout_clients.hpp).

#include "fanout_clients.hpp"

#include "../tw/board_list.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/core.h>

#include <tw/drivers/scpi/client.hpp>
#include <tw/tw.hpp>

namespace tw::cli::bench {

namespace {

using steady = std::chrono::steady_clock;
namespace asio = boost::asio;
using asio::ip::tcp;

// A child reports failure by exit status: the parent prints what it says.
[[noreturn]] void child_fail(const std::string& what) {
    fmt::print(stderr, "tw bench fanout: {}\n", what);
    std::fflush(stderr);
    std::_Exit(1);
}

double cpu_us() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto us = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec); };
    return us(ru.ru_utime) + us(ru.ru_stime);
}

// A field of /proc/self/status, without its name and blanks ("" if absent).
std::string status_field(const char* key) {
    std::ifstream f("/proc/self/status");
    const std::string k = std::string(key) + ":";
    for (std::string line; std::getline(f, line);)
        if (line.rfind(k, 0) == 0) {
            const auto from = line.find_first_not_of(" \t", k.size());
            return from == std::string::npos ? std::string() : line.substr(from);
        }
    return {};
}

// VmRSS or VmHWM of this process, KiB.
double status_kib(const char* key) { return std::strtod(status_field(key).c_str(), nullptr); }

void reset_peak_rss() {
    std::ofstream f("/proc/self/clear_refs");
    f << "5";
}

// 10,000 connections need more descriptors than the usual soft limit of 1,024.
void raise_fd_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

tcp::endpoint to_endpoint(const std::string& a) {
    auto parts = tw::parse_address(a);
    if (parts.host == "localhost") parts.host = "127.0.0.1";
    return {asio::ip::make_address(parts.host), parts.port};
}

// ---- the child: one implementation ----------------------------------------------------

struct run_params {
    std::vector<std::string> targets;
    std::size_t n = 0;
    std::size_t rounds = 0;
    std::string query;
    const std::string& target(std::size_t i) const { return targets[i % targets.size()]; }
};

// Latency samples: connection i's round trip k at i * rounds + k (ns).
struct samples {
    std::vector<std::uint32_t> ns;
    std::size_t rounds = 0;
    void prepare(std::size_t n, std::size_t r) {
        rounds = r;
        ns.assign(n * r, 0);  // touched now, not counted as per-board memory
    }
    void record(std::size_t i, std::size_t k, steady::time_point t0, steady::time_point t1) {
        const auto d = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
        ns[i * rounds + k] = static_cast<std::uint32_t>(std::clamp<long long>(d, 0, 0xffffffffLL));
    }
};

// One implementation: four blocking phase calls from the main thread.
class impl_base {
public:
    virtual ~impl_base() = default;
    virtual void connect() = 0;
    virtual void first() = 0;
    virtual void timed() = 0;
    virtual void teardown() = 0;
};

// fiber: the code a user writes — a fiber per board, tw::scpi::client, query().
class fiber_impl final : public impl_base {
public:
    fiber_impl(const run_params& p, samples& s) : p_(p), s_(s) {
        rt_.run([] { return tw::spawn([] { return 0; }).get(); });  // warm the worker
    }
    void connect() override {
        rt_.run([this] {
            remaining_ = p_.n;
            tasks_.reserve(p_.n);
            for (std::size_t i = 0; i < p_.n; ++i) tasks_.push_back(tw::spawn([this, i] { board(i); }));
            done_.acquire();
        });
    }
    void first() override { step(0); }
    void timed() override { step(1); }
    void teardown() override {
        rt_.run([this] {
            go_[2].release(p_.n);
            for (auto& t : tasks_) t.get();
            tasks_.clear();
            tasks_.shrink_to_fit();
        });
    }

private:
    void step(int g) {
        rt_.run([this, g] {
            remaining_ = p_.n;
            go_[g].release(p_.n);
            done_.acquire();
        });
    }
    void arrive() {
        if (--remaining_ == 0) done_.release();
    }
    void board(std::size_t i) {
        try {
            tw::scpi::client c(p_.target(i), {.timeout = std::chrono::seconds(60)});
            arrive();
            go_[0].acquire();
            if (c.query(p_.query).empty()) throw std::runtime_error("empty reply");
            arrive();
            go_[1].acquire();
            for (std::size_t k = 0; k < p_.rounds; ++k) {
                const auto t0 = steady::now();
                (void)c.query(p_.query);
                s_.record(i, k, t0, steady::now());
            }
            arrive();
            go_[2].acquire();
        } catch (const std::exception& e) {
            child_fail(fmt::format("fiber: connection {} ({}): {}", i, p_.target(i), e.what()));
        }
    }

    const run_params& p_;
    samples& s_;
    tw::runtime rt_{{.threads = 1, .name = "fanout"}};
    std::vector<tw::task<void>> tasks_;
    std::size_t remaining_ = 0;  // worker thread only
    tw::semaphore done_{0, "fanout phase done"};
    tw::semaphore go_[3] = {tw::semaphore{0, "fanout go"}, tw::semaphore{0, "fanout go"}, tw::semaphore{0, "fanout go"}};
};

// asio-callbacks: a raw callback state machine on a 1-thread io_context.
class callbacks_impl final : public impl_base {
public:
    callbacks_impl(const run_params& p, samples& s) : p_(p), s_(s), line_(p.query + "\n") {
        for (auto& t : p_.targets) eps_.push_back(to_endpoint(t));
    }
    void connect() override {
        conns_.reserve(p_.n);
        for (std::size_t i = 0; i < p_.n; ++i) {
            conns_.push_back(std::make_unique<conn>(io_, i));
            auto* c = conns_.back().get();
            c->s.async_connect(eps_[i % eps_.size()], [this, c](boost::system::error_code ec) {
                if (ec) child_fail(fmt::format("asio-callbacks: connect {}: {}", c->i, ec.message()));
                c->s.set_option(tcp::no_delay(true), ec);
            });
        }
        run();
    }
    void first() override {
        for (auto& c : conns_) {
            c->k = 0;
            c->limit = 1;
            c->record = false;
            start(c.get());
        }
        run();
    }
    void timed() override {
        for (auto& c : conns_) {
            c->k = 0;
            c->limit = p_.rounds;
            c->record = true;
            start(c.get());
        }
        run();
    }
    void teardown() override {
        for (auto& c : conns_) {
            boost::system::error_code ec;
            c->s.close(ec);
        }
        conns_.clear();
        conns_.shrink_to_fit();
        run();
    }

private:
    struct conn {
        conn(asio::io_context& io, std::size_t i) : s(io), i(i) {}
        tcp::socket s;
        std::string buf;
        std::size_t i, k = 0, limit = 0;
        bool record = false;
        steady::time_point t0;
    };
    void run() {
        io_.run();
        io_.restart();
    }
    void start(conn* c) {
        c->t0 = steady::now();
        asio::async_write(c->s, asio::buffer(line_), [this, c](boost::system::error_code ec, std::size_t) {
            if (ec) child_fail(fmt::format("asio-callbacks: write {}: {}", c->i, ec.message()));
            asio::async_read_until(c->s, asio::dynamic_buffer(c->buf), '\n', [this, c](boost::system::error_code ec, std::size_t n) {
                if (ec) child_fail(fmt::format("asio-callbacks: read {}: {}", c->i, ec.message()));
                c->buf.erase(0, n);
                if (c->record) s_.record(c->i, c->k, c->t0, steady::now());
                if (++c->k < c->limit) start(c);
            });
        });
    }

    const run_params& p_;
    samples& s_;
    std::string line_;
    std::vector<tcp::endpoint> eps_;
    asio::io_context io_{1};
    std::vector<std::unique_ptr<conn>> conns_;
};

// asio-spawn: boost::asio::spawn, one stackful coroutine per board, yield_context.
class spawn_impl final : public impl_base {
public:
    spawn_impl(const run_params& p, samples& s) : p_(p), s_(s), line_(p.query + "\n") {
        for (auto& t : p_.targets) eps_.push_back(to_endpoint(t));
        asio::spawn(io_, [](asio::yield_context y) { asio::post(y); }, asio::detached);  // warm
        io_.run();
        io_.restart();
        for (auto& g : gates_) g.expires_at(steady::time_point::max());
    }
    void connect() override {
        remaining_ = p_.n;
        for (std::size_t i = 0; i < p_.n; ++i)
            asio::spawn(io_, [this, i](asio::yield_context y) { board(i, y); }, asio::detached);
        wait();
    }
    void first() override { step(0); }
    void timed() override { step(1); }
    void teardown() override {
        gates_[2].cancel();
        io_.run();  // every coroutine closes its socket and ends
        io_.restart();
    }

private:
    void step(int g) {
        remaining_ = p_.n;
        gates_[g].cancel();
        wait();
    }
    void wait() {
        while (remaining_ > 0) io_.run_one();
    }
    void board(std::size_t i, asio::yield_context y) {
        boost::system::error_code ec;
        tcp::socket s(io_);
        std::string buf;
        auto round_trip = [&] {
            asio::async_write(s, asio::buffer(line_), y[ec]);
            if (ec) child_fail(fmt::format("asio-spawn: write {}: {}", i, ec.message()));
            const auto n = asio::async_read_until(s, asio::dynamic_buffer(buf), '\n', y[ec]);
            if (ec) child_fail(fmt::format("asio-spawn: read {}: {}", i, ec.message()));
            buf.erase(0, n);
        };
        s.async_connect(eps_[i % eps_.size()], y[ec]);
        if (ec) child_fail(fmt::format("asio-spawn: connect {}: {}", i, ec.message()));
        s.set_option(tcp::no_delay(true), ec);
        --remaining_;
        gates_[0].async_wait(y[ec]);
        round_trip();
        --remaining_;
        gates_[1].async_wait(y[ec]);
        for (std::size_t k = 0; k < p_.rounds; ++k) {
            const auto t0 = steady::now();
            round_trip();
            s_.record(i, k, t0, steady::now());
        }
        --remaining_;
        gates_[2].async_wait(y[ec]);
        s.close(ec);
    }

    const run_params& p_;
    samples& s_;
    std::string line_;
    std::vector<tcp::endpoint> eps_;
    asio::io_context io_{1};
    asio::steady_timer gates_[3] = {asio::steady_timer{io_}, asio::steady_timer{io_}, asio::steady_timer{io_}};
    std::size_t remaining_ = 0;
};

// threads: a std::thread per board, blocking POSIX sockets.
class threads_impl final : public impl_base {
public:
    threads_impl(const run_params& p, samples& s) : p_(p), s_(s), line_(p.query + "\n") {
        for (auto& t : p_.targets) eps_.push_back(to_endpoint(t));
    }
    void connect() override {
        {
            std::lock_guard g(m_);
            remaining_ = p_.n;
        }
        threads_.reserve(p_.n);
        for (std::size_t i = 0; i < p_.n; ++i) threads_.emplace_back([this, i] { board(i); });
        wait();
    }
    void first() override { step(); }
    void timed() override { step(); }
    void teardown() override {
        {
            std::lock_guard g(m_);
            ++phase_;
        }
        cv_go_.notify_all();
        for (auto& t : threads_) t.join();
        threads_.clear();
        threads_.shrink_to_fit();
    }

private:
    void step() {
        {
            std::lock_guard g(m_);
            remaining_ = p_.n;
            ++phase_;
        }
        cv_go_.notify_all();
        wait();
    }
    void wait() {
        std::unique_lock l(m_);
        cv_done_.wait(l, [this] { return remaining_ == 0; });
    }
    // Arrive at the end of phase `ph` and wait until phase ph + 1 starts.
    void arrive_and_wait(int ph) {
        std::unique_lock l(m_);
        if (--remaining_ == 0) cv_done_.notify_one();
        cv_go_.wait(l, [&] { return phase_ > ph; });
    }
    void board(std::size_t i) {
        const auto& ep = eps_[i % eps_.size()];
        const int fd = ::socket(ep.address().is_v4() ? AF_INET : AF_INET6, SOCK_STREAM, 0);
        if (fd < 0) child_fail(fmt::format("threads: socket: {}", std::strerror(errno)));
        if (::connect(fd, ep.data(), static_cast<socklen_t>(ep.size())) != 0)
            child_fail(fmt::format("threads: connect {}: {}", i, std::strerror(errno)));
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char buf[512];
        std::size_t have = 0;
        auto round_trip = [&] {
            for (std::size_t off = 0; off < line_.size();) {
                const auto k = ::send(fd, line_.data() + off, line_.size() - off, MSG_NOSIGNAL);
                if (k <= 0) child_fail(fmt::format("threads: send {}: {}", i, std::strerror(errno)));
                off += static_cast<std::size_t>(k);
            }
            for (;;) {
                if (auto* nl = static_cast<char*>(std::memchr(buf, '\n', have))) {
                    const auto used = static_cast<std::size_t>(nl - buf) + 1;
                    std::memmove(buf, buf + used, have - used);
                    have -= used;
                    return;
                }
                if (have == sizeof buf) child_fail("threads: reply line too long");
                const auto k = ::recv(fd, buf + have, sizeof buf - have, 0);
                if (k <= 0) child_fail(fmt::format("threads: recv {}: {}", i, k == 0 ? "closed" : std::strerror(errno)));
                have += static_cast<std::size_t>(k);
            }
        };
        arrive_and_wait(0);
        round_trip();
        arrive_and_wait(1);
        for (std::size_t k = 0; k < p_.rounds; ++k) {
            const auto t0 = steady::now();
            round_trip();
            s_.record(i, k, t0, steady::now());
        }
        arrive_and_wait(2);
        ::close(fd);
    }

    const run_params& p_;
    samples& s_;
    std::string line_;
    std::vector<tcp::endpoint> eps_;
    std::vector<std::thread> threads_;
    std::mutex m_;
    std::condition_variable cv_go_, cv_done_;
    std::size_t remaining_ = 0;
    int phase_ = 0;
};

struct phase_cost {
    double wall_us = 0, cpu_us = 0;
};

template <class F>
phase_cost measure_phase(F&& f) {
    const auto c0 = cpu_us();
    const auto t0 = steady::now();
    f();
    return {std::chrono::duration<double, std::micro>(steady::now() - t0).count(), cpu_us() - c0};
}

double percentile(std::vector<std::uint32_t>& v, double q) {
    if (v.empty()) return 0;
    const auto idx = static_cast<std::size_t>(std::min<double>(static_cast<double>(v.size()) - 1, q * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(idx), v.end());
    return v[idx] / 1e3;
}

}  // namespace

void run_fanout_child(const fanout_options& o) {
    raise_fd_limit();
    run_params p{expand_targets(o.targets), o.connections.value_or(0), o.rounds, o.query};
    if (p.targets.empty() || p.n == 0) child_fail("child: no targets or connections");
    check_samples(p.n, p.rounds);
    samples s;
    s.prepare(p.n, p.rounds);
    std::unique_ptr<impl_base> impl;
    if (o.child_impl == "fiber") impl = std::make_unique<fiber_impl>(p, s);
    else if (o.child_impl == "asio-callbacks") impl = std::make_unique<callbacks_impl>(p, s);
    else if (o.child_impl == "asio-spawn") impl = std::make_unique<spawn_impl>(p, s);
    else if (o.child_impl == "threads") impl = std::make_unique<threads_impl>(p, s);
    else child_fail("child: unknown implementation " + o.child_impl);

    reset_peak_rss();
    const double rss0 = status_kib("VmRSS");
    const auto con = measure_phase([&] { impl->connect(); });
    const auto fst = measure_phase([&] { impl->first(); });
    const auto tim = measure_phase([&] { impl->timed(); });
    const double hwm = status_kib("VmHWM");
    const auto tdn = measure_phase([&] { impl->teardown(); });
    impl.reset();

    const double n = static_cast<double>(p.n);
    const double rts = n * static_cast<double>(p.rounds);
    auto& v = s.ns;
    // The keys the parent, fanout_report.py and fanout_asyncio.py share.
    boost::json::object line;
    line["impl"] = o.child_impl;
    line["boards"] = static_cast<std::uint64_t>(p.n);
    line["rounds"] = static_cast<std::uint64_t>(p.rounds);
    line["wall_s"] = tim.wall_us / 1e6;
    line["rt_per_s"] = rts / (tim.wall_us / 1e6);
    line["cpu_us_per_rt"] = tim.cpu_us / rts;
    line["rss_kib_per_board"] = (hwm - rss0) / n;
    line["p50_us"] = percentile(v, 0.50);
    line["p99_us"] = percentile(v, 0.99);
    line["connect_us_per_board"] = con.cpu_us / n;
    line["first_rt_us_per_board"] = fst.cpu_us / n;
    line["teardown_us_per_board"] = tdn.cpu_us / n;
    line["connect_wall_us_per_board"] = con.wall_us / n;
    line["first_rt_wall_us_per_board"] = fst.wall_us / n;
    line["teardown_wall_us_per_board"] = tdn.wall_us / n;
    line["cpus"] = status_field("Cpus_allowed_list");  // "0" with --pin, "0-1" without, on 2 CPUs
    fmt::print("{}\n", boost::json::serialize(line));
    std::fflush(stdout);
}

}  // namespace tw::cli::bench
