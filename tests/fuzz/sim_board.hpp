#pragma once
// A fresh simulated board for the simulator-side harnesses: 8 channels, seed 1,
// the same parameters as tw sim's defaults otherwise.
#include <chrono>
#include <memory>

#include <tw/sim/physics.hpp>

#include "board.hpp"

namespace tw::fuzz {

inline std::unique_ptr<tw::sim::detail::board> make_board() {
    tw::sim::detail::board_params p;
    p.index = 0;
    p.seed = 1;
    p.channels = 8;
    p.fmin = 4.0e6;
    p.fmax = 6.0e6;
    p.serial = "TWB-00000";
    p.epoch = std::chrono::steady_clock::now();
    return std::make_unique<tw::sim::detail::board>(p, tw::sim::make_resonators(p.seed, p.index, p.channels, p.fmin, p.fmax));
}

}  // namespace tw::fuzz
