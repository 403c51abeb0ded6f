#pragma once
// tw::detail::fiber_state: what the runtime knows about one of its fibers —
// name, deadline, cancellation, what it is blocked on — reachable in O(1) from
// the running fiber through its worker's `running` pointer (current_fiber).
//
// Thread safety: every member except cancel_requested_ and the reason is
// touched only by the fiber's home worker thread. Cancellation from another
// thread raises the flag at once (request_cancel, so a fiber computing without
// suspending sees it in check_cancelled) and posts the interrupt of its wait
// and its children to the home thread (see task_base::cancel).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

#include <boost/asio/cancellation_signal.hpp>
#include <boost/fiber/context.hpp>
#include <boost/fiber/properties.hpp>
#include <boost/intrusive/list.hpp>
#include <boost/intrusive/set.hpp>

#include <tw/deadline.hpp>

namespace boost::asio {
class io_context;
}

namespace tw::detail {

class worker;
class task_base;
class fiber_state;

// What a worker publishes for its watchdog and counters; written only by the
// worker's thread (relaxed stores), read from anywhere.
struct worker_signals {
    std::atomic<std::size_t> switches{0};  // fibers resumed, by the dispatcher or inline
    // The fiber running now (nullptr: the dispatcher or the thread's main
    // context): what current_fiber() returns on this thread, set at every
    // switch (io_scheduler::pick_next, resume_inline) and cleared once a fiber
    // has exited. Also names a fiber that blocks its thread for the watchdog,
    // which reads it only under worker::exit_mtx_; a fiber takes that lock to
    // exit (worker::fiber_exited), so a pointer read there is never dangling.
    std::atomic<fiber_state*> running{nullptr};
    // True while the worker's dispatcher context runs the io_context and no
    // fiber runs, i.e. exactly while a handler may resume a fiber inline.
    std::atomic<bool> idle{false};
    boost::fibers::context* dispatcher = nullptr;  // the worker's dispatcher context
    boost::asio::io_context* io = nullptr;         // the worker's loop (its host's, for a guest)

