// Uses the installed simulator library (tw::sim) the way a user's test would:
// start simulated hardware in-process on free ports, look at ground truth.
#include <tw/sim/simulator.hpp>
#include <tw/tw.hpp>

#include <cstdio>

int main() {
    tw::runtime rt;
    tw::sim::simulator sim({.boards = 2, .scpi = 1, .modbus = 1, .seed = 1}, rt);
    for (const auto& line : sim.startup_lines()) std::printf("%s\n", line.c_str());
    const bool ok = sim.startup_lines().size() == 3 && sim.boards().size() == 2 && sim.boards()[0].resonators.size() == 64;
    sim.stop();
    return ok ? 0 : 1;
}
