#pragma once
// Fan-out: run one blocking function over many items at once, each call on
// its own fiber, and get every outcome back in input order.
//
// tw::fan_out(items, f, options) calls f(item) for every item with
//   * a concurrency limit (0: all at once),
//   * an overall deadline: calls still running get timeout_error, items not
//     yet started get timeout_error without being started,
//   * a progress callback (total / done / failed / in flight), called on the
//     fan-out's fibers after every item,
//   * cancellation: cancelling the calling fiber cancels every call and waits
//     for them to unwind before fan_out rethrows,
// and returns a fan_out_result whose outcomes hold a value or an exception
// each; nothing is dropped. It nests (boards → channels) and can be called
// from a plain thread (it then runs on the default runtime).
//
// Items: any input range. f sees the range's own elements when they are
// objects that outlive the iteration — a forward range of lvalue references,
// e.g. a std::vector — so f may take `T&` and change them. Otherwise (iota,
// transform, move iterators, istream views) an element exists only while its
// iterator points at it, so fan_out first moves or copies every element into
// storage of its own and passes each to f as an rvalue: f takes `T`, `T&&` or
// `const T&`.
//
// tw::when_all(f, g, ...) runs callables concurrently and returns a tuple
// (void results become std::monostate); it rethrows the first failure after
// all have finished. tw::when_any(f, g, ...) returns {index, value} of the
// first to succeed and cancels the others; if all fail it rethrows the last.
//
// Thread safety: the calls run on the caller's worker thread, so f and the
// progress callback never run concurrently with each other.
//
// Example:
//   auto r = tw::fan_out(boards, [](const std::string& addr) { return tune(addr); },
//                        {.concurrency = 64, .deadline = 60s});
//   for (auto& o : r.outcomes) if (!o.ok()) report(o.error_message());
//   fmt::print("{}\n", r.summary());   // "250 ok, 6 failed"

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <iterator>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <tw/deadline.hpp>
#include <tw/errors.hpp>
#include <tw/run.hpp>
#include <tw/sync.hpp>
#include <tw/task.hpp>

namespace tw {

struct fan_out_progress {
    std::size_t total = 0;
    std::size_t done = 0;  // finished, successfully or not
    std::size_t failed = 0;
    std::size_t in_flight = 0;
};

// Every field has a default member initializer, so designated initializers
// may name any subset ({.concurrency = 64}) without -Wextra's
// missing-field-initializers warning.
struct fan_out_options {
    std::size_t concurrency = 0;                            // 0: unlimited
    clock::duration deadline = clock::duration::max();      // for the whole fan-out
    std::function<void(const fan_out_progress&)> progress{};  // after each item
    std::string name = "fan_out";                           // fibers are named NAME[i]
};

// One item's outcome: a value or the exception its call ended with.
template <class T>
class outcome {
public:
    bool ok() const noexcept { return !error_ && started_; }
    const std::exception_ptr& error() const noexcept { return error_; }
    // The value, or rethrows the item's exception.
    std::add_lvalue_reference_t<const T> value() const {
        if (error_) std::rethrow_exception(error_);
        if constexpr (!std::is_void_v<T>) return *value_;
    }
    std::string error_message() const { return describe(error_); }

    // For fan_out.
    template <class F>
    void capture(F&& f) noexcept {
        started_ = true;
        try {
            if constexpr (std::is_void_v<T>)
                f();
            else
                value_.emplace(f());
        } catch (...) {
            error_ = std::current_exception();
        }
    }
    void fail(std::exception_ptr e) noexcept {
        started_ = true;
        error_ = std::move(e);
    }

private:
    bool started_ = false;
    std::exception_ptr error_;
    std::conditional_t<std::is_void_v<T>, std::monostate, std::optional<T>> value_{};
};

template <class T>
struct fan_out_result {
    std::vector<outcome<T>> outcomes;  // in input order
    std::size_t succeeded = 0;
    std::size_t failed = 0;

