// tw tune: tune every board of a list (or N simulated boards started
// in-process) with tw::algorithms::tune_array, show progress, end with a
// summary table, optionally write a JSON report.
//
//   tw tune --sim 16 [--seed S] [--channels C]
//   tw tune --boards 10.0.0.1:9000+64 --concurrency 32 --deadline 5m --report run.json
//   tw tune --only-failed run.json --report rerun.json
//   tw tune --sim 4 --plot board.svg --plot-board sim-2
//
// --only-failed REPORT re-runs the boards of a saved report whose status is
// not "ok", keeping their names; it replaces --boards. It does not combine
// with --sim, and refuses a report written by a --sim run: simulated boards'
// addresses are ports of an in-process simulator that ended with that run.
// --plot FILE.svg plots one board's sweep (the first board, or --plot-board
// ADDRESS|NAME of the list) with its found resonances and tuned carriers; only
// that board's sweep is kept in memory.
//
// Progress (progress.hpp) goes to stderr, the summary and plot lines to
// stdout: on a terminal one redrawn line (boards done, failed, in flight,
// channels tuned, ETA), otherwise a plain line at most every two seconds; one
// line per board that did not end ok. --quiet keeps only those lines. Exit 1 if any board failed, timed out or was
// cancelled (SIGINT/SIGTERM cancel the run; the report is still written, with
// unfinished boards marked "cancelled").
//
// The flags after --boards/--sim/--only-failed are the shell's `tune` too: see
// tune.hpp.
//
// Report: schema 1, docs/report.schema.json (docs/REPORTS.md), written by
// make_tune_report (tune_report.cpp): the run, every board with every channel
// (and the linewidth and Q of each tuned channel's resonance), a summary.

#include "tune.hpp"

#include "board_set.hpp"
#include "commands.hpp"
#include "interrupt.hpp"
#include "progress.hpp"
#include "verb_util.hpp"
#include "sweep_output.hpp"
#include "tune_report.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/serialize.hpp>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <tw/algorithms/tuning.hpp>
#include <tw/duration.hpp>
#include <tw/errors.hpp>
#include <tw/run.hpp>
#include <tw/runtime.hpp>

