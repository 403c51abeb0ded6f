#pragma once
// The report of a fiber's stack overflow (stack_overflow.cpp): a SIGSEGV/SIGBUS
// handler that names the fiber whose guard page was hit, and the per-thread
// alternate signal stack it runs on. Canary-checked stacks (no guard page)
// are checked when their fiber ends, in worker::fiber_exited.

namespace tw::detail {

void install_overflow_handler() noexcept;  // once per process
void* enable_alt_stack();                  // per thread; returns memory to free
void disable_alt_stack(void* mem) noexcept;

}  // namespace tw::detail
