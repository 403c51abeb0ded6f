#pragma once
// descriptor_budget: how many boards a fan-out over board addresses may have
// in flight so that their connections fit the process's file-descriptor
// limit. Internal to tw_algorithms (per_board, and the registry's per-board runs).
//
// Why: with `--concurrency 0` (all at once) and RLIMIT_NOFILE 256, a fan-out
// over 1,000 boards opened sockets until socket() failed with EMFILE, and 750
// boards failed with "Too many open files" instead of waiting their turn.
//
// The design, and why it is the simplest that is correct for these fan-outs:
// each board in flight holds one connection (tune_array and health_check open
// one client per board; channels of a board share it), so the number of
// boards in flight is the number of descriptors they need. Capping the
// fan-out's concurrency at the descriptors still free when it starts makes
// the surplus boards queue in the fan-out's own FIFO semaphore — bounded by
// the caller's overall deadline like any other wait for a slot, and never
// against a board's request timeout. A transport that retried EMFILE after
// waiting for a freed descriptor would also cover other callers, but needs a
// process-wide count of every descriptor's close (including ones the
// transport does not own) and would wait inside the per-request timeout.
//
// Limits of the snapshot: descriptors opened by others after the fan-out
// starts (another fan-out, an in-process server's accepted sockets) are not
// seen; k_reserve leaves room for a few (resolver, logs, the runtime's own).
//
// Thread safety: reads process state only (getrlimit, /proc/self/fd).

#include <cstddef>

namespace tw::algorithms::detail {

// Descriptors kept free for everything that is not a board connection.
inline constexpr std::size_t k_descriptor_reserve = 32;

// min(wanted (0: all), items, descriptors free now − k_descriptor_reserve),
// at least 1 so the fan-out still makes progress.
std::size_t descriptor_budget(std::size_t wanted, std::size_t items);

}  // namespace tw::algorithms::detail
