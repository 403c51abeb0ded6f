#pragma once
// tw::detail::task_base: the shared state between a fiber started by tw and
// the tw::task handle(s) that own it. One heap block holds the result, the
// waiters, the fiber's fiber_state and the user's callable (see task_impl).
//
// Thread safety: done/result/waiters and the fiber's liveness are guarded by
// mtx_; cancel() may be called from any thread: it raises the fiber's flag at
// once and forwards the interrupt to the fiber's home thread.

#include <atomic>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <tw/detail/fiber_state.hpp>
#include <tw/detail/park.hpp>

namespace tw::detail {

class runtime_impl;
class task_base;
struct spawn_params;
void launch(runtime_impl& rt, task_base* t, spawn_params params);

struct spawn_params {
    std::string name;
    std::size_t stack_size = 0;  // 0: the runtime's default
    bool child = true;           // inherit deadline and cancellation from the spawning fiber
    // Spawned from a plain thread: the deadline of its deadline_scope, if any.
    clock::time_point deadline = clock::time_point::max();
};

class task_base {
public:
    task_base(const task_base&) = delete;
    task_base& operator=(const task_base&) = delete;

    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
    }

    bool done() const noexcept { return done_.load(std::memory_order_acquire); }
    // Blocks the calling fiber or thread until the task is done. Throws
    // usage_error where blocking would deadlock, and cancelled_error /
    // timeout_error if the *waiting* fiber is cancelled or its deadline passes.
    void wait();
    // Like wait(); false if `until` passed first.
    bool wait_until(clock::time_point until);
    // Requests cancellation of the fiber, from any thread. No-op once done.
    void cancel(std::string reason) noexcept;
    // The error the task ended with (valid once done()).
    const std::exception_ptr& error() const noexcept { return error_; }
    // Whether a handle has looked at the outcome; an unobserved failure of a
    // task whose handle is gone goes to the runtime's unhandled-error handler.
    void mark_observed() noexcept { observed_ = true; }
    void set_detached() noexcept { detached_.store(true, std::memory_order_seq_cst); }
    // Hands a failure nobody will look at to the runtime's unhandled-error
    // handler (once; cancellations are not failures).
    void report_unobserved() noexcept;
    const std::string& name() const noexcept { return name_; }

    // Runs on the new fiber: the whole life of the task's fiber.
    void fiber_main() noexcept;

protected:
    task_base() = default;
    virtual ~task_base() = default;
    virtual void run_body() = 0;  // stores the result or throws
    virtual void destroy() noexcept = 0;

private:
    friend class worker;
    friend class runtime_impl;
    friend void launch(runtime_impl&, task_base*, spawn_params);
    fiber_state& fs() noexcept { return *std::launder(reinterpret_cast<fiber_state*>(fs_storage_)); }
    void complete() noexcept;

    std::atomic<int> refs_{1};
    std::atomic<bool> done_{false};
    std::atomic<bool> detached_{false};
    std::atomic<bool> reported_{false};
    bool observed_ = false;
    bool fiber_alive_ = false;  // written on the home thread under mtx_
    std::exception_ptr error_;
    spinlock mtx_;
    waiter_list waiters_;
    worker* home_ = nullptr;
    std::string name_;
    std::string pending_reason_;
    bool pending_cancel_ = false;  // cancel() before the fiber existed (under mtx_)
    alignas(fiber_state) unsigned char fs_storage_[sizeof(fiber_state)];
};

template <class T>
class task_result : public task_base {
public:
    // Valid once done() and error() is null.
    T& value() noexcept { return *value_; }

protected:
    std::optional<T> value_;
};

template <>
class task_result<void> : public task_base {};

template <class T, class F>
class task_impl final : public task_result<T> {
public:
    explicit task_impl(F&& fn) : fn_(std::move(fn)) {}

private:
    void run_body() override {
        if constexpr (std::is_void_v<T>)
            fn_();
        else
            this->value_.emplace(fn_());
    }
    void destroy() noexcept override { delete this; }
    F fn_;
};

// What destroying a task handle does: cancel and wait if it still runs, then
// report an unobserved failure.
void drop_handle(task_base& t) noexcept;

// Starts `t` (one reference is handed to the fiber) on `rt`: on the calling
// worker if the caller is one of rt's fibers or loop threads, else on the next
// worker. Throws cancelled_error if rt is shutting down.
void launch(runtime_impl& rt, task_base* t, spawn_params params);

inline const std::string& fiber_state::name() const noexcept { return task_.name(); }

}  // namespace tw::detail
