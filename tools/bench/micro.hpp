#pragma once
// tw bench micro: micro-benchmarks of the runtime, each measured in the same
// run beside an in-tree baseline (plain Asio, Asio stackful coroutines,
// Boost.Fiber's own scheduler) and reported as a ratio (docs/BENCHMARKS.md).
// The command line is declared in tools/tw/bench.cpp; this is the work.
//
// Errors: an unknown figure in --only, --iterations with an isolated figure,
// or --child-side without exactly one figure throw CLI::ValidationError (exit
// 2); a failed measurement or child process throws std::runtime_error (exit 1).
//
// Example:
//   micro_options o;
//   o.only = {"fiber_switch"};
//   o.quick = true;
//   run_micro(o);   // prints the table on stdout

#include <cstddef>
#include <string>
#include <vector>

namespace tw::cli::bench {

struct micro_options {
    bool json = false;
    bool quick = false;
    std::vector<std::string> only;
    std::string side = "both";   // tw | baseline | both
    std::size_t iterations = 0;  // fixed count: no warm-up, one run
    std::size_t runs = 5;        // measurements per side and figure: the median is reported, with the spread of the ratios
    std::string child_side;      // hidden: run one side of one figure, print the raw value
};

// Measures the chosen figures and prints the table or JSON (report.hpp); with
// child_side, measures one side of one figure and prints the bare number.
void run_micro(const micro_options& o);

}  // namespace tw::cli::bench
