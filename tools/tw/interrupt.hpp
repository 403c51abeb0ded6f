#pragma once
// run_interruptible: runs a command's work on a fiber of a tw::runtime and
// cancels it on SIGINT or SIGTERM (Ctrl-C), so that the work's fibers unwind
// (fan-outs rethrow cancelled_error, sockets close) and the command can still
// write its report and summary.
//
// Returns true if a signal cancelled the work. Rethrows the work's own
// exception otherwise; a cancelled_error caused by the signal is swallowed.
//
// Example:
//   tw::runtime rt({.threads = 1, .name = "tw-run"});
//   std::vector<outcome> out;
//   bool interrupted = run_interruptible(rt, [&] { out = tune_all(); });

#include <signal.h>

#include <csignal>
#include <exception>
#include <utility>

#include <boost/asio/signal_set.hpp>

#include <tw/deadline.hpp>
#include <tw/run.hpp>
#include <tw/runtime.hpp>
#include <tw/task.hpp>
#include <tw/yield.hpp>

namespace tw::cli {

namespace detail {
inline volatile std::sig_atomic_t early_interrupt = 0;
inline int early_interrupts_in_scope = 0;  // early_interrupts objects alive (main thread)
extern "C" inline void note_early_interrupt(int) { early_interrupt = 1; }
inline void note_interrupts(struct sigaction* old_int, struct sigaction* old_term) {
    struct sigaction sa {};
    sa.sa_handler = note_early_interrupt;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, old_int);
    ::sigaction(SIGTERM, &sa, old_term);
}
}  // namespace detail

// Keeps a Ctrl-C (SIGINT or SIGTERM) that arrives while a command starts up —
// simulated boards starting, before run_interruptible watches for signals —
// instead of letting it end the process with no summary: run_interruptible
// then cancels the work at once, and the command still prints its table and
// exits 1. Declare one at the top of a command that uses run_interruptible;
// the previous handlers come back when it goes.
class early_interrupts {
public:
    early_interrupts() {
        detail::early_interrupt = 0;
        detail::note_interrupts(&old_int_, &old_term_);
        ++detail::early_interrupts_in_scope;
    }
    early_interrupts(const early_interrupts&) = delete;
    early_interrupts& operator=(const early_interrupts&) = delete;
    ~early_interrupts() {
        --detail::early_interrupts_in_scope;
        ::sigaction(SIGINT, &old_int_, nullptr);
        ::sigaction(SIGTERM, &old_term_, nullptr);
    }

private:
    struct sigaction old_int_ {}, old_term_ {};
};

template <class F>
bool run_interruptible(tw::runtime& rt, F&& work) {
    bool interrupted = false;
    std::exception_ptr error;
    rt.run([&] {
        boost::asio::signal_set signals(tw::this_fiber::executor(), SIGINT, SIGTERM);
        auto job = tw::spawn([&] { work(); });
        // A signal before `signals` took over (early_interrupts kept it).
        if (detail::early_interrupt) {
            detail::early_interrupt = 0;
            interrupted = true;
            job.cancel("interrupted");
        }
        auto watcher = tw::spawn([&] {
            try {
                signals.async_wait(tw::yield);
                interrupted = true;
                job.cancel("interrupted");
            } catch (const std::exception&) {
                // cancelled below once the work is over: nothing to do
            }
        });
        try {
            job.get();
        } catch (...) {
            if (!interrupted) error = std::current_exception();
        }
        boost::system::error_code ec;
        signals.cancel(ec);
        watcher.cancel("work finished");
        try {
            watcher.wait();
        } catch (const std::exception&) {
        }
    });
    // Asio's signal_set, once gone, leaves SIGINT and SIGTERM at their default
    // action, not at the handler before it: a second Ctrl-C (or timeout(1),
    // which signals the command and then its process group) would kill the
    // command while it writes its table and report. While an early_interrupts
    // is in scope, signals are noted again until the command ends.
    if (detail::early_interrupts_in_scope) detail::note_interrupts(nullptr, nullptr);
    if (error) std::rethrow_exception(error);
    return interrupted;
}

}  // namespace tw::cli