    bool all_ok() const noexcept { return failed == 0; }
    // "N ok, M failed"
    std::string summary() const { return std::to_string(succeeded) + " ok, " + std::to_string(failed) + " failed"; }
    // All values in order; rethrows the first failure.
    auto values() const {
        if constexpr (std::is_void_v<T>) {
            for (auto& o : outcomes) o.value();
        } else {
            std::vector<T> v;
            v.reserve(outcomes.size());
            for (auto& o : outcomes) v.push_back(o.value());
            return v;
        }
    }
};

namespace detail {
// Waits for every task, even if the waiting fiber is cancelled meanwhile:
// the children reference the caller's stack.
template <class Tasks>
void join_all(Tasks& tasks) noexcept {
    cancellation_shield shield;
    for (auto& t : tasks)
        if (t.valid()) try {
                t.wait();
            } catch (...) {
            }
}
}  // namespace detail

namespace detail {
// Whether fan_out can point at the range's own elements: a forward range's
// lvalue references stay valid after the iterator moves on. A prvalue (iota,
// transform) dies with its full-expression, and an input range's reference
// may name one cache that the next increment overwrites (istream views).
template <class Range>
inline constexpr bool fan_out_by_reference =
    std::ranges::forward_range<Range> && std::is_lvalue_reference_v<std::ranges::range_reference_t<Range>>;

// What f is called with: the element itself, or fan_out's own copy as an rvalue.
template <class Range>
using fan_out_arg_t = std::conditional_t<fan_out_by_reference<Range>, std::ranges::range_reference_t<Range>,
                                         std::ranges::range_value_t<Range>&&>;
}  // namespace detail

template <std::ranges::input_range Range, class F, class T = std::invoke_result_t<F&, detail::fan_out_arg_t<Range>>>
fan_out_result<T> fan_out(Range&& items, F f, fan_out_options opts = {}) {
    if (!detail::current_fiber()) return tw::run([&] { return fan_out(items, std::move(f), std::move(opts)); });

    // Every element is read before the first call starts: the calls run
    // concurrently, and an input range can only be walked once, in order.
    constexpr bool by_reference = detail::fan_out_by_reference<Range>;
    using element = std::conditional_t<by_reference, std::remove_reference_t<std::ranges::range_reference_t<Range>>*,
                                       std::ranges::range_value_t<Range>>;
    std::vector<element> elements;
    if constexpr (std::ranges::sized_range<Range>) elements.reserve(static_cast<std::size_t>(std::ranges::size(items)));
    for (auto&& it : items) {
        if constexpr (by_reference)
            elements.push_back(std::addressof(it));
        else
            elements.emplace_back(std::forward<decltype(it)>(it));  // moves prvalues and T&&, copies lvalues
    }
    // Each element is used by exactly one call, so moving it out is safe.
    auto call = [&](std::size_t i) -> T {
        if constexpr (by_reference)
            return std::invoke(f, *elements[i]);
        else
            return std::invoke(f, std::move(elements[i]));
    };
    const std::size_t n = elements.size();
    fan_out_result<T> result;
    result.outcomes.resize(n);
    const auto until = tw::deadline::after(opts.deadline).time_point();
    fan_out_progress prog;
    prog.total = n;
    semaphore slots(opts.concurrency ? opts.concurrency : (n ? n : 1), opts.name + " slots");
    std::vector<task<void>> tasks;
    tasks.reserve(n);

    auto finished = [&](bool ok) {
        ++prog.done;
        if (!ok) ++prog.failed;
        --prog.in_flight;
        if (opts.progress) try {
                opts.progress(prog);
            } catch (...) {
            }
    };
    try {
        for (std::size_t i = 0; i < n; ++i) {
            if (clock::now() >= until) {
                for (; i < n; ++i) {
                    result.outcomes[i].fail(std::make_exception_ptr(timeout_error(opts.name + ": deadline passed before this item started")));
                    ++prog.in_flight;
                    finished(false);
                }
                break;
            }
            slots.acquire();
            ++prog.in_flight;
            tasks.push_back(spawn(spawn_options{opts.name + "[" + std::to_string(i) + "]", 0}, [&, i] {
                {
                    deadline_scope d(until);
                    result.outcomes[i].capture([&]() -> T { return call(i); });
                }
                finished(result.outcomes[i].ok());
                slots.release();
            }));
        }
        for (auto& t : tasks) t.wait();
    } catch (...) {
        // The caller was cancelled (or ran out of memory): its children were
        // cancelled with it; wait until they have unwound, then report.
        for (auto& t : tasks) t.cancel("fan-out cancelled");
        detail::join_all(tasks);
        throw;
    }
    for (auto& o : result.outcomes) (o.ok() ? result.succeeded : result.failed)++;
    return result;
}

namespace detail {
template <class T>
using value_or_monostate = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class F>
auto call_to_value(F& f) {
    if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
        f();
        return std::monostate{};
    } else {
        return f();
    }
}
}  // namespace detail

