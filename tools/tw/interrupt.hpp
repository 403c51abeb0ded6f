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

template <class F>
bool run_interruptible(tw::runtime& rt, F&& work) {
    bool interrupted = false;
    std::exception_ptr error;
    rt.run([&] {
        boost::asio::signal_set signals(tw::this_fiber::executor(), SIGINT, SIGTERM);
        auto job = tw::spawn([&] { work(); });
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
    if (error) std::rethrow_exception(error);
    return interrupted;
}

}  // namespace tw::cli
