#pragma once
// tw::yield: the completion token that makes any Asio asynchronous operation
// look blocking on a tw fiber. The calling fiber suspends; the thread keeps
// running other fibers and I/O; the operation's result is returned.
//
//   std::size_t n = sock.async_read_some(buf, tw::yield);       // throws tw::io_error
//   boost::system::error_code ec;
//   sock.async_read_some(buf, tw::yield[ec]);                   // I/O errors in ec
//
// Cancellation and deadlines: the fiber's cancellation (task::cancel, a
// fan-out, a runtime shutdown) or its deadline (tw::deadline_scope) cancels
// the operation through its cancellation slot; the call then throws
// tw::cancelled_error or tw::timeout_error — also with yield[ec], because
// those are not I/O errors but orders to stop.
//
// Signatures: void(error_code, T...), void(exception_ptr, T...) (rethrown),
// and void(T...). Zero values return void, one returns it, more a tuple.
//
// Thread safety: the completion may run on any thread; the fiber is resumed
// on its own thread. Errors: usage_error when not called on a tw fiber.

#include <atomic>
#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <tw/detail/fiber_state.hpp>
#include <tw/detail/park.hpp>
#include <tw/errors.hpp>

namespace tw {

struct yield_t {
    boost::system::error_code* ec = nullptr;
    bool start_queued = false;
    // yield[ec]: report I/O errors in ec instead of throwing tw::io_error.
    constexpr yield_t operator[](boost::system::error_code& e) const noexcept { return yield_t{&e, start_queued}; }
    // yield.queued(): start the operation from the fiber's worker queue,
    // after the handlers already waiting there, instead of at once. For
    // reading a reply right after sending its request: started at once, Asio
    // first tries the read without waiting, and with a busy board that is a
    // system call that finds nothing (EAGAIN) on every exchange; started
    // after the other connections' queued work, the reply has had time to
    // arrive. It costs a post, not a fiber switch: the fiber stays parked
    // until the operation completes. Operations of other signatures than
    // void(error_code, T...) start at once.
    constexpr yield_t queued() const noexcept { return yield_t{ec, true}; }
};

inline constexpr yield_t yield{};

namespace detail {

// Shared between the suspended fiber (which owns it on its stack) and the
// completion handler; `state` closes the window between "operation done" and
// "fiber suspended":
// * pending → parked (the fiber, just before it suspends) or → done (the
//   handler). Whoever comes second sees the other's mark.
// * A handler that finds `pending` ran before the fiber parked (inline, or on
//   another thread): it only records the result and the fiber never suspends.
// * A handler that finds `parked` wakes the fiber. On the fiber's own thread
//   the fiber has certainly switched away (one thread runs one context at a
//   time). On another thread it may still be switching: then it is queued
//   with schedule_from_remote, which its thread only looks at from its
//   dispatcher, i.e. after the switch. So no lock is needed.
struct yield_core final : wait_point {
    enum : int { pending, parked, done };
    std::atomic<int> state{pending};
    boost::fibers::context* ctx = nullptr;
    fiber_state* fs = nullptr;
    bool interrupted = false;  // home thread only, like interrupt()

    void interrupt() noexcept override {
        interrupted = true;  // for an operation not started yet (yield.queued())
        fs->signal.emit(boost::asio::cancellation_type::terminal);
    }

    // The fast paths stay inline; switching fibers is out of line (yield.cpp)
    // so that code compiled against these headers — a plugin's included —
    // never calls Boost.Fiber itself: tw's static Boost.Fiber has hidden
    // symbols, and only tw's own functions are exported to plugins.
    void finish() noexcept {
        // The usual case: a handler run by the fiber's home worker from its
        // dispatcher, which runs only while the fiber is switched away, i.e.
        // parked here; nothing else touches `state` then, so a plain store
        // will do. The exchange below is a locked instruction (~20 cycles that
        // instruction counts do not show) needed only when the handler may
        // race the fiber's wait() from another thread, or runs inline.
        if (fs->signals().can_resume_inline() && state.load(std::memory_order_relaxed) == parked) {
            state.store(done, std::memory_order_relaxed);
            resume_here();
            return;
        }
        if (state.exchange(done, std::memory_order_acq_rel) != parked) return;
        resume_parked();
    }

    void wait(const char* what) {
        int expected = pending;
        if (!state.compare_exchange_strong(expected, parked, std::memory_order_acq_rel)) return;  // already done
        suspend_parked(what);
    }

private:
    void resume_parked() noexcept;
    void resume_here() noexcept;  // resume_parked from the home worker's dispatcher
    void suspend_parked(const char* what);
};

template <class... Ts>
struct yield_values {
    using result_type = std::conditional_t<sizeof...(Ts) == 0, void,
                                           std::conditional_t<sizeof...(Ts) == 1, std::tuple_element_t<0, std::tuple<Ts..., int>>, std::tuple<Ts...>>>;
    std::optional<std::tuple<Ts...>> values;
    result_type take() {
        if constexpr (sizeof...(Ts) == 1)
            return std::move(std::get<0>(*values));
        else if constexpr (sizeof...(Ts) > 1)
            return std::move(*values);
    }
};

// Lead: what the first completion argument means.
enum class lead { none, error_code, exception };

template <lead L, class... Ts>
struct yield_handler {
    yield_core* core;
    yield_values<Ts...>* out;
    boost::system::error_code* ec;
    std::exception_ptr* ex;

