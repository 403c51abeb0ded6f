#include <tw/runtime.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <future>
#include <iostream>
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

// ---- stack overflow report -------------------------------------------------

namespace {
struct sigaction g_old_segv, g_old_bus;

void write_str(const char* s) { (void)!::write(2, s, std::strlen(s)); }

void on_fault(int sig, siginfo_t* si, void* uc) {
    auto* ctx = boost::fibers::context::active();
    auto* fs = ctx ? static_cast<fiber_state*>(ctx->get_properties()) : nullptr;
    auto* a = static_cast<char*>(si->si_addr);
    // A frame larger than the guard page can jump past it; anything within
    // 64 KiB below the stack's bottom is an overflow of this fiber.
    if (fs && fs->guard_lo && a >= static_cast<char*>(fs->guard_lo) - 65536 && a < static_cast<char*>(fs->stack_lo)) {
        write_str("tw: stack overflow in fiber '");
        write_str(fs->name().empty() ? "(unnamed)" : fs->name().c_str());
        write_str("' (hit the guard page below its stack; raise spawn_options::stack_size or runtime_options::stack_size)\n");
    }
    // Hand the fault to whatever handled it before (by default: die with SIGSEGV).
    sigaction(sig, sig == SIGBUS ? &g_old_bus : &g_old_segv, nullptr);
    (void)uc;
}
}  // namespace

void install_overflow_handler() noexcept {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, &g_old_segv);
        sigaction(SIGBUS, &sa, &g_old_bus);
    });
}

void* enable_alt_stack() {
    constexpr std::size_t size = 64 * 1024;
    void* mem = std::malloc(size);
    if (!mem) return nullptr;
    stack_t ss{};
    ss.ss_sp = mem;
    ss.ss_size = size;
    if (sigaltstack(&ss, nullptr) != 0) {
        std::free(mem);
        return nullptr;
    }
    return mem;
}

void disable_alt_stack(void* mem) noexcept {
    if (!mem) return;
    stack_t ss{};
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, nullptr);
    std::free(mem);
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
        for (auto& s : snapshot()) os << "\n  '" << s.name << "' waiting on " << (s.wait_what ? s.wait_what : "nothing");
        warn(os.str());
        for (auto& w : workers_) (void)w.release();  // their threads keep using them
        return false;
    }
    for (auto& w : workers_) w->stop_and_join(deadline);
    workers_.clear();
    return true;
}

void runtime_impl::watchdog_main() {
    const auto threshold = opts_.slow_fiber_warning;
    const auto tick = std::max<std::chrono::milliseconds>(threshold / 4, std::chrono::milliseconds(1));
    std::vector<std::size_t> last(workers_.size(), ~std::size_t{0});
    std::vector<clock::time_point> since(workers_.size(), clock::now());
    std::vector<bool> flagged(workers_.size(), false);
    std::unique_lock lk(watchdog_mtx_);
    while (!watchdog_cv_.wait_for(lk, tick, [this] { return watchdog_stop_; })) {
        const auto now = clock::now();
        for (std::size_t i = 0; i < workers_.size(); ++i) {
            auto& w = *workers_[i];
            auto s = w.switches();
            if (s != last[i] || w.sleeping() || w.live() == 0) {
                last[i] = s;
                since[i] = now;
                flagged[i] = false;
                continue;
            }
            // Elapsed time, not a count of ticks: a watchdog thread that gets
            // the CPU late (a loaded machine, valgrind) must still see a long run.
            if (!flagged[i] && now - since[i] >= threshold) {
                w.flag_stall();  // named when it suspends
                flagged[i] = true;
            }
        }
    }
}

runtime_counters runtime_impl::counters() const {
    runtime_counters c;
    c.workers = workers_.size();
    for (auto& w : workers_) {
        c.live_fibers += w->live();
        c.switches += w->switches();
        c.ready_fibers += w->ready();
        c.pooled_stacks += w->pooled_stacks();
        c.guarded_stacks += w->guarded_stacks();
        if (w->on_this_thread()) continue;
        std::promise<clock::time_point> ran;
        auto fut = ran.get_future();
        const auto sent = clock::now();
        w->post([&ran] { ran.set_value(clock::now()); });
        if (fut.wait_for(std::chrono::seconds(5)) == std::future_status::ready) {
            c.loop_lag = std::max(c.loop_lag, std::chrono::duration_cast<std::chrono::microseconds>(fut.get() - sent));
        } else {
            c.loop_lag = std::max<std::chrono::microseconds>(c.loop_lag, std::chrono::seconds(5));
        }
    }
    return c;
}

std::vector<fiber_snapshot> runtime_impl::snapshot() const {
    std::vector<fiber_snapshot> out;
    for (auto& w : workers_) {
        if (w->on_this_thread()) {
            w->collect(out);
            continue;
        }
        std::promise<std::vector<fiber_snapshot>> p;
        auto fut = p.get_future();
        w->post([&p, w = w.get()] {
            std::vector<fiber_snapshot> v;
            w->collect(v);
            p.set_value(std::move(v));
        });
        if (fut.wait_for(std::chrono::seconds(5)) == std::future_status::ready) {
            auto v = fut.get();
            out.insert(out.end(), v.begin(), v.end());
        }
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
    for (auto& s : impl_->snapshot()) {
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
    return out;
}

std::string runtime::dump_text() const {
    std::ostringstream os;
    auto fibers = dump();
    os << fibers.size() << " fiber(s)\n";
    for (auto& f : fibers) {
        os << "  [" << f.worker << "] '" << (f.name.empty() ? "(unnamed)" : f.name) << "' " << f.state;
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

runtime& default_runtime() {
    static runtime rt(runtime_options{.name = "tw-default"});
    return rt;
}

runtime& current_runtime() {
    if (auto* w = detail::current_worker()) return *w->rt().self();
    return default_runtime();
}

}  // namespace tw
