#pragma once
// tw::detail::worker: one thread's io_context, Boost.Fiber scheduler algorithm,
// stack pool, deadline timer and fiber registry. The only place where Asio and
// Boost.Fiber scheduling meet.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/fiber/algo/algorithm.hpp>
#include <boost/fiber/context.hpp>
#include <boost/fiber/scheduler.hpp>
#include <boost/intrusive/list.hpp>
#include <boost/intrusive/set.hpp>

#include <tw/detail/fiber_state.hpp>
#include <tw/detail/task_base.hpp>

#include "scheduler.hpp"
#include "stack_pool.hpp"

namespace tw::detail {

class worker;

// A guest's fibers live in the Boost.Fiber scheduler of the one host thread
// that installed it; a handler of theirs run by another thread (a host
// io_context run by several threads) would resume them on that thread's
// scheduler and corrupt both, or hang. So a guest's handler that finds itself
// on another thread re-posts itself for the right one and throws
// usage_error, which leaves that thread's io_context::run() with the message:
// failing loudly instead of hanging silently.
template <class F>
struct guest_handler {
    worker* w;
    F f;
    void operator()();
};

class worker {
public:
    worker(runtime_impl& rt, std::size_t index, boost::asio::io_context* host);
    ~worker();
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    // Owned: start the thread and wait until it runs. Guest: install the
    // scheduler on the calling (host) thread.
    void start();
    // Ask the thread to finish once its fibers are gone; join it (owned) if
    // it ends by `deadline`, else detach it and return false: the thread still
    // uses this worker, which the caller must then leak.
    bool stop_and_join(std::chrono::steady_clock::time_point deadline);

    // Runs f as a handler of the worker's loop. A guest's handlers check that
    // the host runs its loop on the guest's thread (see guest_handler).
    template <class F>
    void post(F&& f) {
        if (guest_)
            boost::asio::post(io_, guest_handler<std::decay_t<F>>{this, std::forward<F>(f)});
        else
            boost::asio::post(io_, std::forward<F>(f));
    }
    // Guest: whether the calling thread is the one the guest was installed on.
    bool on_host_thread() const noexcept { return std::this_thread::get_id() == host_thread_; }
    // Guest, on a wrong thread: throws the usage_error that says so.
    [[noreturn]] void wrong_host_thread() const;
    bool on_this_thread() const noexcept { return current_worker() == this; }
    boost::asio::io_context& io() noexcept { return io_; }
    runtime_impl& rt() noexcept { return rt_; }
    std::size_t index() const noexcept { return index_; }
    bool guest() const noexcept { return guest_; }

    // Home thread only.
    void start_fiber(task_base* t, spawn_params p, fiber_state* parent);
    void fiber_exited(fiber_state& fs) noexcept;
    void cancel_all(const std::string& reason) noexcept;
    // A fiber with a deadline starts waiting: watch it until end_wait.
    void timed_wait_begins(fiber_state& fs) noexcept;
    void arm_timer(clock::time_point tp) noexcept;
    // Makes io_scheduler::suspend_until return to Boost.Fiber's loop: it has
    // work (a ready, remote-ready, due or finished fiber). Stops that run()
    // once: io_context::stop() takes Asio's scheduler mutex, and a fiber that
    // wakes a thousand others (a semaphore released for all of them) would
    // take it a thousand times.
    void wake_dispatcher() noexcept {
        if (in_run_ && !stop_pending_) {
            stop_pending_ = true;
            io_.stop();
        }
    }
    worker_signals& signals() noexcept { return signals_; }
    void collect(std::vector<struct fiber_snapshot>& out) const;

