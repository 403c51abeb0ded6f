#include <tw/runtime.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>

#include <boost/fiber/operations.hpp>

#include "runtime_impl.hpp"

namespace tw::detail {

namespace {
thread_local worker* t_current_worker = nullptr;
}

thread_local worker_signals* t_worker_signals = nullptr;

void set_current_worker(worker* w) noexcept {
    t_current_worker = w;
    t_worker_signals = w ? &w->signals() : nullptr;
}
worker* current_worker() noexcept { return t_current_worker; }

void check_blocking_allowed(const char* what) {
    worker* w = t_current_worker;
    if (!w || current_fiber()) return;
    if (!w->guest() || w->io().get_executor().running_in_this_thread())
        throw usage_error(std::string(what) +
                          " called from an Asio handler or coroutine on a tw runtime's own loop thread: blocking there "
                          "would stop the loop it waits for (deadlock). Use tw::async_run(f, token) with a callback, "
                          "use_awaitable or use_future instead, or make the call from a fiber (tw::spawn).");
}

bool on_fiber_of(const runtime_impl& rt) noexcept {
    auto* fs = current_fiber();
    return fs && &fs->home().rt() == &rt;
}

// ---- runtime_impl -----------------------------------------------------------

runtime_impl::runtime_impl(runtime_options opts, boost::asio::io_context* host) : opts_(std::move(opts)), host_(host) {
    if (opts_.threads == 0) opts_.threads = 1;
    if (host_) opts_.threads = 1;
    guarded_left = static_cast<std::ptrdiff_t>(opts_.guarded_stacks ? opts_.guarded_stacks : default_guarded_budget());
    install_overflow_handler();
    for (std::size_t i = 0; i < opts_.threads; ++i) workers_.push_back(std::make_unique<worker>(*this, i, host_));
    for (auto& w : workers_) w->start();
    if (opts_.slow_fiber_warning.count() > 0) watchdog_ = std::thread([this] { watchdog_main(); });
}

runtime_impl::~runtime_impl() { shutdown("runtime destroyed"); }

worker& runtime_impl::pick_worker() noexcept {
    return *workers_[next_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
}

void runtime_impl::warn(std::string_view msg) const noexcept {
    try {
        if (opts_.on_warning)
            opts_.on_warning(msg);
        else
            std::cerr << msg << '\n';
    } catch (...) {
    }
}

void runtime_impl::unhandled(std::string_view fiber, std::exception_ptr e) const noexcept {
    try {
        if (opts_.on_unhandled_error) {
            opts_.on_unhandled_error(fiber, e);
            return;
        }
        std::cerr << "tw: detached fiber '" << (fiber.empty() ? "(unnamed)" : fiber) << "' failed: " << describe(e) << '\n';
    } catch (...) {
    }
}

void runtime_impl::fiber_count_changed() noexcept {
    std::lock_guard lk(mtx_);
    idle_cv_.notify_all();
}

bool runtime_impl::shutdown(const std::string& reason) {
    {
        std::lock_guard lk(mtx_);
        if (shut_down_) return true;
        if (auto* w = current_worker(); w && &w->rt() == this && !w->guest())
            throw usage_error("tw::runtime::shutdown called from one of its own fibers or threads; call it from outside");
        shut_down_ = true;
    }
    stopping_.store(true, std::memory_order_release);
    for (auto& w : workers_) {
        if (w->on_this_thread())
            w->cancel_all(reason);
        else
            w->post([w = w.get(), reason] { w->cancel_all(reason); });
    }
    const auto deadline = clock::now() + opts_.join_deadline;
    auto all_done = [this] {
        for (auto& w : workers_)
            if (w->live() != 0) return false;
        return true;
    };
    if (host_) {
        // Guest: the fibers run only when the host's loop runs; drive it here.
        while (!all_done() && clock::now() < deadline) {
            if (host_->stopped()) host_->restart();
            host_->run_one_for(std::chrono::milliseconds(20));
        }
    } else {
        std::unique_lock lk(mtx_);
        idle_cv_.wait_until(lk, deadline, all_done);
    }
    {
        std::lock_guard lk(watchdog_mtx_);
        watchdog_stop_ = true;
    }
    watchdog_cv_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
    if (!all_done()) {
        std::ostringstream os;
        os << "tw: runtime shutdown: fibers still running " << opts_.join_deadline.count()
           << " ms after cancellation; abandoning their threads:";
        // A short look only: a blocked worker is named, not waited for.
        auto snap = snapshot(k_shutdown_probe);
        for (auto& s : snap.fibers) os << "\n  '" << s.name << "' waiting on " << (s.wait_what ? s.wait_what : "nothing");
        for (auto& b : snap.blocked) os << "\n  " << b.text();
        warn(os.str());
        for (auto& w : workers_) (void)w.release();  // their threads keep using them
        return false;
    }
    // Every fiber is gone, so each thread ends as soon as its loop turns; a
    // loop blocked in a handler past the deadline is abandoned, not waited for.
    bool joined = true;
    for (auto& w : workers_) {
        if (!w->stop_and_join(std::max(deadline, clock::now() + k_shutdown_probe))) {
            warn("tw: runtime shutdown: worker " + std::to_string(w->index()) +
                 " did not stop by the join deadline (its loop is blocked); abandoning its thread");
            (void)w.release();
            joined = false;
        }
    }
    workers_.clear();
    return joined;
}

void runtime_impl::watchdog_main() {
    // Samples each worker's switch count. A count that has not moved for the
    // threshold while a fiber is running means that fiber has held its thread
    // that long without suspending (a computation, a std::mutex, a blocking
    // vendor call): it is reported now, while it still blocks, by name.
    const auto threshold = opts_.slow_fiber_warning;
    const auto tick = std::clamp<std::chrono::milliseconds>(threshold / 4, std::chrono::milliseconds(1),
                                                            std::chrono::milliseconds(250));
    const std::size_t n = workers_.size();
    std::vector<std::size_t> last(n, ~std::size_t{0});
    std::vector<clock::time_point> since(n, clock::now());
    std::vector<bool> reported(n, false);
    std::unique_lock lk(watchdog_mtx_);
    while (!watchdog_cv_.wait_for(lk, tick, [this] { return watchdog_stop_; })) {
        const auto now = clock::now();
        for (std::size_t i = 0; i < n; ++i) {
            auto& w = *workers_[i];
            const auto s = w.switches();
            if (s != last[i] || !w.fiber_running()) {
                last[i] = s;
                since[i] = now;
                if (reported[i]) w.set_blocked_since(clock::time_point::max());
                reported[i] = false;
                continue;
            }
            // Elapsed time, not a count of ticks: a watchdog thread that gets
            // the CPU late (a loaded machine, valgrind) must still see a long run.
            if (reported[i] || now - since[i] < threshold) continue;
            auto running = w.describe_running(s);
            if (!running || !running->any) continue;  // it switched just now
            w.set_blocked_since(since[i], s);
            reported[i] = true;
            warn("tw: " + blocked_worker{i, now - since[i], *running}.text() +
                 ": it has run without suspending, so other fibers and I/O on its thread wait");
        }
    }
}

std::string blocked_worker::text() const {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", std::chrono::duration<double>(for_).count());
    std::string where = !fiber.any           ? "its loop, outside any fiber (an Asio handler?)"
                        : fiber.name.empty() ? "an unnamed fiber"
                                             : "fiber '" + fiber.name + "'";
    return "worker " + std::to_string(worker) + " blocked for " + secs + " s in " + where;
}

namespace {
// A reply from a worker's loop that the asker may stop waiting for: it is
// shared, so a worker that unblocks late writes into live memory, not into
// the frame of a counters() call that has long returned.
template <class T>
struct probe {
    std::mutex mtx;
    std::condition_variable cv;
    std::optional<T> value;
    void set(T v) {
        std::lock_guard lk(mtx);
        value.emplace(std::move(v));
        cv.notify_all();
    }
    bool wait_until(clock::time_point until) {
        std::unique_lock lk(mtx);
        return cv.wait_until(lk, until, [this] { return value.has_value(); });
    }
};
}  // namespace

blocked_worker runtime_impl::describe_unanswered(worker& w, std::size_t switches_seen, clock::time_point asked) const {
    auto since = w.blocked_since();
    if (since == clock::time_point::max() || since > asked) since = asked;
    auto running = w.describe_running(switches_seen);
    return blocked_worker{w.index(), clock::now() - since, running ? *running : worker::running_fiber{}};
}

clock::time_point runtime_impl::probe_until(const worker& w, clock::duration wait) const {
    // A worker the watchdog already knows is blocked is not waited for at all.
    return w.blocked_since() != clock::time_point::max() ? clock::now() : clock::now() + wait;
}

runtime_counters runtime_impl::counters() const {
    runtime_counters c;
    c.workers = workers_.size();
    struct asked {
        worker* w;
        std::size_t switches;
        clock::time_point sent;
        std::shared_ptr<probe<clock::time_point>> p;
    };
    std::vector<asked> probes;
    for (auto& w : workers_) {
        c.live_fibers += w->live();
        c.switches += w->switches();
        c.ready_fibers += w->ready();
        c.pooled_stacks += w->pooled_stacks();
        c.guarded_stacks += w->guarded_stacks();
        if (w->on_this_thread()) continue;
        // All probes go out at once, so one blocked worker costs one wait.
        auto p = std::make_shared<probe<clock::time_point>>();
        asked a{w.get(), w->switches(), clock::now(), p};
        w->post([p] { p->set(clock::now()); });
        probes.push_back(std::move(a));
    }
    for (auto& a : probes) {
        if (a.p->wait_until(probe_until(*a.w, k_probe_wait))) {
            c.loop_lag = std::max(c.loop_lag, std::chrono::duration_cast<std::chrono::microseconds>(*a.p->value - a.sent));
        } else {
            c.loop_lag = std::max(c.loop_lag, std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - a.sent));
            c.blocked.push_back(describe_unanswered(*a.w, a.switches, a.sent).text());
        }
    }
    return c;
}

runtime_impl::snapshot_result runtime_impl::snapshot(clock::duration wait) const {
    snapshot_result out;
    struct asked {
        worker* w;
        std::size_t switches;
        clock::time_point sent;
        std::shared_ptr<probe<std::vector<fiber_snapshot>>> p;
    };
    std::vector<asked> probes;
    for (auto& w : workers_) {
        if (w->on_this_thread()) {
            w->collect(out.fibers);
            continue;
        }
        auto p = std::make_shared<probe<std::vector<fiber_snapshot>>>();
        asked a{w.get(), w->switches(), clock::now(), p};
        w->post([p, w = w.get()] {
            std::vector<fiber_snapshot> v;
            w->collect(v);
            p->set(std::move(v));
        });
        probes.push_back(std::move(a));
    }
    for (auto& a : probes) {
        if (a.p->wait_until(probe_until(*a.w, wait)))
            out.fibers.insert(out.fibers.end(), a.p->value->begin(), a.p->value->end());
        else
            out.blocked.push_back(describe_unanswered(*a.w, a.switches, a.sent));
    }
    return out;
}

}  // namespace tw::detail