template <class... F>
std::tuple<detail::value_or_monostate<std::invoke_result_t<F&>>...> when_all(F... fs) {
    if (!detail::current_fiber()) return tw::run([&] { return when_all(std::move(fs)...); });
    std::exception_ptr first;
    auto tasks = std::make_tuple(spawn([&fs] { return detail::call_to_value(fs); })...);
    try {
        std::apply([](auto&... ts) { (ts.wait(), ...); }, tasks);
    } catch (...) {
        // The caller itself is being cancelled: the calls go with it.
        std::apply([](auto&... ts) { (ts.cancel("when_all cancelled"), ...); }, tasks);
        cancellation_shield shield;
        auto quiet_wait = [](auto& t) {
            try {
                t.wait();
            } catch (...) {
            }
        };
        std::apply([&](auto&... ts) { (quiet_wait(ts), ...); }, tasks);
        throw;
    }
    auto get = [&first](auto& t) {
        using V = decltype(t.get());
        try {
            return std::optional<V>(t.get());
        } catch (...) {
            if (!first) first = std::current_exception();
            return std::optional<V>();
        }
    };
    auto results = std::apply([&](auto&... ts) { return std::make_tuple(get(ts)...); }, tasks);
    if (first) std::rethrow_exception(first);
    return std::apply([](auto&... r) { return std::make_tuple(std::move(*r)...); }, results);
}

template <class F0, class... F, class V = detail::value_or_monostate<std::invoke_result_t<F0&>>>
std::pair<std::size_t, V> when_any(F0 f0, F... fs) {
    using T = std::invoke_result_t<F0&>;
    static_assert((std::is_same_v<T, std::invoke_result_t<F&>> && ...), "when_any: all callables must return the same type");
    if (!detail::current_fiber()) return tw::run([&] { return when_any(std::move(f0), std::move(fs)...); });
    constexpr std::size_t n = 1 + sizeof...(F);
    std::vector<std::function<V()>> calls{[&f0] { return detail::call_to_value(f0); }, [&fs] { return detail::call_to_value(fs); }...};
    std::vector<std::optional<V>> values(n);
    std::vector<std::exception_ptr> errors(n);
    std::vector<std::size_t> order;
    semaphore finished(0, "when_any");
    std::vector<task<void>> tasks;
    try {
        for (std::size_t i = 0; i < n; ++i)
            tasks.push_back(spawn([&, i] {
                try {
                    values[i].emplace(calls[i]());
                } catch (...) {
                    errors[i] = std::current_exception();
                }
                order.push_back(i);
                finished.release();
            }));
        for (std::size_t k = 0; k < n; ++k) {
            finished.acquire();
            const std::size_t i = order[k];
            if (values[i]) {
                for (auto& t : tasks) t.cancel("when_any: another call won");
                detail::join_all(tasks);
                return std::pair<std::size_t, V>(i, std::move(*values[i]));
            }
        }
    } catch (...) {
        for (auto& t : tasks) t.cancel("when_any cancelled");
        detail::join_all(tasks);
        throw;
    }
    std::rethrow_exception(errors[order.back()]);
}

}  // namespace tw
