#pragma once
// The entry points: one blocking function, called three ways.
//
//   tw::run(f, args...)        synchronous: returns f's value or rethrows.
//                              On a tw fiber it runs inline (other fibers keep
//                              going while f waits on I/O); on a plain thread it
//                              runs on a fiber of the default runtime and blocks
//                              only that thread.
//   tw::spawn(f, args...)      asynchronous: a tw::task<T> on a new fiber —
//                              of the caller's runtime and worker when called on
//                              a fiber (a child: it inherits deadline and
//                              cancellation), else of the default runtime.
//   tw::async_run(f, token)    an Asio asynchronous operation with signature
//                              void(std::exception_ptr, T): callbacks,
//                              use_future, use_awaitable, as_tuple(yield_context).
//                              This is the form for Asio handlers, C++20
//                              coroutines and host services.
//   tw::tworoutine f = ...;    the seed's wrapper: f(x) is run, (~f)(x) is spawn.
//
// Arguments: tw::run blocks until f returns, so it passes f and its arguments
// on by reference, as a plain call would: `void f(int&)` sees the caller's int.
// tw::spawn (and async_run) may outlive the caller's statement, so like
// std::thread it decay-copies f and every argument into the new fiber and
// hands them to f as rvalues; pass std::ref(x) / std::cref(x) to share an
// object instead, and keep it alive until the task is done.
//
// Errors: tw::run from an Asio handler or coroutine on a runtime's own loop
// thread would deadlock and throws tw::usage_error naming async_run instead.
//
// g++ 12: inside a coroutine, pass async_run a named callable
// (`auto job = [s] {...}; co_await tw::async_run(rt, std::move(job), use_awaitable);`),
// not a capturing lambda written in the co_await expression itself: g++ 12
// destroys such a temporary twice (a compiler bug that plain Asio shows too,
// chriskohlhoff/asio#1007). examples/host_service.cpp does it this way.
//
// Example:
//   tw::tworoutine double_slowly = [](int x) { tw::sleep_for(100ms); return 2 * x; };
//   int a = double_slowly(1);            // 2, synchronously
//   tw::task<int> b = (~double_slowly)(2);
//   int c = b.get();                     // 4

#include <concepts>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/executor_work_guard.hpp>

#include <tw/runtime.hpp>

namespace boost::asio {
// Declared here only to recognise it as a token (see async_run): spawn.hpp
// itself would pull Boost.Context's coroutine machinery into every user of run.hpp.
template <typename Executor>
class basic_yield_context;
}  // namespace boost::asio

