#pragma once
// tw::offload_pool: a bounded, named pool of plain threads for blocking calls
// that cannot be made asynchronous (a vendor library, a filesystem call). The
// calling fiber waits without blocking its worker thread.
//
// Bounded twice: `threads` run jobs, and at most `queue_limit` jobs wait;
// callers beyond that wait (as fibers) for room instead of growing a queue.
//
// Thread safety: run() may be called from any fiber or plain thread.
// Errors: run() rethrows the job's exception; cancelled_error / timeout_error if
// the waiting fiber is cancelled or its deadline passes — the job itself then
// still runs to completion on the pool (blocking calls cannot be interrupted)
// and its result is dropped.
//
// Example:
//   tw::offload_pool vendor("vendor-sdk", 2);
//   double t = vendor.run([] { return vendor_read_temperature_blocking(); });

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <tw/detail/park.hpp>
#include <tw/sync.hpp>

namespace tw {

namespace detail {
struct offload_job {
    virtual ~offload_job() = default;
    virtual void execute() noexcept = 0;
    // Completion, shared by the pool thread and the waiter.
    spinlock mtx;
    bool done = false;
    waiter_list waiters;
    void finish() noexcept;
    void wait();  // cancellable
};
}  // namespace detail

class offload_pool {
public:
    offload_pool(std::string name, std::size_t threads, std::size_t queue_limit = 1024);
    offload_pool(const offload_pool&) = delete;
    offload_pool& operator=(const offload_pool&) = delete;
    ~offload_pool();  // finishes queued jobs, joins the threads

    template <class F>
    auto run(F f) -> std::invoke_result_t<F&> {
        using T = std::invoke_result_t<F&>;
        struct job final : detail::offload_job {
            F fn;
            std::exception_ptr error;
            std::conditional_t<std::is_void_v<T>, bool, std::optional<T>> value{};
            explicit job(F&& f) : fn(std::move(f)) {}
            void execute() noexcept override {
                try {
                    if constexpr (std::is_void_v<T>)
                        fn();
                    else
                        value.emplace(fn());
                } catch (...) {
                    error = std::current_exception();
                }
                finish();
            }
        };
        auto j = std::make_shared<job>(std::move(f));
        submit(j);
        j->wait();
        if (j->error) std::rethrow_exception(j->error);
        if constexpr (!std::is_void_v<T>) return std::move(*j->value);
    }

    const std::string& name() const noexcept { return name_; }
    std::size_t threads() const noexcept { return threads_.size(); }

private:
    void submit(std::shared_ptr<detail::offload_job> j);
    void thread_main();

    std::string name_;
    semaphore room_;
    std::mutex mtx_;
    std::condition_variable cv_;
    std::deque<std::shared_ptr<detail::offload_job>> queue_;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

// A process-wide pool ("tw-offload", 4 threads) for tw::offload(f).
offload_pool& default_offload_pool();

template <class F>
auto offload(F f) {
    return default_offload_pool().run(std::move(f));
}

}  // namespace tw
