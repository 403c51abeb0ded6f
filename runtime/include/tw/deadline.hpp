#pragma once
// Deadlines: tw::deadline, a point in time by which something must be done,
// and tw::deadline_scope, which puts one in force for a block of code.
//
// A deadline_scope sets the calling fiber's deadline; scopes nest (the
// earliest wins) and fibers spawned inside inherit it. Every blocking tw call
// made under a deadline that passes throws tw::timeout_error. On a plain
// thread a deadline_scope sets the thread's deadline: fibers that tw::run and
// tw::spawn start from it inherit it, and tw::sleep_for obeys it.
//
// Thread safety: a scope acts on the calling fiber (or plain thread) only.
//
// Example:
//   tw::deadline_scope d(2s);          // everything below must finish within 2 s
//   auto reply = board.query("MEAS?");
//   auto t = tw::deadline::after(opts.timeout);   // a timeout made a time, overflow-safe

#include <chrono>
#include <compare>

namespace tw {

using clock = std::chrono::steady_clock;

namespace detail {
class fiber_state;
}

// tw::deadline: the time by which something must be done, or none. A value
// type that owns the arithmetic of turning a timeout into a time: a duration
// too long to add to now (hours::max(), "forever") is no deadline rather than
// an overflow into the past, and zero or a negative one has already passed.
// Code that gets a timeout from a user or an options struct makes a deadline
// with after() instead of adding to clock::now() itself.
//
// Thread safety: a plain value.
//
// Example:
//   auto d = tw::deadline::after(opts.timeout);   // duration::max(): none
//   if (d.passed()) throw tw::timeout_error("too late");
//   tw::deadline_scope scope(d);
class deadline {
public:
    constexpr deadline() noexcept = default;  // none
    static constexpr deadline none() noexcept { return deadline(); }
    static constexpr deadline at(clock::time_point tp) noexcept { return deadline(tp); }
    template <class Rep, class Period>
    static deadline after(std::chrono::duration<Rep, Period> d) noexcept {
        return after(d, clock::now());
    }
    // The same from a given `now` (one clock read for several deadlines).
    template <class Rep, class Period>
    static deadline after(std::chrono::duration<Rep, Period> d, clock::time_point now) noexcept {
        using D = std::chrono::duration<Rep, Period>;
        if (d <= D::zero()) return at(now);
        // Compared in the caller's unit, rounded down: neither side overflows.
        if (d >= std::chrono::duration_cast<D>(clock::time_point::max() - now)) return none();
        const auto step = std::chrono::ceil<clock::duration>(d);
        return step >= clock::time_point::max() - now ? none() : at(now + step);
    }

    constexpr bool is_set() const noexcept { return tp_ != clock::time_point::max(); }
    // The time; time_point::max() when there is none.
    constexpr clock::time_point time_point() const noexcept { return tp_; }
    bool passed() const noexcept { return is_set() && clock::now() >= tp_; }
    // Time left (zero once passed); duration::max() when there is none.
    clock::duration left() const noexcept {
        if (!is_set()) return clock::duration::max();
        const auto now = clock::now();
        return now >= tp_ ? clock::duration::zero() : tp_ - now;
    }

    friend constexpr auto operator<=>(const deadline&, const deadline&) = default;

private:
    constexpr explicit deadline(clock::time_point tp) noexcept : tp_(tp) {}
    clock::time_point tp_ = clock::time_point::max();
};

// The earlier of two deadlines (none counts as the latest).
constexpr deadline earliest(deadline a, deadline b) noexcept { return a < b ? a : b; }

class deadline_scope {
public:
    explicit deadline_scope(clock::time_point until);
    // tw:: qualified: deadline() below names a member.
    explicit deadline_scope(tw::deadline d) : deadline_scope(d.time_point()) {}
    template <class Rep, class Period>
    explicit deadline_scope(std::chrono::duration<Rep, Period> d) : deadline_scope(tw::deadline::after(d)) {}
    deadline_scope(const deadline_scope&) = delete;
    deadline_scope& operator=(const deadline_scope&) = delete;
    ~deadline_scope();

    // The deadline this scope put in force: the earlier of its own and the
    // enclosing one (what current_deadline() returns inside it, outside any
    // nested scope). Saves a caller that
    // needs the number a second look-up of the fiber.
    clock::time_point deadline() const noexcept { return in_force_; }

private:
    detail::fiber_state* fs_;  // nullptr: a plain thread's scope
    clock::time_point saved_;
    clock::time_point in_force_;
};

// The calling fiber's (or plain thread's) deadline; time_point::max() if none.
clock::time_point current_deadline() noexcept;

}  // namespace tw

// Cancellation and the calling fiber's own operations (sleep_for, yield)
// used to live in this header; code that includes it for them keeps working.
#include <tw/cancellation.hpp>
#include <tw/this_fiber.hpp>
