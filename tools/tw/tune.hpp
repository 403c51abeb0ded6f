#pragma once
// The words of a tuning run, one definition for `tw tune (--boards SPEC |
// --sim N | --only-failed REPORT) WORDS...` and the shell's `tune [all]
// WORDS...` (the board in use, or all its boards): the same options, checks,
// progress, summary table, report and plot.
//
//   --concurrency N --channel-concurrency N --amplitude A --deadline DUR
//   --timeout DUR --report FILE --plot FILE.svg --plot-board ADDR --quiet
//
// Errors: check_tune_words() throws CLI::ValidationError for a usage mistake
// (before any board is touched); tune_boards() throws CLI::ValidationError
// for a --plot-board that names no board of the run, std::runtime_error when
// a board did not end ok and tw::cancelled_error when the run was
// interrupted, after printing the summary and writing the report.
//
// Example:
//   tune_words w;
//   add_tune_words(*cmd, w);
//   const auto checked = check_tune_words(w);
//   tune_boards(boards, w, checked, {.label = "tune"}, [&](const std::function<void()>& work) {
//       return run_interruptible(rt, work);                  // true if interrupted
//   });

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <tw/algorithms/defaults.hpp>

#include "board_list.hpp"

namespace tw::cli {

struct tune_words {
    std::size_t concurrency = algorithms::k_default_concurrency;
    std::size_t channel_concurrency = 8;
    double amplitude = 0.5;
    std::string deadline = "0";
    std::string timeout = "5s";
    std::string report, plot, plot_board;
    bool quiet = false;
};

// Declares the flags on `cmd`.
void add_tune_words(CLI::App& cmd, tune_words& w);

// The words, checked: where the human-readable lines go (stderr when --report
// or --plot is '-'), the deadline (0: none) and the per-request timeout.
struct checked_tune {
    std::FILE* human = stdout;
    std::chrono::nanoseconds deadline{0};
    std::chrono::nanoseconds timeout{0};
};
checked_tune check_tune_words(const tune_words& w);

// Where the boards come from, for the progress label, the first line and the report.
struct tune_source {
    std::string label = "tune";               // starts the progress line
    std::optional<std::uint64_t> seed;        // simulated boards: their seed
    std::size_t channels = 0;                 // simulated boards: channels each
};

// Runs `work` (the tuning, on the current thread's fiber or a runtime) and
// says whether it was interrupted (Ctrl-C).
using tune_runner = std::function<bool(const std::function<void()>& work)>;

void tune_boards(const std::vector<board_entry>& boards, const tune_words& w, const checked_tune& checked,
                 const tune_source& source, const tune_runner& run);

}  // namespace tw::cli
