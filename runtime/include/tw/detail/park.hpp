#pragma once
// tw::detail::waiter / park: the one way a fiber or a plain thread blocks on a
// tw primitive (task, semaphore, event). A waiter is woken exactly once —
// by the primitive, by cancellation, or by its time limit — through Boost.Fiber's
// epoch-checked waker, so racing wake-ups from several threads are harmless.

#include <atomic>
#include <chrono>

#include <boost/fiber/context.hpp>
#include <boost/fiber/detail/spinlock.hpp>
#include <boost/fiber/waker.hpp>
#include <boost/intrusive/list.hpp>

#include <tw/detail/fiber_state.hpp>

namespace tw::detail {

using spinlock = boost::fibers::detail::spinlock;
using spinlock_lock = boost::fibers::detail::spinlock_lock;

struct waiter : boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::safe_link>> {
    boost::fibers::waker waker;
    // A plain thread that blocks without a time limit waits on this flag (a
    // futex) instead of through Boost.Fiber's per-thread scheduler: half the
    // system calls for a foreign thread's synchronous call.
    std::atomic<bool>* thread_flag = nullptr;
    bool notified = false;  // set by the primitive, under its lock, before waking
};

using waiter_list = boost::intrusive::list<waiter, boost::intrusive::constant_time_size<false>>;

// Park the calling context until w is notified, it is interrupted, or `until`
// passes. `lk` (the primitive's lock) is held on entry and released on return;
// w must already be linked into the primitive's list. On return the caller
// re-locks, unlinks w if it is still linked, and looks at w.notified.
// `what` is shown in the fiber dump.
void park(spinlock_lock& lk, waiter& w, clock::time_point until, const char* what) noexcept;

// Wake one waiter (caller holds the primitive's lock and has unlinked it).
inline void notify(waiter& w) noexcept {
    w.notified = true;
    if (w.thread_flag) {
        // The waiter re-takes the primitive's lock (held by our caller) before
        // it leaves, so the flag on its stack outlives notify_one.
        w.thread_flag->store(true, std::memory_order_release);
        w.thread_flag->notify_one();
    } else {
        w.waker.wake();
    }
}

}  // namespace tw::detail
