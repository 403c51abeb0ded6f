// deadline_scope and current_deadline: a fiber's deadline lives in its
// fiber_state, a plain thread's in a thread_local.
#include <tw/deadline.hpp>

#include <algorithm>

#include <tw/detail/fiber_state.hpp>

namespace tw {

namespace detail {
// A plain thread's deadline (deadline_scope outside a fiber): fibers that
// tw::run or tw::spawn start from the thread inherit it.
thread_local clock::time_point t_thread_deadline = clock::time_point::max();
clock::time_point thread_deadline() noexcept { return t_thread_deadline; }
}  // namespace detail

deadline_scope::deadline_scope(clock::time_point until) : fs_(detail::current_fiber()) {
    if (!fs_) {
        saved_ = detail::t_thread_deadline;
        in_force_ = std::min(saved_, until);
        detail::t_thread_deadline = in_force_;
        return;
    }
    saved_ = fs_->deadline();
    in_force_ = saved_;
    if (until < saved_) fs_->set_deadline(in_force_ = until);
}

deadline_scope::~deadline_scope() {
    if (!fs_)
        detail::t_thread_deadline = saved_;
    else if (fs_->deadline() != saved_)
        fs_->set_deadline(saved_);
}

clock::time_point current_deadline() noexcept {
    auto* fs = detail::current_fiber();
    return fs ? fs->deadline() : detail::t_thread_deadline;
}

}  // namespace tw
