#pragma once
// tw::runtime: worker threads, each running one Asio io_context and one
// Boost.Fiber scheduler (tw's own algorithm) — or a guest on a host's
// single-threaded io_context. Fibers stay on the thread that created them.
//
// Most programs never name a runtime: tw::run / tw::spawn from a plain thread
// use tw::default_runtime(), created on first use with one worker thread.
//
// Shutdown (destructor or shutdown()): stop accepting new work, cancel every
// fiber with a reason, wait for them up to a deadline (stragglers are reported
// and their threads abandoned rather than hanging the program), then stop I/O.
// Runtimes can be created and destroyed any number of times in one process.
//
// Thread safety: all members may be called from any thread, except that the
// destructor must not run on one of the runtime's own fibers or threads.
//
// Example (owned threads):
//   tw::runtime rt({.threads = 4});
//   int v = rt.run([] { return probe_all_boards(); });
//
// Example (guest on a host's io_context, on the thread that runs it):
//   boost::asio::io_context host;
//   tw::runtime rt(host);
//   tw::async_run(rt, [] { return tune(); }, [](std::exception_ptr e, int n) { ... });
//   host.run();

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <boost/asio/io_context.hpp>

#include <tw/detail/task_base.hpp>
#include <tw/task.hpp>

namespace tw {

struct runtime_options {
    std::size_t threads = 1;                  // worker threads (ignored for a guest runtime)
    std::size_t stack_size = 128 * 1024;      // default fiber stack (virtual; RSS is what is touched)
    std::size_t guarded_stacks = 0;           // stacks with guard pages; 0: from vm.max_map_count
    std::chrono::milliseconds join_deadline{5000};   // how long shutdown waits for cancelled fibers
    // The watchdog: a fiber that holds its worker's thread this long without
    // suspending (a long computation, a std::mutex, a blocking vendor call)
    // is reported by name while it still blocks. 0: no watchdog.
    std::chrono::milliseconds slow_fiber_warning{1000};
    std::string name = "tw";                  // thread names: NAME-0, NAME-1, ...
    // Receives errors of detached tasks nobody observed; default: one line on stderr.
    std::function<void(std::string_view fiber, std::exception_ptr)> on_unhandled_error{};
    // Receives warnings (slow fibers, stack fallbacks, stragglers); default: stderr.
    std::function<void(std::string_view message)> on_warning{};
};

struct spawn_options {
    std::string name{};           // shown in the fiber dump and in warnings
    std::size_t stack_size = 0;   // 0: the runtime's default
    // true: a child of the spawning fiber (inherits its deadline and is
    // cancelled with it). false: a root fiber, e.g. a server's accept loop
    // that must outlive the deadline of the fiber that started it; it still
    // runs on the spawning fiber's worker and is cancelled by its task
    // handle or the runtime's shutdown.
    bool child = true;
};

// Counters of a runtime, summed over its workers.
struct runtime_counters {
    std::size_t workers = 0;
    std::size_t live_fibers = 0;
    std::size_t switches = 0;          // fibers resumed by the schedulers
    std::size_t ready_fibers = 0;      // ready-queue depth when sampled
    std::size_t guarded_stacks = 0;    // stacks in use or pooled that have a guard page
    std::size_t pooled_stacks = 0;     // free stacks kept for reuse
    std::chrono::microseconds loop_lag{0};  // worst time for a posted probe to run
    // Workers whose loop did not answer within a second, e.g.
    // "worker 0 blocked for 5.0 s in fiber 'x'".
    std::vector<std::string> blocked{};
};

// One fiber as seen by dump().
struct fiber_info {
    std::string name;
    std::size_t worker = 0;
    // "running", "ready", "waiting", or "blocked": the fiber has held its
    // worker's thread for blocked_for without suspending, so the worker could
    // not list its other fibers.
    std::string state;
    std::string waiting_on;      // what it is blocked on, if waiting
    std::chrono::milliseconds waiting_for{0};
    std::chrono::milliseconds age{0};
    std::optional<std::chrono::milliseconds> deadline_in;  // negative: already passed
    bool cancel_requested = false;
    std::chrono::milliseconds blocked_for{0};
};

class runtime {
public:
    explicit runtime(runtime_options options = {});
    // Guest mode: run fibers from handlers on `host`, which the caller runs on
    // one thread; construct on that thread.
    explicit runtime(boost::asio::io_context& host, runtime_options options = {});
    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;
    ~runtime();

    // Ordered shutdown (see above); idempotent. Returns false if some fibers
    // ignored cancellation past the join deadline.
    bool shutdown(std::string reason = "runtime shutting down");

    // Runs f(args...) on a new fiber of this runtime and returns its task.
    template <class F, class... A>
    auto spawn(F&& f, A&&... a) {
        return spawn(spawn_options{}, std::forward<F>(f), std::forward<A>(a)...);
    }
    template <class F, class... A>
    auto spawn(spawn_options opts, F&& f, A&&... a) {
        auto bound = [f = std::forward<F>(f), ... a = std::forward<A>(a)]() mutable { return std::invoke(std::move(f), std::move(a)...); };
        using T = std::invoke_result_t<decltype(bound)&>;
        auto* st = new detail::task_impl<T, decltype(bound)>(std::move(bound));
        task<T> t(st);
        st->add_ref();  // the fiber's reference
        detail::launch(*impl_, st, {std::move(opts.name), opts.stack_size, opts.child});
        return t;
    }

    // Runs f(args...) to completion: inline when called on one of this
    // runtime's fibers, else on a new fiber while the calling thread blocks.
    // f and the arguments are passed by reference (spawn copies them).
    template <class F, class... A>
    auto run(F&& f, A&&... a) -> std::invoke_result_t<F, A...>;

    runtime_counters counters() const;
    std::vector<fiber_info> dump() const;
    // dump() as text, one fiber per line.
    std::string dump_text() const;

    // The executor of worker i, for I/O objects owned by code outside fibers.
    boost::asio::io_context::executor_type executor(std::size_t worker = 0) const;
    std::size_t workers() const;
    const runtime_options& options() const;


private:
    std::unique_ptr<detail::runtime_impl> impl_;
};

// The runtime plain threads use, created on first use (one worker thread) and
// shut down at exit.
runtime& default_runtime();

// Sets the options of the default runtime (threads, watchdog, warning and
// error handlers, ...). Call it before the first tw::run / tw::spawn from a
// plain thread creates the default runtime; after that it throws usage_error.
// The thread names default to "tw-default".
//
// Example:
//   int main() {
//       tw::configure_default_runtime({.threads = 2, .slow_fiber_warning = 5s});
//       tw::run(tune_all);
//   }
void configure_default_runtime(runtime_options options);

// The runtime of the calling fiber or loop thread, else the default runtime.
runtime& current_runtime();

namespace detail {
bool on_fiber_of(const runtime_impl& rt) noexcept;
}

template <class F, class... A>
auto runtime::run(F&& f, A&&... a) -> std::invoke_result_t<F, A...> {
    if (detail::on_fiber_of(*impl_)) return std::invoke(std::forward<F>(f), std::forward<A>(a)...);
    detail::check_blocking_allowed("tw::run");
    // Blocks until the fiber is done (if get() throws, the task's destructor
    // cancels the fiber and waits for it), so the fiber may refer to f and
    // the arguments on the caller's stack: they are passed by reference.
    return spawn([&] { return std::invoke(std::forward<F>(f), std::forward<A>(a)...); }).get();
}

}  // namespace tw