namespace tw::cli {

namespace {

namespace alg = tw::algorithms;
namespace json = boost::json;

struct tune_options : board_flags {
    std::string only_failed;
    tune_words words;
};

void run_tune(const tune_options& o) {
    early_interrupts keep_ctrl_c;  // from here on, a Ctrl-C ends the run with its summary
    if (!o.only_failed.empty()) {
        if (o.sim)
            throw CLI::ValidationError("--only-failed", "re-runs real boards from a saved report and does not combine with "
                                                        "--sim (simulated boards exist only during their run)");
        if (!o.boards.empty()) throw CLI::ValidationError("--only-failed", "replaces --boards: give one or the other");
    } else if (o.boards.empty() == (o.sim == 0)) {
        throw CLI::ValidationError("tune", "give exactly one of --boards SPEC, --sim N and --only-failed REPORT");
    }
    if (!o.sim && o.seed) throw CLI::ValidationError("--seed", "only with --sim");
    const auto checked = check_tune_words(o.words);

    // The boards: --boards, --sim (started in-process), or a report's failures.
    board_set set;
    auto& boards = set.boards;
    if (!o.only_failed.empty()) {
        tune_report previous;
        try {
            previous = read_tune_report(o.only_failed);
        } catch (const std::invalid_argument& e) {
            throw CLI::ValidationError(e.what());
        }
        for (const auto& b : previous.boards)
            if (b.status != "ok") boards.push_back({b.name, b.address});
        if (boards.empty()) {
            fmt::print(checked.human, "tune: nothing to re-run: all {} boards of '{}' ended ok\n", previous.boards.size(),
                       o.only_failed);
            return;
        }
        if (previous.simulated)
            throw CLI::ValidationError("--only-failed", "'" + o.only_failed +
                                                            "' is the report of a tw tune --sim run: its simulated boards "
                                                            "no longer exist (run tw tune --sim again)");
    } else {
        set = board_set::from_flags(o.boards, o.sim, o.seed, o.channels);
    }
    tune_source source;
    if (o.sim) {
        source.seed = o.seed.value_or(1);
        source.channels = o.channels;
    }
    tw::runtime rt({.threads = 1, .name = "tw-tune"});
    tune_boards(boards, o.words, checked, source, [&](const std::function<void()>& work) { return run_interruptible(rt, work); });
}

}  // namespace

void add_tune_words(CLI::App& cmd, tune_words& w) {
    count_option(cmd, "--concurrency", w.concurrency, "Boards tuned at once (0: all)", 0, k_max_concurrency)
        ->capture_default_str();
    count_option(cmd, "--channel-concurrency", w.channel_concurrency, "Channels tuned at once on one board (0: all)", 0,
                 k_max_concurrency)
        ->capture_default_str();
    real_option(cmd, "--amplitude", w.amplitude, "Sweep and carrier amplitude, more than 0", 0, 1)->capture_default_str();
    cmd.add_option("--deadline", w.deadline, "For the whole run (DUR: 90s, 5m; 0: none); boards still running time out")
        ->capture_default_str();
    cmd.add_option("--timeout", w.timeout, "Per request to a board")->capture_default_str();
    output_option(cmd, "--report", w.report, "Write a JSON report to FILE");
    auto* plot = output_option(cmd, "--plot", w.plot, "Plot one board's sweep, resonances and tuned carriers to an SVG file")
                     ->type_name("FILE.svg");
    cmd.add_option("--plot-board", w.plot_board, "The board to plot: an address or name of the list (default: the first)")
        ->option_text("ADDR")
        ->needs(plot);
    cmd.add_flag("--quiet,-q", w.quiet, "No progress on stderr: only boards that did not end ok, then the summary");
}

checked_tune check_tune_words(const tune_words& w) {
    if (w.amplitude == 0) throw CLI::ValidationError("--amplitude", "must be more than 0");
    checked_tune c;
    c.human = human_stream({{"--report", w.report}, {"--plot", w.plot}});
    c.deadline = duration_option("--deadline", w.deadline);
    c.timeout = timeout_option(w.timeout);
    return c;
}

void tune_boards(const std::vector<board_entry>& boards, const tune_words& o, const checked_tune& checked,
                 const tune_source& source, const tune_runner& run) {
    std::FILE* const human = checked.human;
    std::vector<std::string> addresses;
    for (const auto& b : boards) addresses.push_back(b.address);
    // The plotted board: the first, or the one --plot-board names (address or name).
    std::size_t plot_index = 0;
    if (!o.plot_board.empty()) {
        plot_index = boards.size();
        for (std::size_t i = 0; i < boards.size() && plot_index == boards.size(); ++i)
            if (boards[i].address == o.plot_board || (!boards[i].name.empty() && boards[i].name == o.plot_board)) plot_index = i;
        if (plot_index == boards.size())
            throw CLI::ValidationError("--plot-board", "'" + o.plot_board + "' is not the address or name of a board of this run");
    }

    alg::array_options ao;
    ao.board.amplitude = o.amplitude;
    ao.board.channel_concurrency = o.channel_concurrency;
    ao.concurrency = o.concurrency;
    if (checked.deadline.count() > 0) ao.deadline = std::chrono::duration_cast<tw::clock::duration>(checked.deadline);
    ao.tuber.timeout = checked.timeout;

    const auto started = std::chrono::system_clock::now();
    const auto t0 = std::chrono::steady_clock::now();
    progress display(source.label, boards.size(), o.quiet);
    if (!o.quiet)
        display.line(fmt::format("tune: {} board{}{}, concurrency {}", boards.size(), boards.size() == 1 ? "" : "s",
                                 source.seed ? fmt::format(" (simulated, seed {}, {} channels)", *source.seed, source.channels) : "",
                                 o.concurrency ? std::to_string(o.concurrency) : "unlimited"));
    std::vector<std::optional<alg::board_outcome>> outcomes(boards.size());
    alg::sweep_data plot_sweep;
    ao.progress = [&](const fan_out_progress& p) { display.boards(p); };
    ao.board.on_channel = [&](const std::string& address, std::size_t done, std::size_t of) {
        display.channels(address, done, of);
    };
    ao.on_board = [&](std::size_t i, const alg::board_outcome& out) {
        display.board_done(addresses[i]);
        outcomes[i] = out;
        // The report needs no sweep: keep 256 boards' worth of points out of
        // memory, all but the plotted board's.
        if (outcomes[i]->result) {
            if (!o.plot.empty() && i == plot_index) plot_sweep = std::move(outcomes[i]->result->sweep);
            outcomes[i]->result->sweep = {};
        }
        if (out.status == alg::board_status::failed || out.status == alg::board_status::timeout)
            display.line(fmt::format("tune: board {} ({}) {}: {}", boards[i].address, boards[i].name,
                                     alg::to_string(out.status), out.error));
    };

    // Drawn before any board is done, so a user sees at once that it runs.
    display.boards({.total = boards.size(), .in_flight = std::min(boards.size(), o.concurrency ? o.concurrency : boards.size())});
    const bool interrupted = run([&] { alg::tune_array(addresses, ao); });
    display.finish();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // Every board's outcome; unfinished boards (the run was cancelled before
    // they started or ended) are cancelled ones.
    std::vector<alg::board_outcome> done(boards.size());
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        if (outcomes[i]) {
            done[i] = std::move(*outcomes[i]);
        } else {
            done[i].address = boards[i].address;
            done[i].status = alg::board_status::cancelled;
            done[i].error = "cancelled before it finished";
        }
    }
    const auto sum = summarize(done);
    const std::size_t ok = sum.ok;

