// tw bench fanout: many connections doing request/response round trips (one
// outstanding request each, all concurrently) against SCPI targets
// (docs/WIRE_FORMATS.md, Benchmark targets), by the project's fiber client and by in-tree
// baselines, each implementation in a child process of its own so that
// getrusage and RSS measure that client alone (docs/BENCHMARKS.md
// "Fan-out").
//
//   tw bench fanout --sim 100 --rounds 200 [--latency 200us] [--json]
//   tw bench fanout --targets 127.0.0.1:5025+4 --connections 16 --rounds 100
//
// Each child: raise the descriptor limit, preallocate the latency samples,
// reset the peak-RSS mark, then four phases, each measured (wall and CPU):
//   connect   open every connection (fiber: spawn a fiber per board and build
//             its tw::scpi::client; the driver connects lazily, so its TCP
//             connect falls into the first round trip)
//   first     one round trip per connection
//   timed     R round trips per connection (the timed window; every round
//             trip's latency is recorded)
//   teardown  close every connection and end its fiber/coroutine/thread
// The children print one JSON line; the parent prints the table or JSON.

#include "board_list.hpp"
#include "commands.hpp"
#include "verb_util.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <boost/algorithm/string/trim.hpp>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <tw/drivers/scpi/client.hpp>
#include <tw/duration.hpp>
#include <tw/tw.hpp>

#ifndef TW_BENCH_DIR
#define TW_BENCH_DIR "tools/bench"
#endif

extern char** environ;

#include "bench_common.hpp"

