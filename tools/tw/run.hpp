#pragma once
// The words of a registered algorithm's run, one definition for `tw run NAME
// ARGS... (--boards SPEC | --sim N)` and the shell's `run NAME ARGS...` (on the
// board in use, or all its boards for an algorithm that takes the whole
// list): the same parsing of NAME and its arguments, the same output.
//
//   NAME [VALUE | KEY=VALUE]... [--json]
//
// Output: one line per board, "ADDRESS (NAME)  ok  RESULT" or "...  failed
// ERROR" (the algorithm's name instead of an address when it runs once), or
// with --json one document {algorithm, arguments, results: [{address, ok,
// result|error}]}.
//
// Errors: parse_run_words() throws CLI::ValidationError for an unknown
// algorithm or bad arguments (after printing the algorithm's usage to
// stderr); print_run() throws std::runtime_error when the algorithm failed.
//
// Example:
//   run_words w;
//   add_run_words(*cmd, w);
//   auto parsed = parse_run_words(w);
//   auto outcomes = alg::registry::run(*parsed.algorithm, ctx, parsed.arguments);  // on a fiber
//   print_run(parsed, outcomes, boards, w.json);

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <tw/algorithms/registry.hpp>

#include "board_list.hpp"

namespace tw::cli {

struct run_words {
    std::string name;
    std::vector<std::string> args;
    bool json = false;
};

struct parsed_run {
    const algorithms::algorithm* algorithm = nullptr;
    algorithms::arguments arguments;
};

// Declares NAME, ARGS and --json on `cmd`.
void add_run_words(CLI::App& cmd, run_words& w);

// The algorithm (from the global registry) and its checked arguments.
parsed_run parse_run_words(const run_words& w);

// Prints the outcomes; `boards` gives names to addresses.
void print_run(const parsed_run& run, const std::vector<algorithms::run_outcome>& outcomes,
               const std::vector<board_entry>& boards, bool json);

}  // namespace tw::cli
