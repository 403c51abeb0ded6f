// The figures of `tw bench micro` and their baselines (micro_figures.hpp):
// the timing loop, the timing figures, and the parked-fiber figures (memory,
// capacity, idle CPU), each beside the baseline it is compared with
// (docs/BENCHMARKS.md, "Figures and baselines").

#include "micro_figures.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/fiber/fiber.hpp>
#include <boost/fiber/operations.hpp>
#include <boost/fiber/pooled_fixedsize_stack.hpp>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <tw/tw.hpp>

namespace tw::cli::bench {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

namespace {

using steady = std::chrono::steady_clock;
namespace asio = boost::asio;

// ---- helpers --------------------------------------------------------------------

double elapsed_ns(steady::time_point t0) { return std::chrono::duration<double, std::nano>(steady::now() - t0).count(); }

// Runs body(n) (n iterations of the measured operation) until the cost of one
// iteration is known: warm-up and calibration, then three runs of about
// cfg.run_seconds each; returns the median ns per iteration. With a fixed
// count, runs it once, without warm-up. Call it where the operation runs (on a
// fiber, in a coroutine, on a thread): it only counts and times.
template <class Body>
double ns_per_iteration(const config& cfg, Body&& body) {
    auto timed = [&](std::size_t n) {
        const auto t0 = steady::now();
        body(n);
        return elapsed_ns(t0);
    };
    if (cfg.fixed) return timed(cfg.fixed) / static_cast<double>(cfg.fixed);
    const double target_ns = cfg.run_seconds * 1e9;
    std::size_t n = cfg.quick ? 16 : 256;
    double e = timed(n);  // warm-up
    while (e < target_ns / 8 && n < (std::size_t{1} << 34)) {
        n *= 4;
        e = timed(n);
    }
    n = std::max<std::size_t>(1, static_cast<std::size_t>(static_cast<double>(n) * target_ns / std::max(e, 1.0)));
    std::vector<double> runs;
    for (int i = 0; i < 3; ++i) runs.push_back(timed(n) / static_cast<double>(n));
    return median(std::move(runs));
}

// Runs f on a std::thread of its own and returns its result (or rethrows):
// that thread's Boost.Fiber scheduler is the default round_robin.
template <class F>
auto on_own_thread(F f) {
    std::packaged_task<std::invoke_result_t<F&>()> pt(std::move(f));
    auto fut = pt.get_future();
    std::thread th(std::move(pt));
    th.join();
    return fut.get();
}

std::size_t rss_bytes() {
    std::ifstream f("/proc/self/statm");
    std::size_t size = 0, resident = 0;
    f >> size >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

double cpu_ms() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto ms = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) * 1e3 + static_cast<double>(tv.tv_usec) / 1e3; };
    return ms(ru.ru_utime) + ms(ru.ru_stime);
}

// ---- timing figures -----------------------------------------------------------------

constexpr std::size_t k_stack = 128 * 1024;  // tw's default fiber stack, used by every baseline too

// io_suspend_resume: post-and-resume through the I/O loop.
double io_suspend_resume_tw(const config& cfg) {
    tw::runtime rt({.threads = 1, .name = "bench"});
    return rt.run([&] {
        auto ex = rt.executor(0);
        return ns_per_iteration(cfg, [&](std::size_t n) {
            for (std::size_t i = 0; i < n; ++i) asio::post(ex, tw::yield);
        });
    });
}

