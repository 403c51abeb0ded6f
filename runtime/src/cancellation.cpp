#include <tw/cancellation.hpp>

#include <tw/detail/fiber_state.hpp>

namespace tw {

cancellation_shield::cancellation_shield() : fs_(detail::current_fiber()) {
    if (fs_) fs_->push_shield();
}

cancellation_shield::~cancellation_shield() {
    if (fs_) fs_->pop_shield();
}

void check_cancelled() {
    if (auto* fs = detail::current_fiber()) fs->check();
}

}  // namespace tw
