#pragma once
// tw::detail::io_scheduler: the Boost.Fiber scheduling algorithm of a worker
// (scheduler.cpp), the one place where Boost.Fiber's loop meets Asio's.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

#include <boost/fiber/algo/algorithm.hpp>
#include <boost/fiber/context.hpp>
#include <boost/fiber/scheduler.hpp>

namespace tw::detail {

class worker;

// The Boost.Fiber scheduling algorithm of a worker: FIFO ready queue; when
// nothing is ready the thread sleeps in the io_context (epoll) until I/O, the
// worker's timer or a cross-thread post arrives.
//
// Why this does not have the defects of Boost.Fiber's Asio example:
// * Idle costs nothing: suspend_until blocks in io_context::run_one(); the
//   work guard keeps run_one from returning early, and there is no periodic
//   timer. Timed waits arm one steady_timer, and only when the earliest
//   wake-up moves earlier (a later one is picked up when the timer fires).
// * notify() only posts to the io_context, which is thread-safe; Boost.Fiber
//   calls it after putting a context on the remote-ready queue, and the
//   dispatcher moves that queue into ours on its next pass.
// * Busy fibers cannot starve I/O: Boost.Fiber puts the dispatcher itself
//   into the ready queue whenever it resumes a fiber, so it gets a turn every
//   round; on that turn, if k_poll_every resumptions have passed since I/O was
//   last polled, pick_next returns nullptr once so that suspend_until runs a
//   non-blocking poll before the ready fibers continue.
class io_scheduler final : public boost::fibers::algo::algorithm {
public:
    explicit io_scheduler(worker& w) noexcept : w_(w) {}

    void awakened(boost::fibers::context* ctx) noexcept override;
    boost::fibers::context* pick_next() noexcept override;
    bool has_ready_fibers() const noexcept override { return !rqueue_.empty(); }
    void suspend_until(std::chrono::steady_clock::time_point const& tp) noexcept override;
    void notify() noexcept override;

    std::size_t ready() const noexcept { return ready_count_; }

    static constexpr std::size_t k_poll_every = 64;
    static constexpr std::size_t k_poll_batch = 256;

private:
    boost::fibers::context* dispatcher_next() noexcept;  // pick_next's "nothing ready": the dispatcher runs
    void poll_batch() noexcept;

    worker& w_;
    boost::fibers::scheduler::ready_queue_type rqueue_;
    std::size_t ready_count_ = 0;
    std::size_t picks_since_poll_ = 0;
    std::mutex guest_mtx_;  // guest mode only, see suspend_until
    std::condition_variable guest_cv_;
    bool guest_flag_ = false;
};

}  // namespace tw::detail