double io_suspend_resume_base(const config& cfg) {
    asio::io_context io(1);
    double ns = 0;
    asio::spawn(
        io,
        [&](asio::yield_context y) {
            ns = ns_per_iteration(cfg, [&](std::size_t n) {
                for (std::size_t i = 0; i < n; ++i) asio::post(y);
            });
        },
        [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    io.run();
    return ns;
}

// fiber_switch: two fibers ping-ponging with yield; ns per switch (per yield).
double fiber_switch_tw(const config& cfg) {
    tw::runtime rt({.threads = 1, .name = "bench"});
    return rt.run([&] {
        return ns_per_iteration(cfg, [&](std::size_t n) {
            auto other = tw::spawn([n] {
                for (std::size_t i = 0; i < n; ++i) tw::this_fiber::yield();
            });
            for (std::size_t i = 0; i < n; ++i) tw::this_fiber::yield();
            other.get();
        });
    }) / 2;
}

double fiber_switch_base(const config& cfg) {
    return on_own_thread([&] {
        return ns_per_iteration(cfg, [&](std::size_t n) {
            boost::fibers::fiber other([n] {
                for (std::size_t i = 0; i < n; ++i) boost::this_fiber::yield();
            });
            for (std::size_t i = 0; i < n; ++i) boost::this_fiber::yield();
            other.join();
        });
    }) / 2;
}

// spawn_join: start a trivial fiber and wait for it, from a fiber.
double spawn_join_tw(const config& cfg) {
    tw::runtime rt({.threads = 1, .stack_size = k_stack, .name = "bench"});
    return rt.run([&] {
        return ns_per_iteration(cfg, [&](std::size_t n) {
            int sum = 0;
            for (std::size_t i = 0; i < n; ++i) sum += tw::spawn([] { return 1; }).get();
            if (sum != static_cast<int>(n)) throw std::runtime_error("spawn_join: wrong result");
        });
    });
}

double spawn_join_base(const config& cfg) {
    return on_own_thread([&] {
        boost::fibers::pooled_fixedsize_stack stacks(k_stack);
        return ns_per_iteration(cfg, [&](std::size_t n) {
            int sum = 0;
            for (std::size_t i = 0; i < n; ++i) {
                boost::fibers::fiber f(std::allocator_arg, stacks, [&sum] { ++sum; });
                f.join();
            }
            if (sum != static_cast<int>(n)) throw std::runtime_error("spawn_join: wrong result");
        });
    });
}

// Pins the calling thread to one CPU (best effort).
void pin_to_cpu(unsigned cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % std::max(1u, std::thread::hardware_concurrency()), &set);
    (void)::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
}

// foreign_sync_call pins the calling thread and the loop thread (both sides
// alike): unpinned, the figure depends on whether the scheduler happens to put
// them on one CPU (a thread switch, ~5 us) or two (waking an idle vCPU, up to
// ~50 us in a VM), and the ratio is noise.
constexpr unsigned k_caller_cpu = 0;
constexpr unsigned k_loop_cpu = 0;  // same CPU: see docs/BENCHMARKS.md for the cross-CPU numbers

// foreign_sync_call: a plain thread calling into a one-worker runtime.
double foreign_sync_call_tw(const config& cfg) {
    tw::runtime rt({.threads = 1, .name = "bench"});
    rt.run([] { pin_to_cpu(k_loop_cpu); });  // runs on the worker thread
    return on_own_thread([&] {
        pin_to_cpu(k_caller_cpu);
        return ns_per_iteration(cfg, [&](std::size_t n) {
            int sum = 0;
            for (std::size_t i = 0; i < n; ++i) sum += rt.run([] { return 1; });
            if (sum != static_cast<int>(n)) throw std::runtime_error("foreign_sync_call: wrong result");
        });
    });
}

double foreign_sync_call_base(const config& cfg) {
    asio::io_context io(1);
    auto guard = asio::make_work_guard(io);
    std::thread loop([&] {
        pin_to_cpu(k_loop_cpu);
        io.run();
    });
    double ns = 0;
    try {
        ns = on_own_thread([&] {
            pin_to_cpu(k_caller_cpu);
            return ns_per_iteration(cfg, [&](std::size_t n) {
                int sum = 0;
                for (std::size_t i = 0; i < n; ++i) {
                    std::promise<int> p;
                    auto f = p.get_future();
                    asio::post(io, [&p] { p.set_value(1); });
                    sum += f.get();
                }
                if (sum != static_cast<int>(n)) throw std::runtime_error("foreign_sync_call: wrong result");
            });
        });
    } catch (...) {
        guard.reset();
        loop.join();
        throw;
    }
    guard.reset();
    loop.join();
    return ns;
}

// ---- parked fibers (memory, capacity, idle CPU) -----------------------------------------

// N fibers (or coroutines) each parked on its own steady_timer an hour ahead.
// Usage: prepare(n) (allocates the bookkeeping, so that it is not counted),
// start() (returns once all have parked or failed to start), stop() (cancels
// every timer and waits until all have finished).
class parked_set {
public:
    virtual ~parked_set() = default;
    virtual void prepare(std::size_t n) = 0;
    virtual void start() = 0;
    virtual void stop() = 0;
    std::size_t parked() const { return parked_.load(); }
    std::size_t failed() const { return failed_.load(); }

protected:
    void wait_started(std::size_t n) {
        while (parked_.load() + failed_.load() < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::vector<asio::steady_timer*> timers_;  // loop thread only
    std::atomic<std::size_t> parked_{0};
    std::atomic<std::size_t> failed_{0};
};

class parked_tw final : public parked_set {
public:
    // The guard-page budget runs out at 100,000 fibers: expected here, so the
    // runtime's warning goes to the log at info level.
    parked_tw()
        : rt_({.threads = 1, .stack_size = k_stack, .name = "bench",
               .on_warning = [](std::string_view m) { spdlog::info("{}", m); }}) {
        rt_.run([] { return tw::spawn([] { return 0; }).get(); });  // warm the worker
    }
    void prepare(std::size_t n) override {
        n_ = n;
        timers_.assign(n, nullptr);
        tasks_.reserve(n);
    }
    void start() override {
        ctl_ = rt_.spawn([this] {
            auto ex = rt_.executor(0);
            for (std::size_t i = 0; i < n_; ++i) {
                tasks_.push_back(tw::spawn([this, i, ex] {
                    asio::steady_timer t(ex, std::chrono::hours(1));
                    timers_[i] = &t;
                    parked_.fetch_add(1);
                    boost::system::error_code ec;
                    t.async_wait(tw::yield[ec]);
                    timers_[i] = nullptr;
                }));
                if (tasks_.back().done()) failed_.fetch_add(1);  // could not start (out of memory)
            }
            stop_.acquire();
            for (auto* t : timers_)
                if (t) t->cancel();
            for (auto& t : tasks_) try {
                    t.get();
                } catch (...) {
                }
        });
        wait_started(n_);
    }
    void stop() override {
        stop_.release();
        ctl_.get();
    }

private:
    tw::runtime rt_;
    std::size_t n_ = 0;
    std::vector<tw::task<void>> tasks_;
    tw::task<void> ctl_;
    tw::semaphore stop_{0, "bench stop"};
};

class parked_asio final : public parked_set {
public:
    parked_asio() : io_(1), guard_(asio::make_work_guard(io_)), loop_([this] { io_.run(); }) {
        std::promise<void> warm;
        asio::spawn(io_, [&](asio::yield_context y) { asio::post(y); }, [&](std::exception_ptr) { warm.set_value(); });
        warm.get_future().get();
    }
    ~parked_asio() override {
        guard_.reset();
        if (loop_.joinable()) loop_.join();
    }
    void prepare(std::size_t n) override {
        n_ = n;
        timers_.assign(n, nullptr);
    }
    void start() override {
        asio::post(io_, [this] {
            for (std::size_t i = 0; i < n_; ++i) {
                try {
                    asio::spawn(
                        io_,
                        [this, i](asio::yield_context y) {
                            asio::steady_timer t(io_, std::chrono::hours(1));
                            timers_[i] = &t;
                            parked_.fetch_add(1);
                            boost::system::error_code ec;
                            t.async_wait(y[ec]);
                            timers_[i] = nullptr;
                            finished_.fetch_add(1);
                        },
                        asio::detached);
                } catch (...) {
                    failed_.fetch_add(1);
                }
            }
        });
        wait_started(n_);
    }
    void stop() override {
        asio::post(io_, [this] {
            for (auto* t : timers_)
                if (t) t->cancel();
        });
        while (finished_.load() < parked_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        guard_.reset();
        loop_.join();
    }

private:
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_;
    std::thread loop_;
    std::size_t n_ = 0;
    std::atomic<std::size_t> finished_{0};
};

std::unique_ptr<parked_set> make_parked(bool tw_side) {
    if (tw_side) return std::make_unique<parked_tw>();
    return std::make_unique<parked_asio>();
}

// KiB of RSS per parked fiber.
double rss_per_parked(bool tw_side, const config& cfg) {
    const std::size_t n = cfg.quick ? 200 : 10'000;
    auto set = make_parked(tw_side);
    set->prepare(n);
    const auto before = rss_bytes();
    set->start();
    const auto after = rss_bytes();
    const auto parked = set->parked();
    set->stop();
    if (parked != n) throw std::runtime_error(fmt::format("only {} of {} fibers parked", parked, n));
    return (static_cast<double>(after) - static_cast<double>(before)) / static_cast<double>(n) / 1024.0;
}

// How many of 100,000 fibers with a default-sized stack parked at once.
double parked_count(bool tw_side, const config& cfg) {
    const std::size_t n = cfg.quick ? 1'000 : 100'000;
    auto set = make_parked(tw_side);
    set->prepare(n);
    set->start();
    const auto parked = set->parked();
    set->stop();
    return static_cast<double>(parked);
}

// ms of CPU per second while 10,000 fibers are parked and nothing is due.
double idle_cpu(bool tw_side, const config& cfg) {
    const std::size_t n = cfg.quick ? 200 : 10'000;
    const auto window = cfg.quick ? std::chrono::milliseconds(50) : std::chrono::milliseconds(1000);
    auto set = make_parked(tw_side);
    set->prepare(n);
    set->start();
    std::this_thread::sleep_for(std::chrono::milliseconds(cfg.quick ? 5 : 100));  // let the start-up settle
    const double c0 = cpu_ms();
    const auto t0 = steady::now();
    std::this_thread::sleep_for(window);
    const double c1 = cpu_ms();
    const double secs = std::chrono::duration<double>(steady::now() - t0).count();
    set->stop();
    return (c1 - c0) / secs;
}

double rss_tw(const config& c) { return rss_per_parked(true, c); }
double rss_base(const config& c) { return rss_per_parked(false, c); }
double parked_tw_count(const config& c) { return parked_count(true, c); }
double parked_base_count(const config& c) { return parked_count(false, c); }
double idle_tw(const config& c) { return idle_cpu(true, c); }
double idle_base(const config& c) { return idle_cpu(false, c); }

}  // namespace

const std::vector<figure_def>& figures() {
    static const std::vector<figure_def> defs = {
        {"io_suspend_resume", "ns", "asio::spawn post(yield) loop", false, io_suspend_resume_tw, io_suspend_resume_base, 1.0,
         std::nullopt, better::lower},
        {"fiber_switch", "ns", "Boost.Fiber round_robin, two fibers yielding", false, fiber_switch_tw, fiber_switch_base,
         std::nullopt, std::nullopt, better::lower},
        {"spawn_join", "ns", "boost::fibers::fiber + pooled_fixedsize_stack + join", false, spawn_join_tw, spawn_join_base,
         std::nullopt, std::nullopt, better::lower},
        {"foreign_sync_call", "ns", "asio::post to a 1-thread io_context + std::promise/future", false, foreign_sync_call_tw,
         foreign_sync_call_base, 1.2, std::nullopt, better::lower},
        {"rss_per_parked_fiber_10k", "KiB", "asio::spawn coroutines parked on steady_timer", true, rss_tw, rss_base,
         std::nullopt, std::nullopt, better::lower},
        {"parked_fibers_100k", "fibers", "asio::spawn coroutines (128 KiB fixedsize_stack)", true, parked_tw_count,
         parked_base_count, std::nullopt, 100'000.0, better::higher},
        {"idle_cpu_10k_parked", "ms/s", "asio::spawn coroutines parked on steady_timer", true, idle_tw, idle_base,
         std::nullopt, std::nullopt, better::lower},
    };
    return defs;
}

const figure_def* find_figure(const std::string& name) {
    for (auto& f : figures())
        if (name == f.name) return &f;
    return nullptr;
}

}  // namespace tw::cli::bench