    // Any thread.
    std::size_t live() const noexcept { return live_.load(std::memory_order_acquire); }
    void add_live() noexcept { live_.fetch_add(1, std::memory_order_relaxed); }
    void fiber_start_failed() noexcept;
    std::size_t switches() const noexcept { return signals_.switches.load(std::memory_order_relaxed); }
    std::size_t ready() const noexcept { return ready_.load(std::memory_order_relaxed); }
    bool sleeping() const noexcept { return signals_.idle.load(std::memory_order_relaxed); }
    stack_pool& stacks() noexcept { return *stacks_; }
    std::size_t pooled_stacks() const noexcept { return stacks_ ? stacks_->pooled() : 0; }
    std::size_t guarded_stacks() const noexcept { return guarded_.load(std::memory_order_relaxed); }
    // Any thread: whether a fiber runs now (a hint; the watchdog confirms with
    // describe_running).
    bool fiber_running() const noexcept { return signals_.running.load(std::memory_order_relaxed) != nullptr; }
    // Any thread: what this worker's thread runs now, or nullopt if it has
    // switched since `switches_seen` was read.
    struct running_fiber {
        bool any = false;  // false: no fiber (the scheduler, or an Asio handler)
        std::string name;
    };
    std::optional<running_fiber> describe_running(std::size_t switches_seen) const;
    // Watchdog thread: since when the worker's loop has not turned, if it is
    // blocked past the watchdog's threshold (time_point::max(): it is not).
    // `switches`: the count the watchdog saw; once the worker has switched
    // since, the mark is stale even before the watchdog's next look clears it.
    void set_blocked_since(clock::time_point tp, std::size_t switches = 0) noexcept {
        blocked_switches_.store(switches, std::memory_order_relaxed);
        blocked_since_.store(tp.time_since_epoch().count(), std::memory_order_relaxed);
    }
    clock::time_point blocked_since() const noexcept {
        const auto tp = clock::time_point(clock::duration(blocked_since_.load(std::memory_order_relaxed)));
        if (tp == clock::time_point::max() || blocked_switches_.load(std::memory_order_relaxed) != switches())
            return clock::time_point::max();
        return tp;
    }

private:
    friend class io_scheduler;
    void thread_main();
    void install();
    void uninstall() noexcept;
    void on_timer() noexcept;
    void guest_pump() noexcept;
    void request_pump() noexcept;

    runtime_impl& rt_;
    std::size_t index_;
    bool guest_;
    std::optional<boost::asio::io_context> own_io_;
    boost::asio::io_context& io_;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
    std::optional<boost::asio::steady_timer> timer_;
    clock::time_point armed_at_ = clock::time_point::max();
    std::thread thread_;
    std::mutex exited_mtx_;  // owned: the thread signals its end for stop_and_join
    std::condition_variable exited_cv_;
    bool exited_ = false;
    boost::fibers::context* main_ctx_ = nullptr;
    bool stop_main_ = false;
    io_scheduler* algo_ = nullptr;
    std::optional<stack_pool> stacks_;
    std::atomic<bool> pump_posted_{false};
    mutable std::mutex exit_mtx_;  // a fiber's exit against the watchdog reading its name

    boost::intrusive::list<fiber_state, boost::intrusive::base_hook<list_hook>, boost::intrusive::constant_time_size<false>> fibers_;
    // Fibers that waited under a deadline, unsorted: a fiber is linked at its
    // first such wait and stays linked after it (a query with a 5 s timeout
    // waits twice in microseconds; linking and unlinking each time wrote to
    // neighbouring fibers' states). The timer is armed for the earliest
    // deadline at every wait, and when it fires one pass interrupts the due
    // waiters, drops the entries that no longer need watching and finds the
    // next.
    boost::intrusive::list<fiber_state, boost::intrusive::base_hook<deadline_hook>, boost::intrusive::constant_time_size<false>>
        timed_waiters_;

    std::atomic<std::size_t> live_{0};
    worker_signals signals_;
    std::atomic<std::size_t> ready_{0};
    std::atomic<std::size_t> guarded_{0};
    bool in_run_ = false;  // home thread: inside io_scheduler::suspend_until's io_context::run()
    bool stop_pending_ = false;  // home thread: wake_dispatcher() has stopped that run()
    std::thread::id host_thread_;  // guest: the thread that runs the host's loop
    std::atomic<clock::rep> blocked_since_{clock::time_point::max().time_since_epoch().count()};
    std::atomic<std::size_t> blocked_switches_{0};
};

template <class F>
void guest_handler<F>::operator()() {
    if (!w->on_host_thread()) {
        worker* home = w;
        boost::asio::post(home->io(), std::move(*this));
        home->wrong_host_thread();
    }
    f();
}

// What dump() reports of one fiber, captured on its home thread.
struct fiber_snapshot {
    std::string name;
    std::size_t worker;
    bool running;
    bool ready;
    const char* wait_what;
    clock::time_point wait_since;
    clock::time_point started;
    clock::time_point deadline;
    bool cancel_requested;
};

}  // namespace tw::detail
