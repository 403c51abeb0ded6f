#pragma once
// tw::detail::runtime_impl: the workers of one runtime, its shutdown state and
// its supervision (unhandled errors, warnings, the slow-fiber watchdog).

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <tw/runtime.hpp>

#include "stack_overflow.hpp"
#include "worker.hpp"

namespace tw::detail {

// A worker whose loop did not answer: who holds it, for how long.
struct blocked_worker {
    std::size_t worker = 0;
    clock::duration for_{};
    worker::running_fiber fiber;
    // "worker 0 blocked for 5.0 s in fiber 'x'"
    std::string text() const;
};

class runtime_impl {
public:
    runtime_impl(runtime_options opts, boost::asio::io_context* host);
    ~runtime_impl();

    bool shutdown(const std::string& reason);
    bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }

    worker& pick_worker() noexcept;
    worker& worker_at(std::size_t i) const noexcept { return *workers_[i]; }
    std::size_t worker_count() const noexcept { return workers_.size(); }
    const runtime_options& options() const noexcept { return opts_; }

    void warn(std::string_view msg) const noexcept;
    void unhandled(std::string_view fiber, std::exception_ptr e) const noexcept;
    void fiber_count_changed() noexcept;  // a worker's live count reached zero

    std::atomic<std::ptrdiff_t> guarded_left;
    std::atomic<bool> guard_warned{false};

    runtime* self() const noexcept { return self_; }
    void set_self(runtime* r) noexcept { self_ = r; }

    // How long counters() and dump() wait for a worker's loop to answer
    // before they report it blocked; shutdown's look at stragglers is shorter.
    static constexpr std::chrono::milliseconds k_probe_wait{1000};
    static constexpr std::chrono::milliseconds k_shutdown_probe{100};

    runtime_counters counters() const;
    struct snapshot_result {
        std::vector<fiber_snapshot> fibers;
        std::vector<blocked_worker> blocked;  // workers that did not answer within `wait`
    };
    snapshot_result snapshot(clock::duration wait) const;

private:
    void watchdog_main();
    blocked_worker describe_unanswered(worker& w, std::size_t switches_seen, clock::time_point asked) const;
    clock::time_point probe_until(const worker& w, clock::duration wait) const;

    runtime* self_ = nullptr;
    runtime_options opts_;
    boost::asio::io_context* host_;
    std::vector<std::unique_ptr<worker>> workers_;
    std::atomic<std::size_t> next_{0};
    std::atomic<bool> stopping_{false};
    bool shut_down_ = false;
    std::mutex mtx_;
    std::condition_variable idle_cv_;
    std::thread watchdog_;
    std::mutex watchdog_mtx_;
    std::condition_variable watchdog_cv_;
    bool watchdog_stop_ = false;
};

void set_current_worker(worker* w) noexcept;
// True once std::exit() runs inside a worker's loop (see exit_guard in
// worker.cpp): runtimes destroyed from then on are left to the ending process.
bool exiting_inside_loop() noexcept;

}  // namespace tw::detail
