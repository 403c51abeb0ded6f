#include <tw/sync.hpp>

#include <tw/errors.hpp>

namespace tw {

semaphore::semaphore(std::size_t initial, std::string name) : count_(initial), name_(std::move(name)) {}

semaphore::~semaphore() = default;

void semaphore::acquire() { acquire_until(clock::time_point::max()); }

bool semaphore::try_acquire() noexcept {
    detail::spinlock_lock lk(mtx_);
    if (count_ == 0 || !waiters_.empty()) return false;
    --count_;
    return true;
}

bool semaphore::try_acquire_until(clock::time_point tp) { return acquire_until(tp); }

bool semaphore::acquire_until(clock::time_point tp) {
    detail::fiber_state* fs = detail::current_fiber();
    if (fs) fs->check();
    {
        detail::spinlock_lock lk(mtx_);
        if (count_ > 0 && waiters_.empty()) {
            --count_;
            return true;
        }
    }
    detail::check_blocking_allowed("tw::semaphore::acquire");
    for (;;) {
        detail::spinlock_lock lk(mtx_);
        if (count_ > 0 && waiters_.empty()) {
            --count_;
            return true;
        }
        if (clock::now() >= tp) return false;
        detail::waiter w;
        waiters_.push_back(w);
        detail::park(lk, w, tp, name_.c_str());
        lk.lock();
        // A permit handed over by release() is ours even if we were also
        // interrupted: the next wait point reports the cancellation.
        if (w.notified) return true;
        if (w.is_linked()) waiters_.erase(waiters_.iterator_to(w));
        lk.unlock();
        if (fs) fs->check();
    }
}

void semaphore::release(std::size_t n) noexcept {
    detail::spinlock_lock lk(mtx_);
    while (n > 0 && !waiters_.empty()) {
        auto& w = waiters_.front();
        waiters_.pop_front();
        detail::notify(w);  // the permit passes straight to the oldest waiter
        --n;
    }
    count_ += n;
}

std::size_t semaphore::available() const noexcept {
    detail::spinlock_lock lk(mtx_);
    return count_;
}

}  // namespace tw
