#pragma once
// The algorithms tw ships, registered in the global registry on its first use
// (registry::global()). Internal to tw_algorithms.

#include <tw/algorithms/registry.hpp>

namespace tw::algorithms {

void add_builtin_algorithms(registry& r);

}  // namespace tw::algorithms
