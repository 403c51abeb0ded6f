#pragma once
// Deadlines, sleeping and cancellation points for tw fibers.
//
// tw::deadline_scope sets the calling fiber's deadline for a block of code;
// scopes nest (the earliest wins) and fibers spawned inside inherit it. Every
// blocking tw call made under a deadline that passes throws tw::timeout_error.
//
// tw::cancellation_shield defers cancellation (and the outer deadline) for
// cleanup code that must finish: a deadline_scope inside the shield still
// applies, so cleanup cannot hang either.
//
// On a plain thread a deadline_scope sets the thread's deadline: fibers that
// tw::run and tw::spawn start from it inherit it, and tw::sleep_for obeys it.
//
// Thread safety: these act on the calling fiber (or plain thread) only.
//
// Example:
//   tw::deadline_scope d(2s);          // everything below must finish within 2 s
//   auto reply = board.query("MEAS?");
//   {
//       tw::cancellation_shield shield;
//       tw::deadline_scope cleanup(200ms);
//       board.write("OUTP OFF");       // runs even if the fiber is being cancelled
//   }

#include <chrono>

#include <boost/asio/io_context.hpp>

#include <tw/detail/fiber_state.hpp>

namespace tw {

class deadline_scope {
public:
    explicit deadline_scope(clock::time_point until);
    template <class Rep, class Period>
    explicit deadline_scope(std::chrono::duration<Rep, Period> d)
        : deadline_scope(d >= std::chrono::duration<Rep, Period>::max() / 2
                             ? clock::time_point::max()
                             : clock::now() + std::chrono::ceil<clock::duration>(d)) {}
    deadline_scope(const deadline_scope&) = delete;
    deadline_scope& operator=(const deadline_scope&) = delete;
    ~deadline_scope();

    // The deadline this scope put in force: the earlier of its own and the
    // enclosing one (what current_deadline() returns inside it, outside any
    // nested scope). Saves a caller that
    // needs the number a second look-up of the fiber.
    clock::time_point deadline() const noexcept { return in_force_; }

private:
    detail::fiber_state* fs_;
    clock::time_point saved_;
    clock::time_point in_force_;
};

class cancellation_shield {
public:
    cancellation_shield();
    cancellation_shield(const cancellation_shield&) = delete;
    cancellation_shield& operator=(const cancellation_shield&) = delete;
    ~cancellation_shield();

private:
    detail::fiber_state* fs_;
};

// The calling fiber's (or plain thread's) deadline; time_point::max() if none.
clock::time_point current_deadline() noexcept;

// Suspends the calling fiber (blocks a plain thread). Cancellable.
void sleep_until(clock::time_point tp);
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
    sleep_until(clock::now() + std::chrono::ceil<clock::duration>(d));
}

// Throws cancelled_error / timeout_error if the calling fiber should stop now.
// Long computations without I/O call this now and then.
void check_cancelled();

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
