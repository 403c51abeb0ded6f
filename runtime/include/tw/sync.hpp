#pragma once
// Fiber-aware synchronisation: they suspend the calling fiber (or block a
// plain thread), never the worker thread, and their waits are cancellation
// points that honour the fiber's deadline.
//
// tw::semaphore    counting semaphore, FIFO: a released permit goes to the
//                  longest waiter, so nobody starves.
// tw::device_lock  a fair mutex for one device: fibers that share a board's
//                  connection queue behind it in arrival order.
//
// Thread safety: both may be shared by fibers of any thread and plain threads.
// Errors: acquire()/lock() throw cancelled_error or timeout_error (the permit
// is not taken then); usage_error on a loop thread outside a fiber.
//
// Example:
//   tw::device_lock lock("board-7");
//   {
//       std::lock_guard g(lock);        // one transaction at a time on this board
//       conn.write(request);
//       reply = conn.read();
//   }

#include <chrono>
#include <cstddef>
#include <string>

#include <tw/detail/park.hpp>

namespace tw {

class semaphore {
public:
    explicit semaphore(std::size_t initial = 0, std::string name = "semaphore");
    semaphore(const semaphore&) = delete;
    semaphore& operator=(const semaphore&) = delete;
    ~semaphore();

    void acquire();
    bool try_acquire() noexcept;
    bool try_acquire_until(clock::time_point tp);
    template <class Rep, class Period>
    bool try_acquire_for(std::chrono::duration<Rep, Period> d) {
        return try_acquire_until(clock::now() + std::chrono::ceil<clock::duration>(d));
    }
    void release(std::size_t n = 1) noexcept;
    std::size_t available() const noexcept;

private:
    bool acquire_until(clock::time_point tp);

    mutable detail::spinlock mtx_;
    std::size_t count_;
    detail::waiter_list waiters_;
    std::string name_;
};

class device_lock {
public:
    explicit device_lock(std::string device = "device") : sem_(1, "device lock '" + device + "'") {}
    void lock() { sem_.acquire(); }
    bool try_lock() noexcept { return sem_.try_acquire(); }
    template <class Rep, class Period>
    bool try_lock_for(std::chrono::duration<Rep, Period> d) {
        return sem_.try_acquire_for(d);
    }
    void unlock() noexcept { sem_.release(); }

private:
    semaphore sem_;
};

}  // namespace tw
