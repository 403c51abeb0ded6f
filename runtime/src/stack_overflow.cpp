// The stack-overflow report: a fault on a fiber's guard page is named with the
// fiber before the process dies as it would have anyway. The handler runs on
// an alternate signal stack (the fiber's own is exhausted).
#include "stack_overflow.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include <boost/fiber/context.hpp>

#include <tw/detail/fiber_state.hpp>
#include <tw/detail/task_base.hpp>  // fiber_state::name

namespace tw::detail {

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

}  // namespace tw::detail
