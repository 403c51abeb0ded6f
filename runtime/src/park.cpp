// park: the one way a fiber or a plain thread blocks on a tw primitive.
#include <tw/detail/park.hpp>

#include "worker.hpp"

namespace tw::detail {

namespace {
// Wakes the parked context when cancellation or a deadline cuts the wait short.
struct waker_point final : wait_point {
    boost::fibers::waker waker;
    void interrupt() noexcept override { waker.wake(); }
};
}  // namespace

void park(spinlock_lock& lk, waiter& w, clock::time_point until, const char* what) noexcept {
    auto* ctx = boost::fibers::context::active();
    if (until == clock::time_point::max() && ctx->is_context(boost::fibers::type::main_context) && !current_worker()) {
        // A plain thread: nothing else can run on it while it waits.
        std::atomic<bool> flag{false};
        w.thread_flag = &flag;
        lk.unlock();
        flag.wait(false, std::memory_order_acquire);
        return;
    }
    eh_stash eh;
    w.waker = ctx->create_waker();
    fiber_state* fs = current_fiber();
    waker_point wp;
    wp.waker = w.waker;
    if (fs) fs->begin_wait(wp, what);
    if (until == clock::time_point::max())
        ctx->suspend(lk);
    else
        ctx->wait_until(until, lk, boost::fibers::waker(w.waker));
    if (fs) fs->end_wait();
}

}  // namespace tw::detail
