#pragma once
// tw::task<T>: the handle of work running on its own fiber (from tw::spawn or
// `(~f)(args)`). get() waits and returns the value or rethrows the error.
//
// A task owns its fiber: destroying a task whose fiber still runs cancels it
// and waits for it to finish (the wait is itself not cancellable). Call
// detach() to let it run on, supervised by the runtime: an error it ends with
// goes to the runtime's unhandled-error handler instead of being lost.
//
// [[nodiscard]]: a task dropped on the floor is a temporary destroyed at the
// end of the statement, so `tw::spawn(f);` or `(~f)(x);` cancels f at its
// first blocking call and waits there for it to unwind: nothing runs in the
// background. Keep the task, get() it, or detach() it; `(void)` only silences
// the warning, it still cancels.
//
// Thread safety: one task handle is used by one fiber or thread at a time;
// cancel() may be called from anywhere.
// Errors: get() rethrows the task's exception; waiting throws usage_error where
// blocking would deadlock (an Asio handler on the loop thread).
//
// Example:
//   tw::task<int> t = tw::spawn([] { tw::sleep_for(10ms); return 42; });
//   int v = t.get();   // suspends only the calling fiber (or blocks a plain thread)

#include <chrono>
#include <string>
#include <utility>

#include <tw/detail/task_base.hpp>
#include <tw/errors.hpp>

namespace tw {

template <class T>
class [[nodiscard]] task {
public:
    task() noexcept = default;
    task(task&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
    task& operator=(task&& o) noexcept {
        if (this != &o) {
            reset();
            st_ = std::exchange(o.st_, nullptr);
        }
        return *this;
    }
    ~task() { reset(); }

    bool valid() const noexcept { return st_ != nullptr; }
    bool done() const noexcept { return st_ && st_->done(); }

    // Waits for the fiber to finish; returns its value or rethrows its error.
    T get() {
        wait();
        auto* st = std::exchange(st_, nullptr);
        st->mark_observed();
        struct releaser {
            detail::task_result<T>* s;
            ~releaser() { s->release(); }
        } r{st};
        if (st->error()) std::rethrow_exception(st->error());
        if constexpr (!std::is_void_v<T>) return std::move(st->value());
    }

    void wait() const {
        require();
        st_->wait();
    }
    template <class Rep, class Period>
    bool wait_for(std::chrono::duration<Rep, Period> d) const {
        return wait_until(clock::now() + std::chrono::ceil<clock::duration>(d));
    }
    bool wait_until(clock::time_point tp) const {
        require();
        return st_->wait_until(tp);
    }

    // Asks the fiber to stop: its current or next blocking call throws
    // cancelled_error(reason). Returns at once; get()/wait() to see it end.
    void cancel(std::string reason = "task cancelled") const {
        if (st_) st_->cancel(std::move(reason));
    }

    // Lets the fiber run on without this handle.
    void detach() noexcept {
        if (st_) {
            st_->set_detached();
            if (st_->done()) st_->report_unobserved();
            std::exchange(st_, nullptr)->release();
        }
    }

    const std::string& name() const {
        require();
        return st_->name();
    }

    // For the runtime only.
    detail::task_base* state() const noexcept { return st_; }
    // For the runtime only: adopt a fresh state with one reference.
    explicit task(detail::task_result<T>* st) noexcept : st_(st) {}

private:
    void require() const {
        if (!st_) throw usage_error("tw::task: this task has no state (moved from, detached or already retrieved with get())");
    }
    void reset() noexcept;

    detail::task_result<T>* st_ = nullptr;
};

namespace detail {

// Cancels a task when an Asio cancellation slot fires; keeps it alive meanwhile.
class task_canceller {
public:
    explicit task_canceller(task_base* t) noexcept : t_(t) { t_->add_ref(); }
    task_canceller(task_canceller&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
    task_canceller(const task_canceller&) = delete;
    ~task_canceller() {
        if (t_) t_->release();
    }
    template <class Type>
    void operator()(Type) noexcept {
        t_->cancel("operation cancelled through its cancellation slot");
    }

private:
    task_base* t_;
};
}  // namespace detail

template <class T>
void task<T>::reset() noexcept {
    if (!st_) return;
    auto* st = std::exchange(st_, nullptr);
    detail::drop_handle(*st);
    st->release();
}

}  // namespace tw
