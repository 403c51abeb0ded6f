#pragma once
// The calling fiber's own operations: sleeping, yielding, its name and its
// worker's executor.
//
// Thread safety: these act on the calling fiber. sleep_for/sleep_until also
// work on a plain thread (they block it, and obey its deadline_scope).
// Errors: sleeping is cancellable (cancelled_error) and obeys deadlines
// (timeout_error); usage_error on a runtime's loop thread outside a fiber.
//
// Example:
//   tw::sleep_for(100ms);                  // suspends only this fiber
//   boost::asio::steady_timer t(tw::this_fiber::executor());

#include <chrono>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include <tw/deadline.hpp>

namespace tw {

// Suspends the calling fiber (blocks a plain thread). Cancellable.
void sleep_until(clock::time_point tp);
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
    sleep_until(deadline::after(d).time_point());
}

namespace this_fiber {
// Lets other ready fibers (and I/O) run; a cancellation point.
void yield();
// The calling fiber's name ("" on a plain thread).
std::string_view name() noexcept;
// The executor of the calling fiber's worker: sockets, acceptors and timers
// made with it complete on the fiber's own thread (no cross-thread hop).
// Throws usage_error when not called on a tw fiber.
//   boost::asio::ip::tcp::socket s(tw::this_fiber::executor());
boost::asio::io_context::executor_type executor();
}  // namespace this_fiber

}  // namespace tw