namespace tw {

runtime::runtime(runtime_options options) : impl_(std::make_unique<detail::runtime_impl>(std::move(options), nullptr)) {
    impl_->set_self(this);
}

runtime::runtime(boost::asio::io_context& host, runtime_options options)
    : impl_(std::make_unique<detail::runtime_impl>(std::move(options), &host)) {
    impl_->set_self(this);
}

runtime::~runtime() {
    // std::exit() on one of a runtime's fibers runs static destructors on
    // that fiber: no runtime can be shut down from there (its loop never
    // turns again), and the process is ending anyway.
    if (detail::exiting_inside_loop()) {
        (void)impl_.release();
        return;
    }
    try {
        if (!impl_->shutdown("runtime destroyed")) (void)impl_.release();  // stragglers still use it
    } catch (const std::exception& e) {
        impl_->warn(std::string("tw: ") + e.what() + " (from ~runtime; the runtime is leaked)");
        (void)impl_.release();
    }
}

bool runtime::shutdown(std::string reason) { return impl_->shutdown(reason); }

runtime_counters runtime::counters() const { return impl_->counters(); }

std::vector<fiber_info> runtime::dump() const {
    std::vector<fiber_info> out;
    const auto now = clock::now();
    using std::chrono::duration_cast;
    using ms = std::chrono::milliseconds;
    auto snap = impl_->snapshot(detail::runtime_impl::k_probe_wait);
    for (auto& s : snap.fibers) {
        fiber_info f;
        f.name = s.name;
        f.worker = s.worker;
        f.state = s.running ? "running" : s.ready ? "ready" : "waiting";
        if (!s.running && s.wait_what) {
            f.waiting_on = s.wait_what;
            f.waiting_for = duration_cast<ms>(now - s.wait_since);
        }
        f.age = duration_cast<ms>(now - s.started);
        if (s.deadline != clock::time_point::max()) f.deadline_in = duration_cast<ms>(s.deadline - now);
        f.cancel_requested = s.cancel_requested;
        out.push_back(std::move(f));
    }
    // A blocked worker cannot list its fibers; the one holding it is shown.
    for (auto& b : snap.blocked) {
        fiber_info f;
        f.name = b.fiber.any ? b.fiber.name : "(no fiber: the worker's loop itself)";
        f.worker = b.worker;
        f.state = "blocked";
        f.blocked_for = duration_cast<ms>(b.for_);
        out.push_back(std::move(f));
    }
    return out;
}

std::string runtime::dump_text() const {
    std::ostringstream os;
    auto fibers = dump();
    os << fibers.size() << " fiber(s)\n";
    for (auto& f : fibers) {
        os << "  [" << f.worker << "] '" << (f.name.empty() ? "(unnamed)" : f.name) << "' " << f.state;
        if (f.state == "blocked") {
            os << " its thread for " << f.blocked_for.count() << " ms without suspending\n";
            continue;
        }
        if (!f.waiting_on.empty()) os << " on " << f.waiting_on << " for " << f.waiting_for.count() << " ms";
        os << ", age " << f.age.count() << " ms";
        if (f.deadline_in) os << ", deadline in " << f.deadline_in->count() << " ms";
        if (f.cancel_requested) os << ", cancel requested";
        os << '\n';
    }
    return os.str();
}

boost::asio::io_context::executor_type runtime::executor(std::size_t worker) const {
    if (impl_->worker_count() == 0) throw usage_error("tw::runtime::executor called after the runtime was shut down");
    return impl_->worker_at(worker % impl_->worker_count()).io().get_executor();
}

std::size_t runtime::workers() const { return impl_->worker_count(); }
const runtime_options& runtime::options() const { return impl_->options(); }

namespace {
std::mutex g_default_mtx;
std::optional<runtime_options> g_default_options;
bool g_default_created = false;

runtime_options take_default_options() {
    std::lock_guard lk(g_default_mtx);
    g_default_created = true;
    runtime_options o = g_default_options.value_or(runtime_options{});
    if (o.name == runtime_options{}.name) o.name = "tw-default";
    return o;
}
}  // namespace

void configure_default_runtime(runtime_options options) {
    std::lock_guard lk(g_default_mtx);
    if (g_default_created)
        throw usage_error("tw::configure_default_runtime called after the default runtime was created (by the first "
                          "tw::run or tw::spawn from a plain thread): call it first thing in main()");
    g_default_options = std::move(options);
}

runtime& default_runtime() {
    static runtime rt(take_default_options());
    return rt;
}

runtime& current_runtime() {
    if (auto* w = detail::current_worker()) return *w->rt().self();
    return default_runtime();
}

}  // namespace tw
