// yield_core's fiber switches, out of line so that code compiled against
// <tw/yield.hpp> (a plugin's included) never calls Boost.Fiber itself.
#include <tw/yield.hpp>

#include <boost/fiber/context.hpp>

#include "worker.hpp"

namespace tw::detail {

void yield_core::resume_parked() noexcept {
    // From here the fiber does not touch *this until resumed, and nothing
    // else resumes it, so `c` stays valid even though *this may not.
    auto* c = ctx;
    auto& sig = fs->signals();
    if (sig.can_resume_inline()) {
        // The usual case: a handler run by io_scheduler::suspend_until on
        // the fiber's own thread, from its dispatcher.
        sig.resume_inline(c, fs);
    } else {
        // Another thread, a fiber, or a host's handler in guest mode: queue it.
        boost::fibers::context::active()->schedule(c);
    }
}

void yield_core::resume_here() noexcept { fs->signals().resume_inline(ctx, fs); }

void worker_signals::resume_inline(boost::fibers::context* c, fiber_state* fs) noexcept {
    // Switch to the fiber now; passing the dispatcher puts it back in the
    // ready queue (as Boost.Fiber's own loop does), and the switch back
    // returns here.
    count_switch();
    idle.store(false, std::memory_order_relaxed);
    running.store(fs, std::memory_order_relaxed);
    c->resume(dispatcher);
    running.store(nullptr, std::memory_order_relaxed);
    idle.store(true, std::memory_order_relaxed);
    // If it went on into a timed wait of Boost.Fiber's (its sleep queue),
    // only the dispatcher's loop arms a timer for it.
    if (c->sleep_is_linked()) wake_dispatcher(*owner);
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
