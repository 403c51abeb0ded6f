#pragma once
// tw::algorithms tuning: plain blocking procedures over tw::tuber::board
// (docs/WIRE_FORMATS.md, Tuber) — a network-analysis sweep, resonance finding, channel,
// board and array tuning. No callbacks, no async code: call them directly, on
// a tw fiber or a plain thread (they then run on the default runtime), or
// inside tw::fan_out / tw::spawn / tw::async_run.
//
//   network_analysis  one channel swept over [fmin, fmax] with Tuber batches
//                     (set_frequency + get_samples per point); |S21| and phase
//                     are the samples divided by the amplitude.
//   find_resonances   pure: dips of |S21| normalised by a running median (the
//                     off-resonance level), above a threshold that grows with
//                     the measured noise; sub-point frequency by a parabola;
//                     linewidth and Q from a parabola through 1/(1 − |S21|²).
//   tune_channel      fine local sweeps around a guess, parabola fit of |S21|²
//                     at the minimum; returns the carrier frequency (set on
//                     the channel) and the normalised |S21| there.
//   tune_board        sweep (on channel 0), find, assign channel i to the i-th
//                     lowest resonance, zero the rest, tune every channel with
//                     a nested tw::fan_out (per-board concurrency), verify.
//   tune_array        tw::fan_out over board addresses with a concurrency
//                     limit, a deadline and progress; one outcome per board,
//                     a failed or stalled board never stops the others.
//
// Noise (σ = 2e-3/√n per component) does not scale with the amplitude, so by
// default the number of samples per reading grows as 1/amplitude² (capped at
// the board's 1e6): amplitude 0.01 works as well as 1.
//
// Reproducibility: every channel's calls depend only on that channel, so the
// results are the same whether channels or boards run one by one or fanned out.
//
// Thread safety: the functions share nothing; a board may be shared.
// Errors: the board's (tw::protocol_error, tw::timeout_error,
// tw::connection_error, tw::cancelled_error); std::invalid_argument for bad
// options. tune_array never throws for a board: its outcome holds the error.
//
// Example:
//   tw::tuber::board b("127.0.0.1:9000");
//   auto result = tw::algorithms::tune_board(b, {.amplitude = 0.01});
//   for (auto& ch : result.channels) fmt::print("{} {:.1f}\n", ch.channel, ch.frequency);
//
//   auto outcomes = tw::algorithms::tune_array(addresses, {.concurrency = 64, .deadline = 60s});

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <tw/algorithms/defaults.hpp>
#include <tw/drivers/tuber/board.hpp>
#include <tw/fan_out.hpp>

