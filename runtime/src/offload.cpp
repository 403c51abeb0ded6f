#include <tw/offload.hpp>

#include <pthread.h>

#include <tw/errors.hpp>

namespace tw {

namespace detail {

void offload_job::finish() noexcept {
    spinlock_lock lk(mtx);
    done = true;
    while (!waiters.empty()) {
        auto& w = waiters.front();
        waiters.pop_front();
        notify(w);
    }
}

void offload_job::wait() {
    fiber_state* fs = current_fiber();
    for (;;) {
        spinlock_lock lk(mtx);
        if (done) return;
        waiter w;
        waiters.push_back(w);
        park(lk, w, clock::time_point::max(), "offload");
        lk.lock();
        if (w.is_linked()) waiters.erase(waiters.iterator_to(w));
        if (done) return;
        lk.unlock();
        if (fs) fs->check();
    }
}

}  // namespace detail

offload_pool::offload_pool(std::string name, std::size_t threads, std::size_t queue_limit)
    : name_(std::move(name)), room_(queue_limit ? queue_limit : 1, "offload queue '" + name_ + "'") {
    if (threads == 0) threads = 1;
    for (std::size_t i = 0; i < threads; ++i) {
        threads_.emplace_back([this, i] {
            ::pthread_setname_np(::pthread_self(), (name_ + "-" + std::to_string(i)).substr(0, 15).c_str());
            thread_main();
        });
    }
}

offload_pool::~offload_pool() {
    {
        std::lock_guard lk(mtx_);
        stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
}

void offload_pool::submit(std::shared_ptr<detail::offload_job> j) {
    detail::check_blocking_allowed("tw::offload_pool::run");
    room_.acquire();
    {
        std::lock_guard lk(mtx_);
        queue_.push_back(std::move(j));
    }
    cv_.notify_one();
}

void offload_pool::thread_main() {
    for (;;) {
        std::shared_ptr<detail::offload_job> j;
        {
            std::unique_lock lk(mtx_);
            cv_.wait(lk, [this] { return stop_ || !queue_.empty(); });
            if (queue_.empty()) return;
            j = std::move(queue_.front());
            queue_.pop_front();
        }
        room_.release();
        j->execute();
    }
}

offload_pool& default_offload_pool() {
    static offload_pool pool("tw-offload", 4);
    return pool;
}

}  // namespace tw
