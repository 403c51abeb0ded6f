// io_scheduler: see worker.hpp for why this design avoids the known defects of
// Boost.Fiber's Asio example.
#include "worker.hpp"

namespace tw::detail {

void io_scheduler::awakened(boost::fibers::context* ctx) noexcept {
    ctx->ready_link(rqueue_);
    ++ready_count_;
    // Only a worker fiber becoming ready needs the host's loop to pump; the
    // dispatcher and the host's own main context are queued on every round.
    if (w_.guest_ && ctx->is_context(boost::fibers::type::worker_context)) w_.request_pump();
}

boost::fibers::context* io_scheduler::pick_next() noexcept {
    if (rqueue_.empty()) return nullptr;
    auto* active = boost::fibers::context::active();
    if (!w_.guest_ && picks_since_poll_ >= k_poll_every && active->is_context(boost::fibers::type::dispatcher_context)) {
        // The dispatcher's turn in a busy round: let suspend_until poll I/O
        // (without blocking, since fibers are ready) before anyone else runs.
        return nullptr;
    }
    if (w_.stall_flag_.load(std::memory_order_relaxed)) w_.report_stall(active);
    auto* ctx = &rqueue_.front();
    rqueue_.pop_front();
    --ready_count_;
    ++picks_since_poll_;
    // Only this thread writes the counters; relaxed stores keep them cheap
    // while other threads may read them for counters() and the watchdog.
    w_.switches_.store(w_.switches_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    w_.ready_.store(ready_count_, std::memory_order_relaxed);
    return ctx;
}

void io_scheduler::poll_batch() noexcept {
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
    w_.sleeping_.store(true, std::memory_order_relaxed);
    w_.io_.run_one();  // sleeps in epoll until I/O, the timer or a post
    w_.sleeping_.store(false, std::memory_order_relaxed);
    poll_batch();
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
    } else
        boost::asio::post(w_.io_, [] {});
}

}  // namespace tw::detail
