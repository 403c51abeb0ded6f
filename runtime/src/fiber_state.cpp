#include <tw/deadline.hpp>
#include <tw/detail/fiber_state.hpp>
#include <tw/detail/task_base.hpp>
#include <tw/errors.hpp>

#include <thread>

#include <time.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/fiber/operations.hpp>

#include <tw/yield.hpp>

#include "worker.hpp"

namespace tw::detail {

fiber_state::fiber_state(boost::fibers::context* ctx, worker& home, task_base& task) noexcept
    : boost::fibers::fiber_properties(ctx), ctx_(ctx), signals_(&home.signals()), home_(home), task_(task) {}

fiber_state::~fiber_state() = default;

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
    if (deadline_ != clock::time_point::max() && (timed_out_ || clock::now() >= deadline_)) {
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
    return static_cast<fiber_state*>(boost::fibers::context::active()->get_properties());
}

void yield_core::resume_parked() noexcept {
    // From here the fiber does not touch *this until resumed, and nothing
    // else resumes it, so `c` stays valid even though *this may not.
    auto* c = ctx;
    auto& sig = fs->signals();
    if (t_worker_signals == &sig && sig.idle.load(std::memory_order_relaxed)) {
        // The usual case: a handler run by io_scheduler::suspend_until on
        // the fiber's own thread, from its dispatcher. Switch to the fiber
        // now; passing the dispatcher puts it back in the ready queue (as
        // Boost.Fiber's own loop does), and the switch back returns here.
        sig.count_switch();
        sig.idle.store(false, std::memory_order_relaxed);
        sig.running.store(fs, std::memory_order_relaxed);
        c->resume(sig.dispatcher);
        sig.running.store(nullptr, std::memory_order_relaxed);
        sig.idle.store(true, std::memory_order_relaxed);
        // If it went on into a timed wait of Boost.Fiber's (its sleep
        // queue), only the dispatcher's loop arms a timer for it.
        if (c->sleep_is_linked()) wake_dispatcher(*sig.owner);
    } else {
        // Another thread, a fiber, or a host's handler in guest mode: queue it.
        boost::fibers::context::active()->schedule(c);
    }
}

void yield_core::suspend_parked(const char* what) {
    fs->begin_wait(*this, what);
    {
        eh_stash eh;
        ctx->suspend();
    }
    fs->end_wait();
}

fiber_state& yield_fiber() {
    auto* fs = current_fiber();
    if (!fs)
        throw usage_error("tw::yield used outside a tw fiber: run the code with tw::run or tw::spawn, "
                          "or use another completion token here");
    return *fs;
}

}  // namespace tw::detail

namespace tw {

namespace {
// A plain thread's deadline (deadline_scope outside a fiber): fibers that
// tw::run or tw::spawn start from the thread inherit it.
thread_local clock::time_point t_thread_deadline = clock::time_point::max();
}  // namespace

deadline_scope::deadline_scope(clock::time_point until) : fs_(detail::current_fiber()) {
    if (!fs_) {
        saved_ = t_thread_deadline;
        in_force_ = std::min(saved_, until);
        t_thread_deadline = in_force_;
        return;
    }
    saved_ = fs_->deadline();
    in_force_ = saved_;
    if (until < saved_) fs_->set_deadline(in_force_ = until);
}

deadline_scope::~deadline_scope() {
    if (!fs_)
        t_thread_deadline = saved_;
    else if (fs_->deadline() != saved_)
        fs_->set_deadline(saved_);
}

cancellation_shield::cancellation_shield() : fs_(detail::current_fiber()) {
    if (fs_) fs_->push_shield();
}

cancellation_shield::~cancellation_shield() {
    if (fs_) fs_->pop_shield();
}

clock::time_point current_deadline() noexcept {
    auto* fs = detail::current_fiber();
    return fs ? fs->deadline() : t_thread_deadline;
}

void sleep_until(clock::time_point tp) {
    auto* fs = detail::current_fiber();
    if (!fs) {
        detail::check_blocking_allowed("tw::sleep_until");
        if (tp > t_thread_deadline) {
            std::this_thread::sleep_until(t_thread_deadline);
            throw timeout_error("deadline passed");
        }
        std::this_thread::sleep_until(tp);
        return;
    }
    boost::asio::steady_timer t(fs->home().io(), tp);
    t.async_wait(tw::yield);
}

void check_cancelled() {
    if (auto* fs = detail::current_fiber()) fs->check();
}

namespace this_fiber {
void yield() {
    auto* fs = detail::current_fiber();
    if (fs) fs->check();
    detail::eh_stash eh;
    boost::this_fiber::yield();
}
std::string_view name() noexcept {
    auto* fs = detail::current_fiber();
    return fs ? std::string_view(fs->name()) : std::string_view();
}
boost::asio::io_context::executor_type executor() {
    auto* fs = detail::current_fiber();
    if (!fs)
        throw usage_error("tw::this_fiber::executor() called outside a tw fiber: use tw::runtime::executor(i) "
                          "on plain threads and in handlers");
    return fs->home().io().get_executor();
}
}  // namespace this_fiber

}  // namespace tw
