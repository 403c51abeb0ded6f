#include "worker.hpp"

#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <future>

#include <boost/context/stack_context.hpp>
#include <boost/fiber/algo/round_robin.hpp>
#include <boost/fiber/operations.hpp>
#include <boost/fiber/policy.hpp>

#include "runtime_impl.hpp"

namespace tw::detail {

namespace {
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
    set_current_worker(this);
    auto algo = new io_scheduler(*this);
    algo_ = algo;
    boost::fibers::context::active()->get_scheduler()->set_algo(boost::fibers::algo::algorithm::ptr_t(algo));
    main_ctx_ = boost::fibers::context::active();
}

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

bool worker::stop_and_join(std::chrono::steady_clock::time_point) {
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
    t->fiber_alive_ = true;
    fibers_.push_back(*fs);
    if (parent && p.child) {
        fs->parent_ = parent;
        parent->children_.push_back(*fs);
        fs->deadline_ = parent->deadline_;
        if (parent->cancel_requested() && parent->defer_depth_ == 0) {
            std::lock_guard lk(parent->reason_mtx_);
            fs->reason_ = parent->reason_;
            fs->cancel_requested_.store(true, std::memory_order_release);
        }
    }
    if (t->pending_cancel_ || rt_.stopping()) {
        fs->reason_ = t->pending_cancel_ ? t->pending_reason_ : std::string("runtime shutting down");
        fs->cancel_requested_.store(true, std::memory_order_release);
    }
    guarded_.store(stacks_->guarded_in_use(), std::memory_order_relaxed);
    auto* active = boost::fibers::context::active();
    active->attach(ctx.get());
    if (t_worker_signals == &signals_ && signals_.idle.load(std::memory_order_relaxed)) {
        // Started by a handler on our dispatcher (a spawn from another thread
        // or from an Asio handler): run it now, as yield_core::finish resumes
        // a fiber, instead of waking Boost.Fiber's loop to pick it.
        signals_.count_switch();
        signals_.idle.store(false, std::memory_order_relaxed);
        ctx->resume(signals_.dispatcher);
        signals_.idle.store(true, std::memory_order_relaxed);
        if (ctx->sleep_is_linked()) wake_dispatcher();  // see yield_core::finish
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
    fs.task().fiber_alive_ = false;
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
    timer_->async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;  // re-armed or destroyed
        armed_at_ = clock::time_point::max();
        wake_dispatcher();  // it moves sleeping fibers that are due to ready
        on_timer();
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

void worker::request_pump() noexcept {
    if (!pump_posted_.exchange(true, std::memory_order_acq_rel))
        boost::asio::post(io_, [this] { guest_pump(); });
}

void worker::guest_pump() noexcept {
    // Runs as a handler of the host's loop, on its main context: yielding puts
    // the main context at the back of the ready queue, so every fiber ready now
    // (and the dispatcher, which moves sleepers and remote wake-ups) runs once,
    // then the host's next handler does.
    pump_posted_.store(false, std::memory_order_release);
    if (!algo_) return;
    in_pump_ = true;
    {
        eh_stash eh;  // the host's handler may itself be inside a catch block
        boost::this_fiber::yield();
    }
    in_pump_ = false;
}

void worker::report_stall(boost::fibers::context* ctx) noexcept {
    stall_flag_.store(false, std::memory_order_relaxed);
    auto* fs = static_cast<fiber_state*>(ctx->get_properties());
    try {
        rt_.warn("tw: fiber '" + (fs ? (fs->name().empty() ? std::string("(unnamed)") : fs->name()) : std::string("(not a tw fiber)")) +
                 "' on worker " + std::to_string(index_) + " ran for more than " +
                 std::to_string(rt_.options().slow_fiber_warning.count()) +
                 " ms without suspending; other fibers and I/O on its thread waited");
    } catch (...) {
    }
}

void worker::collect(std::vector<fiber_snapshot>& out) const {
    auto* active = boost::fibers::context::active();
    for (auto& fs : fibers_) {
        out.push_back({fs.name(), index_, fs.context() == active, fs.context()->ready_is_linked(), fs.wait_what, fs.wait_since,
                       fs.started, fs.deadline(), fs.cancel_requested()});
    }
}

}  // namespace tw::detail