    void count_switch() noexcept { switches.store(switches.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
    worker* owner = nullptr;

    // Whether the caller is a handler run by this worker's dispatcher, on its
    // thread, with no fiber running: then a fiber can be resumed right here.
    bool can_resume_inline() const noexcept;
    // Runs fiber c (state fs) until it suspends, from such a handler.
    void resume_inline(boost::fibers::context* c, fiber_state* fs) noexcept;
};

// Something a fiber is parked on that cancellation or a deadline can cut
// short. interrupt() runs on the fiber's home thread.
class wait_point {
public:
    virtual void interrupt() noexcept = 0;

protected:
    ~wait_point() = default;
};

using list_hook = boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;
struct deadline_tag;
using deadline_hook = boost::intrusive::list_base_hook<boost::intrusive::tag<deadline_tag>,
                                                      boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;
struct child_tag;
using child_hook = boost::intrusive::list_base_hook<boost::intrusive::tag<child_tag>,
                                                    boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

class fiber_state final : public boost::fibers::fiber_properties, public list_hook, public deadline_hook, public child_hook {
public:
    fiber_state(boost::fibers::context* ctx, worker& home, task_base& task) noexcept;
    ~fiber_state() override;

    // Boost.Fiber deletes properties when it replaces them; our storage belongs to
    // the task, which ends the fiber_state's life itself (see task_base).
    static void operator delete(void*) noexcept {}

    // Throws cancelled_error or timeout_error if this fiber must stop at a wait
    // point now. Called before and after every blocking operation.
    void check() {
        // Inline fast path: the usual fiber is neither cancelled nor under a deadline.
        if (!cancel_requested_.load(std::memory_order_acquire) && deadline_ == clock::time_point::max()) return;
        check_slow();
    }
    // Same, but for an operation that completed with operation_aborted: returns
    // normally if the abort was not caused by this fiber's cancellation.
    void check_aborted();

    // Called on the home thread: cut short whatever the fiber waits on.
    void interrupt() noexcept;
    // Called on the home thread: request cancellation of this fiber and its children.
    void cancel(const std::string& reason) noexcept;
    // Any thread: raise the cancellation flag (first reason wins) without
    // interrupting anything; check() sees it at once.
    void request_cancel(const std::string& reason) noexcept;

    clock::time_point deadline() const noexcept { return deadline_; }
    void set_deadline(clock::time_point tp) noexcept;
    bool cancellation_deferred() const noexcept { return defer_depth_ > 0; }
    bool cancel_requested() const noexcept { return cancel_requested_.load(std::memory_order_acquire); }

    // Bookkeeping of the current wait, for interrupts and the fiber dump.
    void begin_wait(wait_point& wp, const char* what) noexcept {
        waiting_on_ = &wp;
        wait_what = what;
        wait_since = coarse_now();
        if (deadline_ != clock::time_point::max()) timed_wait_begins();
    }
    void end_wait() noexcept {
        waiting_on_ = nullptr;
        wait_what = nullptr;
        // The fiber stays on its worker's list of timed waiters: unlinking it
        // here would write to its two neighbours on the list, other fibers'
        // states, on every wait (see worker::timed_wait_begins).
    }
    // A clock for diagnostics only: a few ms coarse, but far cheaper than
    // steady_clock on every wait.
    static clock::time_point coarse_now() noexcept;

    boost::fibers::context* context() const noexcept { return ctx_; }
    worker& home() const noexcept { return home_; }
    worker_signals& signals() const noexcept { return *signals_; }
    task_base& task() const noexcept { return task_; }
    fiber_state* parent() const noexcept { return parent_; }

    // The fiber's name (kept once, in its task).
    const std::string& name() const noexcept;

    // Members in the order of use: what every wait touches (the cancellation
    // slot, the context, the deadline, the wait bookkeeping) comes first, so
    // that with the base classes it spans two cache lines; with thousands of
    // fibers each wait's state is usually out of cache.
    boost::asio::cancellation_signal signal;  // reused by every tw::yield operation of this fiber

private:
    boost::fibers::context* ctx_;
    worker_signals* signals_;
    clock::time_point deadline_ = clock::time_point::max();
    wait_point* waiting_on_ = nullptr;
    std::atomic<bool> cancel_requested_{false};
    bool timed_out_ = false;
    int defer_depth_ = 0;

public:
    const char* wait_what = nullptr;
    clock::time_point wait_since;
    void* stack_lo = nullptr;                 // lowest usable byte of the stack
    void* guard_lo = nullptr;                 // guard page, if any
    void* guard_hi = nullptr;
    std::size_t stack_size = 0;
    bool canary = false;
    clock::time_point started;

private:
    void check_slow();
    void timed_wait_begins() noexcept;  // on the worker's list of waits with a deadline
    friend class worker;
    friend class cancellation_shield_access;
    worker& home_;
    task_base& task_;
    fiber_state* parent_ = nullptr;
    boost::intrusive::list<fiber_state, boost::intrusive::base_hook<child_hook>,
                           boost::intrusive::constant_time_size<false>> children_;
    clock::time_point deferred_deadline_ = clock::time_point::max();
    std::mutex reason_mtx_;
    std::string reason_;

public:
    // used by cancellation_shield
    void push_shield() noexcept;
    void pop_shield() noexcept;
};

// The C++ runtime keeps "the exceptions being handled" (what `throw;` and
// std::current_exception() see) and std::uncaught_exceptions() per thread,
// and Boost.Fiber does not switch them with the fiber. A fiber that suspends
// inside a catch block — cleanup I/O before `throw;` is common in instrument
// code — would otherwise rethrow whatever another fiber is handling. Every tw
// suspension point therefore takes its fiber's state off the thread while it
// is away (leaving the thread clean for the next context) and puts it back
// when it resumes. This is what userver does on each coroutine switch.
class eh_stash {
public:
    eh_stash() noexcept;
    ~eh_stash();
    eh_stash(const eh_stash&) = delete;
    eh_stash& operator=(const eh_stash&) = delete;

private:
    struct globals {  // libstdc++'s and libc++abi's __cxa_eh_globals
        void* caught;
        unsigned int uncaught;
    };
    globals* g_;
    globals saved_;
};

// Makes w's dispatcher leave io_context::run() for Boost.Fiber's loop (see
// worker::wake_dispatcher). w's thread only.
void wake_dispatcher(worker& w) noexcept;

// The signals of the worker whose thread this is (nullptr elsewhere).
extern thread_local worker_signals* t_worker_signals;

inline bool worker_signals::can_resume_inline() const noexcept {
    return t_worker_signals == this && idle.load(std::memory_order_relaxed);
}

}  // namespace tw::detail

namespace __cxxabiv1 {
struct __cxa_eh_globals;
extern "C" __cxa_eh_globals* __cxa_get_globals() noexcept;
}  // namespace __cxxabiv1

namespace tw::detail {

inline eh_stash::eh_stash() noexcept
    : g_(reinterpret_cast<globals*>(__cxxabiv1::__cxa_get_globals())), saved_(*g_) {
    *g_ = globals{nullptr, 0};
}

inline eh_stash::~eh_stash() { *g_ = saved_; }

// The calling fiber's state, or nullptr on a plain thread, a handler, or a
// fiber that tw did not start. Out of line: headers must not call Boost.Fiber
// directly (see yield_core in yield.hpp).
fiber_state* current_fiber() noexcept;

// Throws tw::usage_error if the calling context must not block: an Asio
// handler or coroutine on a runtime's own loop thread. `what` names the call.
void check_blocking_allowed(const char* what);

// The runtime's worker thread (or guest thread) the caller runs on, if any.
worker* current_worker() noexcept;

// The calling plain thread's deadline (its deadline_scope); max() if none.
clock::time_point thread_deadline() noexcept;

}  // namespace tw::detail
