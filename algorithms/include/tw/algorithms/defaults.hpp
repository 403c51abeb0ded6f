#pragma once
// Defaults shared by the array algorithms and every front end that runs them
// (tw tune, tw health, tw run, tw apply and the shell): one number each, so a
// change is made once.
//
// Example:
//   tw::algorithms::array_options o;   // o.concurrency == k_default_concurrency

#include <cstddef>

namespace tw::algorithms {

// Boards worked on at once: enough that one board's latency hides behind the
// others', few enough not to flood a control PC's descriptors or a switch.
inline constexpr std::size_t k_default_concurrency = 64;

}  // namespace tw::algorithms