    fmt::print(human, "\n{:<20}{:>10}\n", "boards", boards.size());
    fmt::print(human, "{:<20}{:>10}\n", "  ok", ok);
    fmt::print(human, "{:<20}{:>10}\n", "  failed", sum.failed);
    fmt::print(human, "{:<20}{:>10}\n", "  timed out", sum.timeout);
    if (sum.cancelled) fmt::print(human, "{:<20}{:>10}\n", "  cancelled", sum.cancelled);
    fmt::print(human, "{:<20}{:>10}\n", "resonators found", sum.resonators_found);
    fmt::print(human, "{:<20}{:>10}  of {} channels ({} verified)\n", "channels tuned", sum.channels_tuned, sum.channels,
               sum.channels_verified);
    fmt::print(human, "{:<20}{:>10.2f}  s\n", "elapsed", elapsed);
    std::fflush(human);

    if (!o.report.empty()) {
        const tune_run run{.command = command_line(),
                           .seed = source.seed,
                           .started = started,
                           .elapsed_s = elapsed,
                           .interrupted = interrupted};
        write_text_file(o.report, json::serialize(make_tune_report(boards, done, run)) + "\n", "report");
    }

    if (!o.plot.empty()) {
        const auto& pb = boards[plot_index];
        const auto& out = done[plot_index];
        const std::string label = pb.name.empty() ? pb.address : pb.address + " (" + pb.name + ")";
        if (out.result) {
            plot_marks marks;
            marks.title = fmt::format("tw tune {}, serial {}: {} resonances, {} channels tuned", label, out.result->serial,
                                      out.result->resonators_found, out.result->channels_tuned);
            marks.resonances = out.result->resonances;
            for (std::size_t c = 0; c < out.result->channels_tuned && c < out.result->channels.size(); ++c)
                marks.carriers.push_back(out.result->channels[c].frequency);
            write_text_file(o.plot, sweep_svg(plot_sweep, marks), "plot");
            fmt::print(human, "plot {}: {}\n", o.plot, label);
        } else {
            fmt::print(human, "tune: no plot: board {} did not end ok\n", label);
        }
        std::fflush(human);
    }

    end_of_board_run("tune", interrupted, ok, boards.size(), "did not end ok");
}

void add_tune_command(CLI::App& app) {
    auto o = std::make_shared<tune_options>();
    auto* cmd = app.add_subcommand("tune", "Tune every board: sweep, find resonances, assign and tune channels, verify");
    add_board_flags(*cmd, *o, "and tune them");
    cmd->add_option("--only-failed", o->only_failed,
                    "Re-run the boards that did not end ok in a saved report (replaces --boards; not with --sim)")
        ->option_text("REPORT");
    add_tune_words(*cmd, o->words);
    cmd->footer("Exit status 1 if any board failed, timed out or was cancelled (Ctrl-C); the report is written anyway.\n");
    cmd->callback([o] { run_tune(*o); });
}

}  // namespace tw::cli