    using cancellation_slot_type = boost::asio::cancellation_slot;
    cancellation_slot_type get_cancellation_slot() const noexcept { return core->fs->signal.slot(); }

    yield_handler(yield_core* c, yield_values<Ts...>* o, boost::system::error_code* e, std::exception_ptr* x) noexcept
        : core(c), out(o), ec(e), ex(x) {}
    yield_handler(yield_handler&& o) noexcept : core(std::exchange(o.core, nullptr)), out(o.out), ec(o.ec), ex(o.ex) {}
    yield_handler(const yield_handler&) = delete;
    // A handler destroyed without being called (its io_context went away)
    // must not leave the fiber parked forever.
    ~yield_handler() {
        if (core) {
            if (ec) *ec = boost::asio::error::operation_aborted;
            std::exchange(core, nullptr)->finish();
        }
    }

    template <class... Args>
    void operator()(Args&&... args) {
        deliver(std::forward<Args>(args)...);
        std::exchange(core, nullptr)->finish();
    }

private:
    template <class First, class... Rest>
    void deliver(First&& first, Rest&&... rest) {
        if constexpr (L == lead::error_code) {
            *ec = first;
            out->values.emplace(std::forward<Rest>(rest)...);
        } else if constexpr (L == lead::exception) {
            *ex = first;
            out->values.emplace(std::forward<Rest>(rest)...);
        } else {
            out->values.emplace(std::forward<First>(first), std::forward<Rest>(rest)...);
        }
    }
    void deliver() { out->values.emplace(); }
};

// What yield.queued() posts to the fiber's worker: the handler, and the
// initiation to run with it, which lives on the parked fiber's stack (the
// fiber does not return before the handler has run or been destroyed).
template <class Handler>
struct queued_start {
    Handler handler;
    void (*start)(void* initiation, Handler&& h);
    void* initiation;

    void operator()() {
        // A cancellation or deadline that came while this waited in the queue
        // found no operation to cancel; end the wait as the cancelled
        // operation would have, without starting it: a handler destroyed
        // uncalled reports operation_aborted.
        if (handler.core->interrupted) {
            Handler dropped(std::move(handler));
            return;
        }
        start(initiation, std::move(handler));
    }
};

template <class... Args>
struct yield_signature;

template <class... Ts>
struct yield_signature<boost::system::error_code, Ts...> {
    static constexpr lead kind = lead::error_code;
    using values = yield_values<std::decay_t<Ts>...>;
    using handler = yield_handler<lead::error_code, std::decay_t<Ts>...>;
};
template <class... Ts>
struct yield_signature<const boost::system::error_code&, Ts...> : yield_signature<boost::system::error_code, Ts...> {};
template <class... Ts>
struct yield_signature<std::exception_ptr, Ts...> {
    static constexpr lead kind = lead::exception;
    using values = yield_values<std::decay_t<Ts>...>;
    using handler = yield_handler<lead::exception, std::decay_t<Ts>...>;
};
template <class... Ts>
struct yield_signature {
    static constexpr lead kind = lead::none;
    using values = yield_values<std::decay_t<Ts>...>;
    using handler = yield_handler<lead::none, std::decay_t<Ts>...>;
};

fiber_state& yield_fiber();  // the calling tw fiber, or usage_error

}  // namespace detail
}  // namespace tw

template <class R, class... Args>
class boost::asio::async_result<tw::yield_t, R(Args...)> {
    using sig = tw::detail::yield_signature<Args...>;

public:
    using return_type = typename sig::values::result_type;

    template <class Initiation, class... InitArgs>
    static return_type initiate(Initiation&& init, tw::yield_t token, InitArgs&&... args) {
        tw::detail::fiber_state& fs = tw::detail::yield_fiber();
        fs.check();
        tw::detail::yield_core core;
        core.ctx = fs.context();
        core.fs = &fs;
        typename sig::values out;
        boost::system::error_code ec;
        std::exception_ptr ex;
        using handler = typename sig::handler;
        auto start = [&](handler&& h) { std::move(init)(std::move(h), std::forward<InitArgs>(args)...); };
        if (sig::kind == tw::detail::lead::error_code && token.start_queued) {
            using start_type = decltype(start);
            boost::asio::post(*fs.signals().io,
                              tw::detail::queued_start<handler>{handler(&core, &out, &ec, &ex),
                                                                [](void* s, handler&& h) { (*static_cast<start_type*>(s))(std::move(h)); },
                                                                &start});
        } else {
            start(handler(&core, &out, &ec, &ex));
        }
        core.wait("asio operation");
        if constexpr (sig::kind == tw::detail::lead::error_code) {
            if (ec) {
                if (ec == boost::asio::error::operation_aborted) fs.check_aborted();
                if (token.ec)
                    *token.ec = ec;
                else
                    throw tw::io_error(std::error_code(ec));
            } else if (token.ec) {
                token.ec->clear();
            }
        } else if constexpr (sig::kind == tw::detail::lead::exception) {
            if (ex) std::rethrow_exception(ex);
        }
        if (!out.values) {
            // Handler destroyed without a result: its executor went away.
            fs.check();
            throw tw::io_error(boost::system::error_code(boost::asio::error::operation_aborted), "operation abandoned");
        }
        return out.take();
    }
};
