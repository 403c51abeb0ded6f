// tw sweep: one network-analysis sweep of one board, the resonances found in
// it, and optionally the sweep as CSV and as an SVG plot.
//
//   tw sweep --board 10.0.0.7:9000 --csv sweep.csv --plot sweep.svg
//   tw sweep --board 10.0.0.7:9000 --fmin 4.5e6 --fmax 4.7e6 --points 2001 --amplitude 0.05
//   tw sweep --sim --plot sweep.svg      (one simulated board, in-process)
//
// Defaults as tw tune's board sweep: the board's FMIN..FMAX, one point per
// 250 Hz, amplitude 0.5, channel 0, samples per point from the amplitude.
// The channel is left at amplitude 0 afterwards (network_analysis does that).
//
// Output (stdout): the board and sweep settings, the point count, then the
// resonances found, one line each ("  3  4.5123456 MHz  depth 0.812  Q 21000";
// Q 0: the dip is too narrow or cut off to measure).
// Exit 1 if the board fails (unreachable, an error reply, a timeout); 2 for a
// usage error, including a band outside the board's FMIN..FMAX.
//
// The flags after --board/--sim are the shell's `sweep` too: see sweep.hpp.

#include "sweep.hpp"

#include "board_set.hpp"
#include "commands.hpp"
#include "sweep_output.hpp"
#include "verb_util.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/core.h>

#include <tw/algorithms/to_json.hpp>
#include <tw/algorithms/tuning.hpp>
#include <tw/runtime.hpp>

