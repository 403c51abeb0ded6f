#include <tw/detail/fiber_state.hpp>

#include <time.h>

#include <tw/detail/task_base.hpp>
#include <tw/errors.hpp>

#include "worker.hpp"

namespace tw::detail {

fiber_state::fiber_state(boost::fibers::context* ctx, worker& home, task_base& task) noexcept
    : boost::fibers::fiber_properties(ctx), ctx_(ctx), signals_(&home.signals()), home_(home), task_(task) {}

fiber_state::~fiber_state() = default;

namespace {
bool passed(clock::time_point deadline) noexcept {
    // The coarse clock trails steady_clock by at most a tick (1-10 ms) and is
    // read without the TSC: a deadline further than k_coarse_slack from it
    // has not passed. Only a nearer one costs a precise reading; a driver's
    // round trip checks its deadline twice, each time seconds away. Were the
    // coarse clock ever further behind (a tickless CPU), the wait the check
    // guards arms the deadline's timer, which fires at once: the fiber still
    // ends with timeout_error, one wait later.
    constexpr auto k_coarse_slack = std::chrono::milliseconds(50);
    if (deadline - fiber_state::coarse_now() > k_coarse_slack) return false;
    return clock::now() >= deadline;
}
}  // namespace

void fiber_state::check_slow() {
    // A shield defers cancellation and moves the outer deadline aside (see
    // push_shield), so while shielded deadline_ is one set inside the shield,
    // which still applies: cleanup must not hang either.
    if (defer_depth_ == 0 && cancel_requested_.load(std::memory_order_acquire)) {
        std::string r;
        {
            std::lock_guard lk(reason_mtx_);
            r = reason_;
        }
        throw cancelled_error(r.empty() ? std::string("cancelled") : r);
    }
    if (deadline_ != clock::time_point::max() && (timed_out_ || passed(deadline_))) {
        timed_out_ = true;
        throw timeout_error("deadline passed" + (name().empty() ? std::string() : " in fiber '" + name() + "'"));
    }
}

void fiber_state::check_aborted() { check(); }

void fiber_state::interrupt() noexcept {
    // timed_out_: a deadline set inside a shield fired (the outer one is moved
    // aside while shielded), which interrupts even a shielded wait.
    if ((defer_depth_ == 0 || timed_out_) && waiting_on_) waiting_on_->interrupt();
}

void fiber_state::request_cancel(const std::string& reason) noexcept {
    std::lock_guard lk(reason_mtx_);
    if (cancel_requested_.load(std::memory_order_acquire)) return;
    try {
        reason_ = reason;
    } catch (...) {
    }
    cancel_requested_.store(true, std::memory_order_release);
}

void fiber_state::cancel(const std::string& reason) noexcept {
    request_cancel(reason);
    interrupt();
    for (auto& c : children_) c.cancel(reason);
}

void fiber_state::set_deadline(clock::time_point tp) noexcept {
    deadline_ = tp;
    timed_out_ = false;
    // Nothing to tell the worker: a deadline matters only while the fiber
    // waits, and begin_wait registers it then.
}

void fiber_state::timed_wait_begins() noexcept { home_.timed_wait_begins(*this); }

clock::time_point fiber_state::coarse_now() noexcept {
    // CLOCK_MONOTONIC_COARSE is the same clock as steady_clock on Linux, read
    // without the TSC: good to a few milliseconds, which is all a dump needs.
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

void fiber_state::push_shield() noexcept {
    if (defer_depth_++ == 0) {
        deferred_deadline_ = deadline_;
        set_deadline(clock::time_point::max());
    }
}

void fiber_state::pop_shield() noexcept {
    if (--defer_depth_ == 0) set_deadline(deferred_deadline_);
}

fiber_state* current_fiber() noexcept {
    // What the worker's scheduler is running (io_scheduler::pick_next and
    // worker_signals::resume_inline set it at every switch on their thread),
    // not context::active()->get_properties(): Boost.Fiber's active() is an
    // out-of-line call with a thread_local initialisation guard, and a round
    // trip of a driver asks four times (docs/BENCHMARKS.md, "Sixth run").
    // A thread that is no worker's runs no tw fiber.
    auto* s = t_worker_signals;
    return s ? s->running.load(std::memory_order_relaxed) : nullptr;
}

}  // namespace tw::detail

