#include "worker.hpp"

#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <future>

#include <boost/context/stack_context.hpp>
#include <boost/fiber/algo/round_robin.hpp>
#include <boost/fiber/operations.hpp>
#include <boost/fiber/policy.hpp>

#include <tw/errors.hpp>

#include "runtime_impl.hpp"

#if TW_STATIC_BOOST
// Boost.Fiber keeps each thread's scheduler alive with a thread_local Schwarz
// counter (context_initializer, src/context.cpp) whose destructor tears the
// scheduler down assuming it runs on the thread's main context. The class is
// not in Boost's headers; its counter is a plain global of the static library,
// declared here to reach it (see exit_guard).
namespace boost::fibers {
struct context_initializer {
    static thread_local std::size_t counter_;
};
}  // namespace boost::fibers
#endif

namespace tw::detail {

namespace {
std::atomic<bool> g_exit_inside_loop{false};

// std::exit() called on a fiber (or in a handler) of a worker's thread runs
// that thread's thread_local destructors right there, on the fiber's stack.
// Boost.Fiber's would then join its dispatcher, which waits for every fiber
// of the thread, the exiting one included: the process hangs forever. This
// guard is constructed after Boost's (install() calls context::active()
// first), so it is destroyed before it; finding the thread still inside its
// loop, it marks the process as exiting (so no runtime destructor waits for a
// loop that will never turn again) and keeps Boost's destructor from running
// the teardown: the process is ending, and the scheduler goes with it.
struct exit_guard {
    ~exit_guard() {
        if (boost::fibers::context::active()->is_context(boost::fibers::type::main_context)) return;  // a normal thread end
        g_exit_inside_loop.store(true);
#if TW_STATIC_BOOST
        ++boost::fibers::context_initializer::counter_;
#endif
    }
};

void arm_exit_guard() {
    static thread_local exit_guard guard;
    (void)guard;
}

// Hands Boost.Fiber a stack the pool already gave us; takes it back the same way.
struct pooled_stack {
    stack_pool* pool;
    stack_block block;
    boost::context::stack_context allocate() noexcept {
        boost::context::stack_context sc;
        sc.size = block.size;
        sc.sp = static_cast<char*>(block.lo) + block.size;
        return sc;
    }
    void deallocate(boost::context::stack_context&) noexcept { pool->deallocate(block); }
};
}  // namespace

worker::worker(runtime_impl& rt, std::size_t index, boost::asio::io_context* host)
    : rt_(rt), index_(index), guest_(host != nullptr), io_(host ? *host : own_io_.emplace(1)) {
    // An owned loop must not run out of work while fibers wait on each other;
    // a host's loop is the host's to end (pending fiber I/O and async_run
    // operations keep it busy as long as they need it).
    if (!guest_) guard_.emplace(io_.get_executor());
    signals_.owner = this;
    signals_.io = &io_;
    stacks_.emplace(rt.options().stack_size, rt.guarded_left, rt.guard_warned,
                    [&rt](std::string_view m) { rt.warn(m); });
}

worker::~worker() {
    timer_.reset();
    guard_.reset();
    if (thread_.joinable()) thread_.join();
}

void wake_dispatcher(worker& w) noexcept { w.wake_dispatcher(); }

void worker::install() {
    host_thread_ = std::this_thread::get_id();
    set_current_worker(this);
    auto algo = new io_scheduler(*this);
    algo_ = algo;
    boost::fibers::context::active()->get_scheduler()->set_algo(boost::fibers::algo::algorithm::ptr_t(algo));
    main_ctx_ = boost::fibers::context::active();
    arm_exit_guard();
}

bool exiting_inside_loop() noexcept { return g_exit_inside_loop.load(); }

void worker::uninstall() noexcept {
    boost::fibers::use_scheduling_algorithm<boost::fibers::algo::round_robin>();
    algo_ = nullptr;
    set_current_worker(nullptr);
}

void worker::start() {
    if (guest_) {
        install();
        return;
    }
    std::promise<void> started;
    auto ready = started.get_future();
    thread_ = std::thread([this, &started] {
        std::string name = rt_.options().name + "-" + std::to_string(index_);
        ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
        void* alt = enable_alt_stack();
        install();
        started.set_value();
        thread_main();
        disable_alt_stack(alt);
        std::lock_guard lk(exited_mtx_);
        exited_ = true;
        exited_cv_.notify_all();
    });
    ready.get();
}

void worker::thread_main() {
    // The thread's main context just waits; the dispatcher (inside
    // io_scheduler::suspend_until) runs the io_context and the fibers.
    while (!stop_main_) main_ctx_->suspend();
    timer_.reset();
    set_current_worker(nullptr);
}

bool worker::stop_and_join(std::chrono::steady_clock::time_point deadline) {
    if (guest_) {
        // Finished fibers are freed by the dispatcher on its next pass, and
        // their stacks go back to our pool: let it pass before the pool goes.
        {
            eh_stash eh;  // this may run while an exception unwinds the host
            boost::this_fiber::yield();
        }
        uninstall();
        return true;
    }
    post([this] {
        stop_main_ = true;
        boost::fibers::context::active()->schedule(main_ctx_);
    });
    {
        std::unique_lock lk(exited_mtx_);
        if (!exited_cv_.wait_until(lk, deadline, [this] { return exited_; })) {
            thread_.detach();
            return false;
        }
    }
    if (thread_.joinable()) thread_.join();
    return true;
}

void worker::start_fiber(task_base* t, spawn_params p, fiber_state* parent) {
    stack_block blk = stacks_->allocate(p.stack_size);
    boost::intrusive_ptr<boost::fibers::context> ctx;
    try {
        ctx = boost::fibers::make_worker_context_with_properties(boost::fibers::launch::post, nullptr,
                                                                 pooled_stack{&*stacks_, blk}, [t] { t->fiber_main(); });
    } catch (...) {
        stacks_->deallocate(blk);
        throw;
    }
    auto* fs = new (t->fs_storage_) fiber_state(ctx.get(), *this, *t);
    ctx->set_properties(fs);
    fs->stack_lo = blk.lo;
    fs->stack_size = blk.size;
    fs->guard_lo = blk.guard;
    fs->guard_hi = blk.guard ? blk.lo : nullptr;
    fs->canary = !blk.guarded;
    fs->started = fiber_state::coarse_now();
    t->home_ = this;
    fibers_.push_back(*fs);
    fs->deadline_ = p.deadline;
    if (parent && p.child) {
        fs->parent_ = parent;
        parent->children_.push_back(*fs);
        fs->deadline_ = std::min(p.deadline, parent->deadline_);
        if (parent->cancel_requested() && parent->defer_depth_ == 0) {
            std::lock_guard lk(parent->reason_mtx_);
            fs->reason_ = parent->reason_;
            fs->cancel_requested_.store(true, std::memory_order_release);
        }
    }
    {
        // From here cancel() from any thread raises the fiber's own flag; a
        // cancel that came before the fiber existed is taken over.
        spinlock_lock lk(t->mtx_);
        t->fiber_alive_ = true;
        if (t->pending_cancel_) fs->request_cancel(t->pending_reason_);
    }
    if (rt_.stopping()) fs->request_cancel("runtime shutting down");
    guarded_.store(stacks_->guarded_in_use(), std::memory_order_relaxed);
    auto* active = boost::fibers::context::active();
    active->attach(ctx.get());
    if (signals_.can_resume_inline()) {
        // Started by a handler on our dispatcher (a spawn from another thread
        // or from an Asio handler): run it now, as yield_core::finish resumes
        // a fiber, instead of waking Boost.Fiber's loop to pick it.
        signals_.resume_inline(ctx.get(), fs);
    } else {
        active->get_scheduler()->schedule(ctx.get());
    }
}

void worker::fiber_exited(fiber_state& fs) noexcept {
    fs.list_hook::unlink();
    fs.deadline_hook::unlink();
    fs.child_hook::unlink();
    while (!fs.children_.empty()) {
        auto& c = fs.children_.front();
        fs.children_.pop_front();
        c.parent_ = nullptr;
    }
    if (fs.canary && !stack_pool::canary_intact(stack_block{fs.stack_lo, fs.stack_size, false, nullptr, 0})) {
        std::fprintf(stderr, "tw: stack overflow in fiber '%s' (canary overwritten; stack %zu bytes) — aborting\n",
                     fs.name().c_str(), fs.stack_size);
        std::abort();
    }
    {
        // After this no other thread touches fs: cancel() checks fiber_alive_
        // under the task's lock, the watchdog reads `running` under ours.
        std::lock_guard exit_lk(exit_mtx_);
        spinlock_lock lk(fs.task().mtx_);
        fs.task().fiber_alive_ = false;
        signals_.running.store(nullptr, std::memory_order_relaxed);
    }
    wake_dispatcher();  // it frees finished fibers (and their stacks)
    if (live_.fetch_sub(1, std::memory_order_acq_rel) == 1) rt_.fiber_count_changed();
}

void worker::fiber_start_failed() noexcept {
    if (live_.fetch_sub(1, std::memory_order_acq_rel) == 1) rt_.fiber_count_changed();
}

void worker::cancel_all(const std::string& reason) noexcept {
    for (auto& fs : fibers_) fs.cancel(reason);
}

void worker::timed_wait_begins(fiber_state& fs) noexcept {
    // Linked once and left on the list after the wait (end_wait does not
    // unlink): a fiber doing one query after another under a deadline pays
    // neither the link nor the unlink, each of which writes to other fibers'
    // states. on_timer drops the entries that no longer wait under a deadline.
    if (!fs.deadline_hook::is_linked()) timed_waiters_.push_back(fs);
    arm_timer(fs.deadline_);
}

void worker::arm_timer(clock::time_point tp) noexcept {
    // Lazy: a later wake-up than the armed one is picked up when it fires.
    if (tp >= armed_at_ || stop_main_) return;
    // Made on first use: a worker that never waits with a time limit keeps an
    // io_context without a timer (and, without sockets, without epoll at all).
    if (!timer_) timer_.emplace(io_);
    armed_at_ = tp;
    timer_->expires_at(tp);
    auto fired = [this] {
        armed_at_ = clock::time_point::max();
        wake_dispatcher();  // it moves sleeping fibers that are due to ready
        on_timer();
    };
    timer_->async_wait([this, fired](const boost::system::error_code& ec) {
        if (ec) return;  // re-armed or destroyed
        if (guest_)
            guest_handler<decltype(fired)>{this, fired}();
        else
            fired();
    });
}

void worker::on_timer() noexcept {
    const auto now = clock::now();
    auto next = clock::time_point::max();
    // The list holds every fiber that waited under a deadline since it was
    // last dropped from here, waiting now or not. The timer is armed no later
    // than the deadline of each fiber that is waiting (timed_wait_begins arms
    // it at every wait), so a waiting fiber that is due is found here.
    for (auto it = timed_waiters_.begin(); it != timed_waiters_.end();) {
        auto& fs = *it;
        if (fs.deadline_ == clock::time_point::max()) {
            it = timed_waiters_.erase(it);  // no deadline any more
        } else if (fs.deadline_ <= now) {
            it = timed_waiters_.erase(it);
            // Not waiting: its next wait point sees the passed deadline
            // itself (fiber_state::check reads the clock), and the timer must
            // not be re-armed for a time already past.
            if (fs.waiting_on_) {
                fs.timed_out_ = true;
                fs.interrupt();  // wakes or cancels; never runs the fiber here
            }
        } else {
            next = std::min(next, fs.deadline_);
            ++it;
        }
    }
    if (next != clock::time_point::max()) arm_timer(next);
    if (guest_) request_pump();  // sleeping fibers are moved by the dispatcher
}

void worker::wrong_host_thread() const {
    throw usage_error("tw: a guest runtime runs its fibers on the one thread that created it, but its host's "
                      "io_context is being run by another thread as well: a guest needs a host io_context run by "
                      "exactly one thread, the one that constructed the runtime. With several host threads, use an "
                      "owned runtime (tw::runtime rt({.threads = N})) and call it with tw::async_run from the host's "
                      "handlers.");
}

void worker::request_pump() noexcept {
    if (!pump_posted_.exchange(true, std::memory_order_acq_rel))
        post([this] { guest_pump(); });
}

void worker::guest_pump() noexcept {
    // Runs as a handler of the host's loop, on its main context: yielding puts
    // the main context at the back of the ready queue, so every fiber ready now
    // (and the dispatcher, which moves sleepers and remote wake-ups) runs once,
    // then the host's next handler does.
    pump_posted_.store(false, std::memory_order_release);
    if (!algo_) return;
    eh_stash eh;  // the host's handler may itself be inside a catch block
    boost::this_fiber::yield();
}

std::optional<worker::running_fiber> worker::describe_running(std::size_t switches_seen) const {
    std::lock_guard lk(exit_mtx_);
    // Under exit_mtx_ the fiber in `running` cannot finish exiting; checking
    // the switch count again after taking the lock makes sure it is still the
    // one that has been running all along.
    if (switches() != switches_seen) return std::nullopt;
    auto* fs = signals_.running.load(std::memory_order_relaxed);
    if (!fs) return running_fiber{};
    return running_fiber{true, fs->name()};
}

void worker::collect(std::vector<fiber_snapshot>& out) const {
    auto* active = boost::fibers::context::active();
    for (auto& fs : fibers_) {
        out.push_back({fs.name(), index_, fs.context() == active, fs.context()->ready_is_linked(), fs.wait_what, fs.wait_since,
                       fs.started, fs.deadline(), fs.cancel_requested()});
    }
}

}  // namespace tw::detail