namespace tw::cli {

namespace {

namespace alg = tw::algorithms;

struct sweep_options {
    std::string board;
    std::size_t sim = 0;
    std::optional<std::uint64_t> seed;
    std::size_t channels = 64;
    sweep_words words;
    std::string timeout = "5s";
};

// Hz per point of the default sweep: tune_board's.
constexpr double k_default_step_hz = 250;

// Ranges of the flags. Points: memory and time grow with them (and the
// baseline median with points × window), 100,000 is 0.02 Hz steps over a
// 2 MHz band. Frequencies: far above any readout band; the board's own
// FMIN..FMAX is checked once it answers, as is --channel against its channels.
constexpr std::uint64_t k_max_points = 100'000;
constexpr double k_max_frequency_hz = 1e12;
constexpr std::uint64_t k_max_channel = 65535;
constexpr std::uint64_t k_max_samples = 1'000'000;

// find_resonances' running-median baseline must be wide against a dip (a
// linewidth is up to ~1.2 kHz here): its default of 101 points is 25 kHz at
// 250 Hz a point. Keep that width in Hz for finer sweeps of narrow bands,
// within what the median's cost (points × window) allows.
constexpr double k_baseline_hz = 25e3;
constexpr std::size_t k_max_baseline_points = 5001;

alg::find_options find_for_step(double step_hz) {
    alg::find_options f;
    const double want = std::ceil(k_baseline_hz / step_hz);
    if (want > static_cast<double>(f.baseline_window))
        f.baseline_window = std::min(static_cast<std::size_t>(want), k_max_baseline_points) | 1;
    return f;
}

void run_sweep(const sweep_options& o) {
    if (o.board.empty() == (o.sim == 0)) throw CLI::ValidationError("sweep", "give exactly one of --board ADDR and --sim");
    if (o.seed && !o.sim) throw CLI::ValidationError("--seed", "only with --sim");
    const auto timeout = timeout_option(o.timeout);
    std::FILE* const out = check_sweep_words(o.words);

    // --board is one address, not a board list: only the simulated board goes through board_set.
    board_set sim;
    std::string address = o.board;
    if (o.sim) {
        sim = board_set::from_flags("", 1, o.seed, o.channels);
        address = sim.boards.at(0).address;
    }
    tw::runtime rt({.threads = 1, .name = "tw-sweep"});
    rt.run([&] {
        tw::tuber::board b(address, {.timeout = timeout, .log = verb_log()});
        sweep_board(b, o.words, out, o.sim ? fmt::format(" (simulated, seed {})", o.seed.value_or(1)) : "");
    });
}

}  // namespace

void add_sweep_words(CLI::App& cmd, sweep_words& w) {
    real_option(cmd, "--fmin", w.fmin, "Start of the band, Hz (default: the board's FMIN)", 1, k_max_frequency_hz)
        ->type_name("HZ");
    real_option(cmd, "--fmax", w.fmax, "End of the band, Hz (default: the board's FMAX)", 1, k_max_frequency_hz)
        ->type_name("HZ");
    count_option(cmd, "--points", w.points, "Points in the band (default: one per 250 Hz)", 2, k_max_points);
    real_option(cmd, "--amplitude", w.amplitude, "Carrier amplitude while sweeping, more than 0", 0, 1)->capture_default_str();
    count_option(cmd, "--channel", w.channel, "Channel to sweep", 0, k_max_channel)->capture_default_str();
    count_option(cmd, "--samples", w.samples, "Samples per point (0: from the amplitude)", 0, k_max_samples)
        ->capture_default_str();
    output_option(cmd, "--csv", w.csv, "Write the sweep as CSV (frequency_hz,magnitude,phase_rad)");
    output_option(cmd, "--plot", w.plot, "Plot |S21| (dB) against frequency with the resonances to an SVG file")
        ->type_name("FILE.svg");
    cmd.add_flag("--json", w.json,
                 "Print one JSON document (address, serial, band, points, resonances with linewidth and q) instead of the summary");
}

std::FILE* check_sweep_words(const sweep_words& w) {
    if (w.amplitude == 0) throw CLI::ValidationError("--amplitude", "must be more than 0");
    if (w.fmin && w.fmax && !(*w.fmin < *w.fmax)) throw CLI::ValidationError("--fmin", "must be below --fmax");
    // --json owns stdout as '-' would: the "csv FILE" / "plot FILE" lines go to stderr.
    return human_stream({{"--json", w.json ? "-" : ""}, {"--csv", w.csv}, {"--plot", w.plot}});
}

void sweep_board(tuber::board& b, const sweep_words& w, std::FILE* out, std::string_view note) {
    // The band needs the board's FMIN/FMAX; a band outside them is the
    // caller's mistake (exit 2), found only once the board has answered.
    const double bmin = b.fmin(), bmax = b.fmax();
    const double fmin = w.fmin.value_or(bmin), fmax = w.fmax.value_or(bmax);
    if (fmin < bmin || fmax > bmax)
        throw CLI::ValidationError("sweep", fmt::format("the band {}..{} Hz is outside the board's FMIN..FMAX {}..{} Hz", fmin,
                                                        fmax, bmin, bmax));
    if (!(fmin < fmax)) throw CLI::ValidationError("sweep", fmt::format("--fmin {} Hz must be below --fmax {} Hz", fmin, fmax));
    const int nch = b.nchannels();
    if (w.channel < 0 || w.channel >= nch)
        throw CLI::ValidationError("sweep", fmt::format("--channel {} is not one of the board's channels 0..{}", w.channel, nch - 1));
    const std::size_t points = w.points ? w.points : static_cast<std::size_t>(std::ceil((fmax - fmin) / k_default_step_hz)) + 1;
    const double step = (fmax - fmin) / static_cast<double>(points - 1);
    const auto serial = b.serial();
    const auto s = alg::network_analysis(b, fmin, fmax, points, w.amplitude, w.channel, {.samples = w.samples});
    const auto found = alg::find_resonances(s, find_for_step(step));

    const auto& address = b.address();
    if (w.json) {
        boost::json::array resonances;
        for (const auto& r : found) resonances.push_back(alg::to_json(r));
        fmt::print("{}\n", boost::json::serialize(boost::json::object{
                               {"address", address}, {"serial", serial}, {"channel", s.channel}, {"amplitude", s.amplitude},
                               {"samples", s.samples}, {"points", s.points.size()}, {"fmin_hz", fmin}, {"fmax_hz", fmax},
                               {"step_hz", step}, {"resonances", std::move(resonances)}}));
        std::fflush(stdout);
    } else {
        fmt::print(out, "sweep {} serial {} channel {} amplitude {} samples {}{}\n", address, serial, s.channel, s.amplitude,
                   s.samples, note);
        fmt::print(out, "points {} ({:.6f} to {:.6f} MHz, step {:.1f} Hz)\n", s.points.size(), fmin / 1e6, fmax / 1e6, step);
        fmt::print(out, "resonances {}\n", found.size());
        for (std::size_t k = 0; k < found.size(); ++k)
            fmt::print(out, "  {:3}  {:.7f} MHz  depth {:.3f}  Q {:.0f}\n", k, found[k].frequency / 1e6, found[k].depth,
                       found[k].q);
        std::fflush(out);
    }

    if (!w.csv.empty()) {
        write_text_file(w.csv, sweep_csv(s), "CSV");
        fmt::print(out, "csv {}\n", w.csv);
    }
    if (!w.plot.empty()) {
        plot_marks marks;
        marks.title = fmt::format("tw sweep {} (serial {}), channel {}, amplitude {}", address, serial, s.channel, s.amplitude);
        marks.resonances = found;
        write_text_file(w.plot, sweep_svg(s, marks), "plot");
        fmt::print(out, "plot {}\n", w.plot);
    }
    std::fflush(out);
}

void add_sweep_command(CLI::App& app) {
    auto o = std::make_shared<sweep_options>();
    auto* cmd = app.add_subcommand("sweep", "Sweep one board's channel over a band, list the resonances, save CSV/SVG");
    auto* board = cmd->add_option("--board", o->board, "The board: HOST:PORT")
                      ->option_text("ADDR")
                      ->check(address_check());
    // `--sim` alone or `--sim 1`: the other verbs' convention is `--sim N`, and a
    // sweep has exactly one board.
    auto* sim = count_option(*cmd, "--sim", o->sim, "Start one simulated board in-process and sweep it", 1, 1)
                    ->expected(0, 1)
                    ->default_str("1")
                    ->option_text("[1]");
    board->excludes(sim);
    count_option(*cmd, "--seed", o->seed, "Seed of the simulated board (--sim; default 1)", 0,
                 std::numeric_limits<std::uint64_t>::max())
        ->option_text("S");
    count_option(*cmd, "--channels", o->channels, "Channels (and resonators) of the simulated board", 1, tw::sim::k_max_resonators)
        ->capture_default_str();
    add_sweep_words(*cmd, o->words);
    cmd->add_option("--timeout", o->timeout, "Per request to the board")->capture_default_str();
    cmd->footer("Exit status 1 if the board failed; 2 for a usage error (including a band outside FMIN..FMAX).\n");
    cmd->callback([o] { run_sweep(*o); });
}

}  // namespace tw::cli
