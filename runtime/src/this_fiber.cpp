#include <tw/this_fiber.hpp>

#include <thread>

#include <boost/asio/steady_timer.hpp>
#include <boost/fiber/operations.hpp>

#include <tw/detail/fiber_state.hpp>
#include <tw/errors.hpp>
#include <tw/yield.hpp>

#include "worker.hpp"

namespace tw {

void sleep_until(clock::time_point tp) {
    auto* fs = detail::current_fiber();
    if (!fs) {
        detail::check_blocking_allowed("tw::sleep_until");
        if (tp > detail::thread_deadline()) {
            std::this_thread::sleep_until(detail::thread_deadline());
            throw timeout_error("deadline passed");
        }
        std::this_thread::sleep_until(tp);
        return;
    }
    boost::asio::steady_timer t(fs->home().io(), tp);
    t.async_wait(tw::yield);
}

namespace this_fiber {
void yield() {
    auto* fs = detail::current_fiber();
    if (fs) fs->check();
    detail::eh_stash eh;
    boost::this_fiber::yield();
}
std::string_view name() noexcept {
    auto* fs = detail::current_fiber();
    return fs ? std::string_view(fs->name()) : std::string_view();
}
boost::asio::io_context::executor_type executor() {
    auto* fs = detail::current_fiber();
    if (!fs)
        throw usage_error("tw::this_fiber::executor() called outside a tw fiber: use tw::runtime::executor(i) "
                          "on plain threads and in handlers");
    return fs->home().io().get_executor();
}
}  // namespace this_fiber

}  // namespace tw
