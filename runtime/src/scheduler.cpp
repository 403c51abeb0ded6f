// io_scheduler: see worker.hpp for why this design avoids the known defects of
// Boost.Fiber's Asio example.
#include "worker.hpp"

namespace tw::detail {

void io_scheduler::awakened(boost::fibers::context* ctx) noexcept {
    ctx->ready_link(rqueue_);
    ++ready_count_;
    // A fiber became ready while the dispatcher sits in io_context::run()
    // (an inline-resumed fiber woke it): Boost.Fiber's loop must pick it. The
    // dispatcher itself is queued on every inline resume; that needs nothing.
    if (w_.in_run_ && !ctx->is_context(boost::fibers::type::dispatcher_context)) w_.wake_dispatcher();
    // Only a worker fiber becoming ready needs the host's loop to pump; the
    // dispatcher and the host's own main context are queued on every round.
    if (w_.guest_ && ctx->is_context(boost::fibers::type::worker_context)) w_.request_pump();
}

boost::fibers::context* io_scheduler::pick_next() noexcept {
    // Boost.Fiber resumes what this returns at once, and its dispatcher when
    // it returns nullptr: `running` is therefore the context about to run on
    // this thread, which current_fiber() reads instead of asking Boost.Fiber.
    if (rqueue_.empty()) return dispatcher_next();
    // in_run_: a fiber resumed inline from a completion is suspending, so the
    // dispatcher sits in io_context::run() and I/O is being polled right now;
    // the check below cannot apply (the caller is not the dispatcher) and is
    // skipped without asking for the active context (a thread-local look-up
    // per suspension).
    if (w_.in_run_) {
        picks_since_poll_ = 0;
    } else if (picks_since_poll_ >= k_poll_every && !w_.guest_ &&
               boost::fibers::context::active()->is_context(boost::fibers::type::dispatcher_context)) {
        // The dispatcher's turn in a busy round: let suspend_until poll I/O
        // (without blocking, since fibers are ready) before anyone else runs.
        return dispatcher_next();
    }
    auto* ctx = &rqueue_.front();
    rqueue_.pop_front();
    --ready_count_;
    ++picks_since_poll_;
    // Only this thread writes the counters; relaxed stores keep them cheap
    // while other threads may read them for counters() and the watchdog.
    w_.signals_.count_switch();
    w_.signals_.running.store(static_cast<fiber_state*>(ctx->get_properties()), std::memory_order_relaxed);
    w_.ready_.store(ready_count_, std::memory_order_relaxed);
    return ctx;
}

boost::fibers::context* io_scheduler::dispatcher_next() noexcept {
    w_.signals_.running.store(nullptr, std::memory_order_relaxed);
    return nullptr;
}

void io_scheduler::poll_batch() noexcept {
    // A wake-up may have stopped the io_context (worker::wake_dispatcher);
    // a stopped io_context polls nothing.
    w_.io_.restart();
    // Bounded: handlers that post handlers must not keep the dispatcher from
    // its other duties (remote-ready and sleeping fibers).
    for (std::size_t i = 0; i < k_poll_batch; ++i)
        if (w_.io_.poll_one() == 0) break;
}

void io_scheduler::suspend_until(std::chrono::steady_clock::time_point const& tp) noexcept {
    picks_since_poll_ = 0;
    if (tp != std::chrono::steady_clock::time_point::max()) w_.arm_timer(tp);
    if (w_.guest_) {
        // Inside a pump the host's main context is always ready, so this is
        // reached with an empty queue only when the host thread itself blocks
        // outside its loop (waiting for another runtime's task): sleep like
        // Boost's round_robin. Otherwise return: the host's loop calls back
        // through the pump when there is something to do.
        if (rqueue_.empty()) {
            std::unique_lock lk(guest_mtx_);
            guest_cv_.wait_until(lk, tp, [this] { return guest_flag_; });
            guest_flag_ = false;
        }
        return;
    }
    if (!rqueue_.empty()) {
        poll_batch();
        return;
    }
    // Run the io_context until Boost.Fiber's own loop has work: a ready fiber,
    // a remote wake-up (notify), a timed wait that is due (the timer) or a
    // finished fiber to free — each of those calls worker::wake_dispatcher,
    // which stops run(). Most handlers resume their fiber inline
    // (yield_core::finish), so an I/O completion costs one switch into the
    // fiber and one back, like a plain Asio coroutine: none of the
    // dispatcher's bookkeeping runs per completion, and Asio keeps one
    // thread_info (and its recycled handler memory) for the whole run.
    w_.signals_.dispatcher = boost::fibers::context::active();
    w_.signals_.idle.store(true, std::memory_order_relaxed);
    w_.io_.restart();
    w_.stop_pending_ = false;
    w_.in_run_ = true;
    w_.io_.run();
    w_.in_run_ = false;
    w_.signals_.idle.store(false, std::memory_order_relaxed);
    w_.ready_.store(ready_count_, std::memory_order_relaxed);
}

void io_scheduler::notify() noexcept {
    // May be called from any thread: post is the thread-safe way to end run_one.
    if (w_.guest_) {
        {
            std::lock_guard lk(guest_mtx_);
            guest_flag_ = true;
        }
        guest_cv_.notify_all();
        w_.request_pump();
    } else {
        boost::asio::post(w_.io_, [w = &w_] { w->wake_dispatcher(); });
    }
}

}  // namespace tw::detail
