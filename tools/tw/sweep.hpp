#pragma once
// The words of a sweep, one definition for `tw sweep --board ADDR WORDS...`
// (or --sim) and the shell's `sweep WORDS...` (on the board in use): the same
// options, defaults, checks and output.
//
//   --fmin HZ --fmax HZ   the band (default: the board's FMIN..FMAX)
//   --points N            points in the band (default: one per 250 Hz)
//   --amplitude A         carrier amplitude while sweeping (default 0.5)
//   --channel C --samples N --csv FILE --plot FILE.svg
//   --json                one JSON document instead of the summary lines:
//                         {address, serial, channel, amplitude, samples, points,
//                          fmin_hz, fmax_hz, step_hz, resonances: [{frequency,
//                          depth, linewidth, q}]}
//
// Errors: sweep_board() throws CLI::ValidationError for a usage mistake that
// only the board can reveal (a band outside its FMIN..FMAX, a channel it does
// not have), tw::error subclasses for the board's failures.
//
// Example:
//   sweep_words w;
//   add_sweep_words(*cmd, w);
//   check_sweep_words(w);
//   tw::run([&] { tuber::board b(address); sweep_board(b, w, stdout, ""); });

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include <tw/drivers/tuber/board.hpp>

namespace tw::cli {

struct sweep_words {
    std::optional<double> fmin, fmax;  // default: the board's FMIN, FMAX
    std::size_t points = 0;            // 0: one per 250 Hz
    double amplitude = 0.5;
    int channel = 0;
    int samples = 0;  // 0: from the amplitude
    std::string csv, plot;
    bool json = false;  // the summary as one JSON document on stdout
};

// Declares the flags on `cmd`.
void add_sweep_words(CLI::App& cmd, sweep_words& w);

// Usage errors (CLI::ValidationError) that need no board; returns where the
// human-readable lines go (stderr when --csv or --plot is '-').
std::FILE* check_sweep_words(const sweep_words& w);

// Sweeps `b`, finds its resonances, prints them to `out` and writes the CSV
// and plot files; `note` is appended to the first line (" (simulated, seed 1)").
// Runs on the current fiber.
void sweep_board(tuber::board& b, const sweep_words& w, std::FILE* out, std::string_view note);

}  // namespace tw::cli