namespace tw::cli {

namespace {

using steady = std::chrono::steady_clock;
namespace asio = boost::asio;
using asio::ip::tcp;

const std::vector<std::string> k_impls = {"fiber", "asio-callbacks", "asio-spawn", "threads", "python-asyncio"};
constexpr std::size_t k_max_threads = 1000;

struct fanout_options {
    std::vector<std::string> targets;
    std::optional<std::size_t> connections;
    std::optional<std::size_t> sim;
    std::optional<std::size_t> sim_ports;
    std::string latency = "0";
    std::size_t rounds = 100;
    std::vector<std::string> impls;
    std::string query = "MEAS?";
    bool json = false;
    std::string child_impl;  // hidden: measure one implementation in this process
};

// ---- helpers ----------------------------------------------------------------------

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

// VmRSS or VmHWM of this process, KiB.
double status_kib(const char* key) {
    std::ifstream f("/proc/self/status");
    const std::string k = std::string(key) + ":";
    for (std::string line; std::getline(f, line);)
        if (line.rfind(k, 0) == 0) return std::strtod(line.c_str() + k.size(), nullptr);
    return 0;
}

void reset_peak_rss() {
    std::ofstream f("/proc/self/clear_refs");
    f << "5";
}

void raise_fd_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// Board-list syntax (board_list.hpp): "H:P", "H:P+K" (K consecutive ports),
// comma-separated, possibly repeated.
std::vector<std::string> expand_targets(const std::vector<std::string>& specs) {
    std::vector<std::string> out;
    for (const auto& spec : specs) {
        try {
            for (const auto& b : parse_board_list(spec)) out.push_back(b.address);
        } catch (const std::invalid_argument& e) {
            throw CLI::ValidationError("--targets", e.what());
        }
    }
    return out;
}

tcp::endpoint to_endpoint(const std::string& a) {
    auto parts = tw::parse_address(a);
    if (parts.host == "localhost") parts.host = "127.0.0.1";
    return {asio::ip::make_address(parts.host), parts.port};
}

// Ranges. One latency sample (4 bytes) is kept per connection and round trip:
// at most k_max_samples of them (400 MB).
constexpr std::uint64_t k_max_connections = 1'000'000;
constexpr std::uint64_t k_max_rounds = 1'000'000;
constexpr std::uint64_t k_max_samples = 100'000'000;

void check_samples(std::size_t n, std::size_t rounds) {
    if (n > k_max_samples / rounds)
        throw CLI::ValidationError("--rounds", fmt::format("{} connections x {} round trips is more than {} samples to keep", n,
                                                          rounds, k_max_samples));
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

void run_child(const fanout_options& o) {
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
    const double p50 = percentile(v, 0.50);
    const double p99 = percentile(v, 0.99);
    fmt::print(
        "{{\"impl\": \"{}\", \"boards\": {}, \"rounds\": {}, \"wall_s\": {:.6g}, \"rt_per_s\": {:.6g}, \"cpu_us_per_rt\": {:.6g}, "
        "\"rss_kib_per_board\": {:.6g}, \"p50_us\": {:.6g}, \"p99_us\": {:.6g}, \"connect_us_per_board\": {:.6g}, "
        "\"first_rt_us_per_board\": {:.6g}, \"teardown_us_per_board\": {:.6g}, \"connect_wall_us_per_board\": {:.6g}, "
        "\"first_rt_wall_us_per_board\": {:.6g}, \"teardown_wall_us_per_board\": {:.6g}}}\n",
        o.child_impl, p.n, p.rounds, tim.wall_us / 1e6, rts / (tim.wall_us / 1e6), tim.cpu_us / rts, (hwm - rss0) / n, p50, p99,
        con.cpu_us / n, fst.cpu_us / n, tdn.cpu_us / n, con.wall_us / n, fst.wall_us / n, tdn.wall_us / n);
    std::fflush(stdout);
}

// ---- the parent -------------------------------------------------------------------------

// A child process with its stdout on a pipe.
struct child_proc {
    pid_t pid = -1;
    int out = -1;
    child_proc(const std::string& path, const std::vector<std::string>& args) {
        std::vector<char*> argv;
        std::vector<std::string> a = args;
        for (auto& s : a) argv.push_back(s.data());
        argv.push_back(nullptr);
        int fds[2];
        if (::pipe(fds) != 0) throw std::runtime_error("bench fanout: pipe failed");
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
        posix_spawn_file_actions_addclose(&fa, fds[0]);
        posix_spawn_file_actions_addclose(&fa, fds[1]);
        const int rc = ::posix_spawn(&pid, path.c_str(), &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        ::close(fds[1]);
        if (rc != 0) {
            ::close(fds[0]);
            pid = -1;
            throw std::runtime_error(fmt::format("bench fanout: cannot start {}: {}", path, std::strerror(rc)));
        }
        out = fds[0];
    }
    child_proc(const child_proc&) = delete;
    child_proc& operator=(const child_proc&) = delete;
    // One line of stdout ("" at end of file).
    std::string read_line() {
        std::string line;
        char c;
        while (::read(out, &c, 1) == 1) {
            if (c == '\n') return line;
            line += c;
        }
        return line;
    }
    std::string read_all() {
        std::string s;
        char buf[4096];
        for (ssize_t k; (k = ::read(out, buf, sizeof buf)) > 0;) s.append(buf, static_cast<std::size_t>(k));
        return s;
    }
    int wait() {
        if (pid < 0) return -1;
        int status = 0;
        ::waitpid(pid, &status, 0);
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    void terminate() {
        if (pid > 0) ::kill(pid, SIGTERM);
    }
    ~child_proc() {
        if (pid > 0) {
            ::kill(pid, SIGTERM);
            wait();
        }
        if (out >= 0) ::close(out);
    }
};

std::string self_exe() { return "/proc/self/exe"; }

struct result {
    std::string impl;
    boost::json::object o;
    double get(const char* k) const {
        auto* v = o.if_contains(k);
        return v && v->is_number() ? v->to_number<double>() : std::nan("");
    }
};

result run_impl(const std::string& impl, const std::vector<std::string>& targets, std::size_t n, const fanout_options& o) {
    std::string tlist;
    for (auto& t : targets) tlist += (tlist.empty() ? "" : ",") + t;
    std::unique_ptr<child_proc> c;
    if (impl == "python-asyncio") {
        const char* dir = std::getenv("TW_BENCH_DIR");
        const std::string script = std::string(dir ? dir : TW_BENCH_DIR) + "/fanout_asyncio.py";
        c = std::make_unique<child_proc>("/usr/bin/python3",
                                         std::vector<std::string>{"python3", script, "--targets", tlist, "--connections",
                                                                  std::to_string(n), "--rounds", std::to_string(o.rounds),
                                                                  "--query", o.query});
    } else {
        c = std::make_unique<child_proc>(self_exe(), std::vector<std::string>{"tw", "bench", "fanout", "--child-impl", impl, "--targets",
                                                                              tlist, "--connections", std::to_string(n), "--rounds",
                                                                              std::to_string(o.rounds), "--query", o.query});
    }
    const auto out = c->read_all();
    const int rc = c->wait();
    if (rc != 0) throw std::runtime_error(fmt::format("bench fanout: the {} client failed (exit {})", impl, rc));
    boost::system::error_code ec;
    auto v = boost::json::parse(boost::algorithm::trim_copy(out), ec);
    if (ec || !v.is_object()) throw std::runtime_error(fmt::format("bench fanout: the {} client printed '{}'", impl, boost::algorithm::trim_copy(out)));
    return {impl, v.as_object()};
}

std::string num(double v, int prec = 3) {
    if (!std::isfinite(v)) return "-";
    if (std::fabs(v) >= 1000) return fmt::format("{:.0f}", v);
    if (std::fabs(v) >= 100) return fmt::format("{:.1f}", v);
    return fmt::format("{:.{}g}", v, prec);
}

void run_parent(fanout_options o) {
    // Implementations.
    const bool impls_given = !o.impls.empty();
    std::vector<std::string> impls = impls_given ? o.impls : std::vector<std::string>{"fiber", "asio-callbacks", "asio-spawn", "threads"};
    if (o.sim && !o.targets.empty()) throw CLI::ValidationError("--sim", "give either --sim N or --targets SPEC, not both");
    if (!o.sim && o.targets.empty()) throw CLI::ValidationError("--targets", "give --targets SPEC or --sim N");
    if (o.sim && o.connections && *o.connections != *o.sim)
        throw CLI::ValidationError("--connections", "with --sim N there are N connections, one per simulated instrument");
    if (!o.sim && (o.sim_ports || o.latency != "0"))
        throw CLI::ValidationError(o.sim_ports ? "--sim-ports" : "--latency", "--sim-ports and --latency apply to --sim only");
    try {
        (void)tw::parse_duration(o.latency);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError("--latency", e.what());
    }
    std::vector<std::string> targets;
    std::size_t n = 0;
    if (!o.targets.empty()) {
        targets = expand_targets(o.targets);
        if (targets.empty()) throw CLI::ValidationError("--targets", "no targets");
        n = o.connections.value_or(targets.size());
    } else {
        n = *o.sim;
    }
    check_samples(n, o.rounds);
    if (n > k_max_threads) {
        auto it = std::find(impls.begin(), impls.end(), "threads");
        if (it != impls.end()) {
            if (impls_given)
                throw CLI::ValidationError("--impl", fmt::format("threads: a thread per board is refused above {} boards ({} asked)",
                                                                 k_max_threads, n));
            spdlog::warn("bench fanout: skipping 'threads' (a thread per board) above {} boards", k_max_threads);
            impls.erase(it);
        }
    }

    // The simulator.
    std::unique_ptr<child_proc> sim;
    if (o.sim) {
        std::vector<std::string> args = {"tw", "sim", "--scpi", std::to_string(n), "--scpi-port", "0", "--latency", o.latency};
        std::size_t ports = o.sim_ports.value_or(n > 1000 ? 16 : 0);
        if (ports) {
            args.push_back("--scpi-ports");
            args.push_back(std::to_string(ports));
        }
        sim = std::make_unique<child_proc>(self_exe(), args);
        const auto line = sim->read_line();
        if (line.rfind("scpi ", 0) != 0) {
            sim->wait();
            throw std::runtime_error(fmt::format("bench fanout: the simulator did not start (it printed '{}')", line));
        }
        targets = expand_targets({line.substr(5)});
        spdlog::info("bench fanout: simulator serving {} instruments on {} ports", n, targets.size());
    }

    std::vector<result> rs;
    for (std::size_t k = 0; k < impls.size(); ++k) {
        if (k) std::this_thread::sleep_for(std::chrono::milliseconds(100) + std::chrono::microseconds(50) * n);  // let the server see the closes
        spdlog::info("bench fanout: {} with {} connections", impls[k], n);
        rs.push_back(run_impl(impls[k], targets, n, o));
    }
    if (sim) {
        sim->terminate();
        sim->wait();
    }

    const auto machine = machine_string();
    const result* base = nullptr;
    for (auto& r : rs)
        if (r.impl == "asio-callbacks") base = &r;
    auto ratio = [&](const result& r, const char* k) {
        if (!base) return std::nan("");
        return r.get(k) / base->get(k);
    };
    if (o.json) {
        boost::json::array arr;
        for (auto& r : rs) {
            auto obj = r.o;
            obj["impl"] = r.impl;
            if (base) obj["cpu_ratio"] = ratio(r, "cpu_us_per_rt");
            arr.push_back(obj);
        }
        boost::json::object top;
        top["machine"] = machine;
        top["latency"] = o.sim ? o.latency : std::string("n/a");
        top["results"] = arr;
        fmt::print("{}\n", boost::json::serialize(top));
        return;
    }
    fmt::print("machine: {}\n", machine);
    fmt::print("{} connections over {} target ports, {} timed round trips each, query '{}'{}\n\n", n, targets.size(), o.rounds, o.query,
               o.sim ? fmt::format(", simulator latency {}", o.latency) : std::string());
    fmt::print("{:<15} {:>9} {:>10} {:>9} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6} {:>9}\n", "impl", "wall_s", "rt/s", "cpu_us/rt", "ratio",
               "KiB/board", "p50_us", "p99_us", "conn_us", "first_us", "ratio", "tear_us");
    for (auto& r : rs) {
        const double setup = r.get("connect_us_per_board") + r.get("first_rt_us_per_board");
        const double base_setup = base ? base->get("connect_us_per_board") + base->get("first_rt_us_per_board") : std::nan("");
        fmt::print("{:<15} {:>9} {:>10} {:>9} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6} {:>9}\n", r.impl, num(r.get("wall_s")),
                   num(r.get("rt_per_s")), num(r.get("cpu_us_per_rt")), num(ratio(r, "cpu_us_per_rt")), num(r.get("rss_kib_per_board")),
                   num(r.get("p50_us")), num(r.get("p99_us")), num(r.get("connect_us_per_board")), num(r.get("first_rt_us_per_board")),
                   num(setup / base_setup), num(r.get("teardown_us_per_board")));
    }
    fmt::print(
        "\ncpu_us/rt: client user+sys CPU over the timed window / round trips; ratio: to asio-callbacks.\n"
        "conn_us, first_us, tear_us: client CPU per board outside the timed window (connect, first round trip, teardown);\n"
        "the second ratio is (conn+first) to asio-callbacks' (the fiber driver connects lazily, in its first query).\n");
}

void run_fanout(const fanout_options& o) {
    if (!o.child_impl.empty()) return run_child(o);
    run_parent(o);
}

}  // namespace

void add_bench_fanout_command(CLI::App& bench) {
    auto o = std::make_shared<fanout_options>();
    auto* cmd = bench.add_subcommand("fanout", "Many connections doing SCPI round trips: tw fibers beside Asio callbacks, asio::spawn, threads, Python");
    cmd->add_option("--targets", o->targets, "Targets HOST:PORT[+K][,...] answering each line with one line")->delimiter(',')->option_text("SPEC");
    count_option(*cmd, "--connections", o->connections, "Connections, round-robin over the targets (default: one per target)", 1,
                 k_max_connections);
    count_option(*cmd, "--sim", o->sim, "Start `tw sim --scpi N` and drive N connections against it", 1, k_max_connections);
    count_option(*cmd, "--sim-ports", o->sim_ports, "With --sim: serve on K ports (default 16 when N > 1000, else one per instrument)",
                 1, k_max_ports)
        ->type_name("K");
    cmd->add_option("--latency", o->latency, "With --sim: the simulator's reply latency (DUR: 200us)")->capture_default_str();
    count_option(*cmd, "--rounds", o->rounds, "Timed round trips per connection (after one untimed first round trip)", 1, k_max_rounds)
        ->capture_default_str();
    cmd->add_option("--impl", o->impls, "Implementations (default: all but python-asyncio)")
        ->delimiter(',')
        ->check(CLI::IsMember(k_impls))
        ->option_text("fiber,asio-callbacks,asio-spawn,threads,python-asyncio");
    cmd->add_option("--query", o->query, "The query line sent each round trip")->capture_default_str();
    cmd->add_flag("--json", o->json, "Print JSON instead of a table");
    cmd->add_option("--child-impl", o->child_impl, "internal: measure one implementation in this process")->group("");
    cmd->callback([o] { run_fanout(*o); });
}

}  // namespace tw::cli
