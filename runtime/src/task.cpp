#include <tw/deadline.hpp>
#include <tw/detail/park.hpp>
#include <tw/detail/task_base.hpp>
#include <tw/errors.hpp>
#include <tw/task.hpp>

#include "runtime_impl.hpp"
#include "worker.hpp"

namespace tw::detail {

namespace {
bool is_cancellation(const std::exception_ptr& e) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const cancelled_error&) {
        return true;
    } catch (...) {
        return false;
    }
}
}  // namespace

void task_base::wait() { wait_until(clock::time_point::max()); }

bool task_base::wait_until(clock::time_point until) {
    if (done()) return true;
    check_blocking_allowed("tw::task::get/wait");
    fiber_state* fs = current_fiber();
    if (fs && &fs->task() == this) throw usage_error("a fiber cannot wait for its own task (it would never finish)");
    if (!fs && home_ && home_->guest() && home_->on_this_thread())
        throw usage_error("waiting for a guest runtime's task on its host thread outside the host's loop would never "
                          "finish: run the host's io_context, or use tw::async_run with a completion token");
    for (;;) {
        if (fs) fs->check();
        spinlock_lock lk(mtx_);
        if (done()) return true;
        if (until != clock::time_point::max() && clock::now() >= until) return false;
        waiter w;
        waiters_.push_back(w);
        park(lk, w, until, "task");
        lk.lock();
        if (w.is_linked()) waiters_.erase(waiters_.iterator_to(w));
    }
}

void task_base::cancel(std::string reason) noexcept {
    if (done() || !home_) return;
    // Raise the flag now, whatever the thread: a fiber that computes without
    // ever suspending (a loop calling check_cancelled) must see it without
    // waiting for its worker's loop to run the interrupt posted below. mtx_
    // keeps the fiber_state alive meanwhile (fiber_exited takes it too).
    {
        spinlock_lock lk(mtx_);
        if (done()) return;
        if (fiber_alive_) {
            fs().request_cancel(reason);
        } else if (!pending_cancel_) {
            pending_cancel_ = true;
            try {
                pending_reason_ = reason;
            } catch (...) {
            }
        }
    }
    // The wait it is parked on, and its children, live on its home thread.
    auto here = [this](const std::string& r) {
        if (!done() && fiber_alive_) fs().cancel(r);
    };
    if (home_->on_this_thread()) {
        here(reason);
        return;
    }
    add_ref();
    try {
        home_->post([this, here, reason = std::move(reason)] {
            here(reason);
            release();
        });
    } catch (...) {
        release();
    }
}

void task_base::complete() noexcept {
    {
        spinlock_lock lk(mtx_);
        done_.store(true, std::memory_order_seq_cst);
        while (!waiters_.empty()) {
            auto& w = waiters_.front();
            waiters_.pop_front();
            notify(w);
        }
    }
    if (detached_.load(std::memory_order_seq_cst)) report_unobserved();
}

void task_base::report_unobserved() noexcept {
    if (!error_ || observed_ || is_cancellation(error_)) return;
    if (reported_.exchange(true)) return;
    if (home_) home_->rt().unhandled(name_, error_);
}

void task_base::fiber_main() noexcept {
    fiber_state& f = fs();
    try {
        f.check();
        run_body();
    } catch (...) {
        error_ = std::current_exception();
    }
    home_->fiber_exited(f);
    f.context()->set_properties(nullptr);  // ends f's life; its storage is ours
    complete();
    release();
}

void drop_handle(task_base& t) noexcept {
    if (!t.done()) {
        t.cancel("task handle destroyed while running");
        try {
            cancellation_shield shield;
            t.wait();
        } catch (const usage_error&) {
            // On a loop thread outside a fiber we cannot wait: let it finish on
            // its own, supervised like a detached task.
            t.set_detached();
            if (t.done()) t.report_unobserved();
            return;
        } catch (...) {
        }
    }
    t.report_unobserved();
}

void launch(runtime_impl& rt, task_base* t, spawn_params params) {
    t->name_ = params.name;
    if (rt.stopping()) {
        // Before picking a worker: once shut down, the runtime has none.
        t->error_ = std::make_exception_ptr(cancelled_error("runtime is shutting down; no new fibers are started"));
        t->complete();
        t->release();
        return;
    }
    fiber_state* parent = current_fiber();
    if (!parent) params.deadline = current_deadline();  // a plain thread's deadline_scope
    worker* w = nullptr;
    if (parent && &parent->home().rt() == &rt)
        w = &parent->home();
    else if (auto* cw = current_worker(); cw && &cw->rt() == &rt)
        w = cw;
    else
        w = &rt.pick_worker();
    t->home_ = w;
    auto fail = [t](std::exception_ptr e) {
        t->error_ = std::move(e);
        t->complete();
        t->release();
    };
    w->add_live();
    auto start = [w, t, fail](spawn_params p, fiber_state* parent) {
        try {
            w->start_fiber(t, std::move(p), parent);
        } catch (...) {
            fail(std::current_exception());
            w->fiber_start_failed();
        }
    };
    if (w->on_this_thread()) {
        start(std::move(params), parent && &parent->home() == w ? parent : nullptr);
    } else {
        w->post([start, params = std::move(params)]() mutable { start(std::move(params), nullptr); });
    }
}

}  // namespace tw::detail
