#pragma once
// The words of a health check, one definition for `tw health --boards SPEC
// WORDS...` (or --sim N) and the shell's `health WORDS...` (over its boards):
// the same options, the same table and JSON report.
//
//   --concurrency N --timeout DUR --deadline DUR --max-temp C --min-temp C --json
//
// Errors: health_options_of() throws CLI::ValidationError for a bad duration;
// print_health() throws std::runtime_error when a board is not ok and
// tw::cancelled_error when the check was interrupted, after printing.
//
// Example:
//   health_words w;
//   add_health_words(*cmd, w);
//   auto opts = health_options_of(w);
//   std::vector<std::optional<alg::board_health>> results(boards.size());
//   opts.on_board = [&](std::size_t i, const alg::board_health& h) { results[i] = h; };
//   alg::health_check(addresses, opts);                    // on a fiber
//   print_health(boards, std::move(results), false, elapsed_s, w.json);

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <tw/algorithms/health.hpp>

#include "board_list.hpp"

namespace tw::cli {

struct health_words {
    std::size_t concurrency = algorithms::k_default_concurrency;
    std::string timeout = "5s";
    std::string deadline = "0";
    std::optional<double> max_temp, min_temp;
    bool json = false;
};

// Declares the flags on `cmd`.
void add_health_words(CLI::App& cmd, health_words& w);

// The algorithm's options from the words (on_board left for the caller).
algorithms::health_options health_options_of(const health_words& w);

// One row per board (results[i] empty: the board never finished, shown as
// cancelled) and a summary line, or the JSON report; see the file comment.
void print_health(const std::vector<board_entry>& boards, std::vector<std::optional<algorithms::board_health>> results,
                  bool interrupted, double elapsed_s, bool json);

}  // namespace tw::cli