namespace tw {

template <class F, class... A>
auto run(F&& f, A&&... a) -> std::invoke_result_t<F, A...> {
    if (detail::current_fiber()) return std::invoke(std::forward<F>(f), std::forward<A>(a)...);
    detail::check_blocking_allowed("tw::run");
    // The fiber may refer to f and the arguments on this thread's stack: get()
    // returns only once the fiber is done, and if get() itself throws, the
    // task's destructor cancels the fiber and waits for it, uncancellably.
    return default_runtime().spawn([&] { return std::invoke(std::forward<F>(f), std::forward<A>(a)...); }).get();
}

template <class F, class... A>
auto spawn(F&& f, A&&... a) {
    return current_runtime().spawn(std::forward<F>(f), std::forward<A>(a)...);
}

template <class F, class... A>
auto spawn(spawn_options opts, F&& f, A&&... a) {
    return current_runtime().spawn(std::move(opts), std::forward<F>(f), std::forward<A>(a)...);
}

namespace detail {
template <class T>
struct async_run_sig {
    using type = void(std::exception_ptr, T);
};
template <>
struct async_run_sig<void> {
    using type = void(std::exception_ptr);
};

template <class Token>
inline constexpr bool is_yield_context = false;
template <class Executor>
inline constexpr bool is_yield_context<boost::asio::basic_yield_context<Executor>> = true;
}  // namespace detail

// Runs f on a fiber of rt and completes `token` with (exception_ptr, value).
// Cancelling the operation through the token's cancellation slot cancels the
// fiber. Never blocks the caller.
//
// A stackful coroutine passes boost::asio::as_tuple(yield), not yield itself:
// see the overload below.
template <class F, class Token>
auto async_run(runtime& rt, F f, Token&& token) {
    using T = std::invoke_result_t<F&>;
    using Sig = typename detail::async_run_sig<T>::type;
    return boost::asio::async_initiate<Token, Sig>(
        [&rt](auto handler, F f) {
            auto slot = boost::asio::get_associated_cancellation_slot(handler);
            // Handlers without an executor of their own complete as handlers on
            // the runtime's loop, never on the fiber: code in a completion runs
            // where Asio code expects to run.
            auto ex = boost::asio::get_associated_executor(handler, rt.executor(0));
            auto work = boost::asio::make_work_guard(ex);
            auto t = rt.spawn([f = std::move(f), handler = std::move(handler), work = std::move(work)]() mutable {
                std::exception_ptr ep;
                auto ex = work.get_executor();
                if constexpr (std::is_void_v<T>) {
                    try {
                        f();
                    } catch (...) {
                        ep = std::current_exception();
                    }
                    boost::asio::post(ex, [h = std::move(handler), ep]() mutable { std::move(h)(ep); });
                } else {
                    std::optional<T> v;
                    try {
                        v.emplace(f());
                    } catch (...) {
                        ep = std::current_exception();
                    }
                    boost::asio::post(ex, [h = std::move(handler), ep, v = std::move(v)]() mutable {
                        std::move(h)(ep, v ? std::move(*v) : T{});
                    });
                }
                work.reset();
            });
            if (slot.is_connected()) slot.template emplace<detail::task_canceller>(t.state());
            t.detach();  // errors are delivered to the handler, never lost
        },
        token, std::move(f));
}

// A plain yield_context (or yield[ec]) as the token: Boost 1.81's spawn
// mishandles both of async_run's signatures (boost/asio/impl/spawn.hpp). For
// void(std::exception_ptr, T) its handler assigns `&ex` to an exception_ptr
// and does not compile, with errors from deep inside Asio; for
// void(std::exception_ptr) it compiles, but tests the pointer to the
// exception_ptr instead of the exception_ptr and so rethrows a null one even
// on success, which crashes. This more constrained overload is chosen instead
// of the one above, so the error the caller sees says what to write. (The
// static_assert's condition must depend on Token so that only a call fires
// it; here it is always false.)
template <class F, class Token>
    requires detail::is_yield_context<std::decay_t<Token>>
void async_run(runtime&, F, Token&&) {
    static_assert(!detail::is_yield_context<std::decay_t<Token>>,
                  "tw::async_run: Boost 1.81's yield_context cannot receive async_run's std::exception_ptr; "
                  "pass boost::asio::as_tuple(yield) and get back std::tuple<std::exception_ptr, T> "
                  "(std::tuple<std::exception_ptr> for a void job)");
}

template <class F, class Token>
auto async_run(F f, Token&& token) {
    return async_run(current_runtime(), std::move(f), std::forward<Token>(token));
}

// The seed's wrapper: a plain blocking callable that can also be started
// asynchronously.  f(args) == tw::run(f, args);  (~f)(args) == tw::spawn(f, args).
//
// f(args) calls the tworoutine's own callable, never a copy, so a mutable
// callable keeps its state from call to call, and a move-only one works. It
// is const when the callable can be called const.
// (~f)(args) gives the new fiber its own copy of the callable when it can be
// copied (the task may outlive the tworoutine). A move-only callable cannot
// be copied: the fiber then calls the tworoutine's own one, so the tworoutine
// must outlive its tasks (get() or destroy them first).
//
// Thread safety: like the callable's; a tworoutine whose callable has state
// is used by one fiber or thread at a time.
//
// Example:
//   tw::tworoutine next_id = [n = 0]() mutable { return ++n; };
//   next_id();  // 1
//   next_id();  // 2
template <class F>
class tworoutine {
public:
    tworoutine(F f) : f_(std::move(f)) {}

    template <class... A>
        requires std::invocable<F&, A...>
    auto operator()(A&&... a) {
        return tw::run(f_, std::forward<A>(a)...);
    }
    template <class... A>
        requires std::invocable<const F&, A...>
    auto operator()(A&&... a) const {
        return tw::run(f_, std::forward<A>(a)...);
    }

    // (~f): the asynchronous form of f (or of const f: then G is const F).
    template <class G>
    class async_form {
    public:
        explicit async_form(G& f) : f_(&f) {}
        template <class... A>
        auto operator()(A&&... a) const {
            if constexpr (std::is_copy_constructible_v<F>)
                return tw::spawn(*f_, std::forward<A>(a)...);  // spawn copies the callable
            else
                return tw::spawn(std::ref(*f_), std::forward<A>(a)...);
        }

    private:
        G* f_;
    };
    async_form<F> operator~() { return async_form<F>(f_); }
    async_form<const F> operator~() const { return async_form<const F>(f_); }

private:
    F f_;
};

}  // namespace tw