namespace tw::algorithms {

// ---- network analysis --------------------------------------------------------

struct sweep_point {
    double frequency = 0;  // Hz
    double magnitude = 0;  // |S21| (samples / amplitude)
    double phase = 0;      // rad
};

struct sweep_data {
    std::vector<sweep_point> points;  // ascending frequency
    double amplitude = 0;
    int samples = 0;  // n per reading
    int channel = 0;
};

struct sweep_options {
    int samples = 0;            // n per reading; 0: auto from the amplitude (samples_for)
    std::size_t batch = 500;    // points per Tuber batch (2 calls each)
};

// The most points network_analysis takes (its results are ~24 MB then): a
// larger count is std::invalid_argument rather than an allocation sized by
// whatever band a board reports.
inline constexpr std::size_t k_max_sweep_points = 1'000'000;

// Points of a sweep of [fmin, fmax] at one per 250 Hz, both ends included
// (what tune_board and `tw run` sweep by default). std::invalid_argument if
// the band is not finite and ascending or needs more than k_max_sweep_points
// (a band wider than 250 MHz): pass fewer points or a narrower band then.
std::size_t sweep_points(double fmin, double fmax);

// Samples per reading so that the noise of |S21| is about 2.5e-4 at this
// amplitude (n = 64/a², at least 256, at most 1e6).
int samples_for(double amplitude);

// Sweeps `channel` over `points` frequencies evenly spaced in [fmin, fmax]
// at `amplitude` and leaves the channel at amplitude 0. `points` in
// [2, k_max_sweep_points], else std::invalid_argument.
sweep_data network_analysis(tuber::board& board, double fmin, double fmax, std::size_t points, double amplitude,
                       int channel = 0, const sweep_options& opts = {});

// ---- resonance finding -------------------------------------------------------

struct resonance {
    double frequency = 0;  // Hz
    double depth = 0;      // 1 − normalised |S21| at the minimum
    std::size_t index = 0;  // sweep point nearest the minimum
    // Full width at half depth of the power dip 1 − |S21|² (normalised), Hz:
    // the resonator's f/Q for a notch resonator, whatever its coupling (the
    // half-depth of |S21| itself is narrower than f/Q for deep dips). 0 when
    // it cannot be measured: fewer than three points of the dip inside the
    // sweep (a dip at an end), or points that do not curve like a dip.
    double linewidth = 0;
    // frequency / linewidth; 0 exactly when linewidth is 0 (never NaN or inf).
    double q = 0;
};

struct find_options {
    double min_depth = 0.05;        // smallest dip (fraction of the off-resonance level)
    double noise_factor = 8;        // and at least this many noise σ
    std::size_t baseline_window = 101;  // points in the running median
    std::size_t smooth = 0;         // 0: auto (smooth by 3 when the noise is high); 1: off
};

// The dips of the sweep, ascending in frequency.
std::vector<resonance> find_resonances(const sweep_data& s, const find_options& opts = {});

// ---- channel tuning ----------------------------------------------------------

struct channel_options {
    double amplitude = 0.5;  // carrier amplitude while tuning and after
    double span = 600;       // Hz either side of the guess for the first local sweep
    std::size_t points = 41; // per local sweep
    int samples = 0;         // 0: samples_for(amplitude)
};

struct channel_result {
    int channel = 0;
    double frequency = 0;  // Hz, set on the channel
    double amplitude = 0;  // set on the channel
    double s21 = 1;        // normalised |S21| at the carrier (tuning), or at verification
    bool verified = false; // tune_board: the carrier sits in a dip
};

// Refines the carrier of `channel` to the |S21| minimum near `guess` and leaves
// the channel there at opts.amplitude.
channel_result tune_channel(tuber::board& board, int channel, double guess, const channel_options& opts = {});

// ---- board tuning ------------------------------------------------------------

struct board_options {
    double amplitude = 0.5;          // sweep and carrier amplitude
    double fmin = 0, fmax = 0;       // sweep band, Hz; 0: the board's FMIN / FMAX
    std::size_t points = 0;          // sweep points; 0: one per 250 Hz of the band
    std::size_t channel_concurrency = 8;  // channels tuned at once on one board
    find_options find{};
    sweep_options sweep{};
    channel_options channel{};       // its amplitude is replaced by `amplitude`
    // After each channel is tuned: the board's address, channels tuned so far
    // and channels to tune. Runs on the tuning fibers, so possibly on several
    // threads at once with a multi-threaded runtime; keep it short.
    std::function<void(const std::string& address, std::size_t done, std::size_t of)> on_channel;
};

struct board_result {
    std::string address;
    std::string serial;
    std::size_t resonators_found = 0;
    std::vector<resonance> resonances;   // found, ascending
    std::vector<channel_result> channels;  // every channel; unused ones at amplitude 0
    std::size_t channels_tuned = 0;      // channels with a resonance assigned
    std::size_t channels_verified = 0;
    sweep_data sweep;                       // the board sweep (for plots)
};

board_result tune_board(tuber::board& board, const board_options& opts = {});

// ---- array tuning ------------------------------------------------------------

enum class board_status { ok, failed, timeout, cancelled };
const char* to_string(board_status s) noexcept;

struct board_outcome {
    std::string address;
    board_status status = board_status::failed;
    std::string error;                  // empty when ok
    std::optional<board_result> result; // when ok
    double elapsed_s = 0;
};

struct array_options {
    board_options board{};
    std::size_t concurrency = k_default_concurrency;  // boards at once (0: all)
    clock::duration deadline = clock::duration::max();  // for the whole array
    tuber::options tuber{};        // per connection (request timeout, ...)
    std::function<void(const fan_out_progress&)> progress;  // after each board
    // After each board, with its index and outcome (same fiber as progress).
    std::function<void(std::size_t, const board_outcome&)> on_board;
};

// One outcome per address, in input order. Never throws for a board's error;
// throws only if the caller itself is cancelled.
std::vector<board_outcome> tune_array(const std::vector<std::string>& addresses, const array_options& opts = {});

}  // namespace tw::algorithms
