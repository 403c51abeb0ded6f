#pragma once
// The figures of `tw bench micro` and their baselines: what is measured on
// each side (micro_figures.cpp), as a table the harness (micro.cpp) walks.
// Each side is a function that measures in the calling process and returns one
// number in the figure's unit.
//
// Errors: a side throws std::runtime_error when its workload goes wrong (a
// wrong sum, fibers that did not all park); never for a slow result.
//
// Example:
//   config cfg;
//   cfg.quick = true;
//   const figure_def* f = find_figure("fiber_switch");
//   double tw_ns = f->tw_side(cfg), base_ns = f->base_side(cfg);

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace tw::cli::bench {

struct config {
    double run_seconds = 0.12;  // per timed run (three runs per side)
    std::size_t fixed = 0;      // exactly this many iterations, once (--iterations)
    bool quick = false;
    bool want_tw = true;
    bool want_base = true;
};

enum class better { lower, higher };

struct figure_def {
    const char* name;
    const char* unit;
    const char* baseline;
    bool isolated;  // each side in fresh child processes
    double (*tw_side)(const config&);
    double (*base_side)(const config&);
    // Target, for the table only: on the ratio, or on the value.
    std::optional<double> ratio_target;
    std::optional<double> value_target;
    better direction;
};

// Every figure, in the order they are reported.
const std::vector<figure_def>& figures();
// nullptr when there is no figure of that name.
const figure_def* find_figure(const std::string& name);

// The middle value of runs (three timed runs, or three children per side):
// robust to one run disturbed by the rest of the machine.
double median(std::vector<double> v);

}  // namespace tw::cli::bench
