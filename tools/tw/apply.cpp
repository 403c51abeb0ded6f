// tw apply: restore a saved tuning — set every channel's frequency and
// amplitude on every board from a `tw tune --report` file (schema 1).
//
//   tw apply run.json
//   tw apply run.json --concurrency 16 --timeout 2s
//   tw apply run.json --dry-run          (what would be set; no board is contacted)
//
// Boards whose status in the report is "ok" are applied; the others (failed,
// timeout, cancelled: they have no tuning) are listed as skipped. Before
// writing, each board's SERIAL is compared with the report's, so a tuning is
// never written to another board that now answers at the same address
// (--ignore-serial to skip the check, e.g. after a board swap on purpose).
// Per board, all channels go out in Tuber batches (set_frequency, then
// set_amplitude, per channel; 256 channels per request), boards fanned out
// on tw fibers.
//
// Output: one line per board as it finishes, then a summary line; with
// --json those go to stderr and one JSON document to stdout (see run_apply).
// Exit 1 if any board failed (the others are still applied); 2 for a usage
// error, including a missing or malformed report.

#include "commands.hpp"
#include "tune_report.hpp"
#include "verb_util.hpp"

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/core.h>

#include <tw/drivers/tuber/board.hpp>
#include <tw/fan_out.hpp>
#include <tw/runtime.hpp>

namespace tw::cli {

namespace {

struct apply_options {
    std::string report;
    std::string timeout = "5s";
    std::size_t concurrency = algorithms::k_default_concurrency;
    bool dry_run = false;
    bool ignore_serial = false;
    bool json = false;
};

// Channels per Tuber request: 2 calls each, about 40 KB of JSON at 256.
constexpr std::size_t k_channels_per_batch = 256;

std::string board_label(const report_board& b) { return b.name.empty() ? b.address : b.address + " (" + b.name + ")"; }

void apply_board(const report_board& rb, const tuber::options& topts, bool check_serial) {
    tuber::board b(rb.address, topts);
    if (check_serial && !rb.serial.empty()) {
        const auto serial = b.serial();
        if (serial != rb.serial)
            throw std::runtime_error("serial " + serial + " is not the report's " + rb.serial +
                                     ": not applying (--ignore-serial to apply anyway)");
    }
    for (std::size_t first = 0; first < rb.channels.size(); first += k_channels_per_batch) {
        const std::size_t last = std::min(rb.channels.size(), first + k_channels_per_batch);
        tuber::batch batch(b.tuber());
        for (std::size_t k = first; k < last; ++k) {
            const auto& c = rb.channels[k];
            batch.call(b.object(), "set_frequency", {c.channel, c.frequency});
            batch.call(b.object(), "set_amplitude", {c.channel, c.amplitude});
        }
        const auto results = batch.execute();
        // The board stops a batch at its first failing call; report that one.
        for (std::size_t r = 0; r < results.size(); ++r)
            if (!results[r].ok())
                throw std::runtime_error(fmt::format("channel {}: {}: {}", rb.channels[first + r / 2].channel,
                                                     r % 2 ? "set_amplitude" : "set_frequency", results[r].error_message()));
    }
}

void run_apply(const apply_options& o) {
    const auto timeout = timeout_option(o.timeout);
    tune_report report;
    try {
        report = read_tune_report(o.report);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError(e.what());
    }

    // With --json the lines go to stderr and one document to stdout at the end:
    // {report, dry_run, boards: [{address, name, result, channels, error}],
    //  summary: {applied, failed, skipped, would_apply}}; result is one of
    // applied, failed, skipped, would_apply.
    std::FILE* const lines = o.json ? stderr : stdout;
    std::vector<boost::json::object> rows(report.boards.size());
    auto row = [&](const report_board& b, const char* result, const std::string& error = {}) {
        rows[static_cast<std::size_t>(&b - report.boards.data())] =
            boost::json::object{{"address", b.address}, {"name", b.name},         {"result", result},
                                {"channels", b.channels.size()}, {"error", error}};
    };
    auto finish = [&](std::size_t applied, std::size_t failed, std::size_t skipped, std::size_t would_apply) {
        std::fflush(lines);
        if (!o.json) return;
        boost::json::array boards;
        for (auto& r : rows) boards.push_back(std::move(r));
        fmt::print("{}\n", boost::json::serialize(boost::json::object{
                               {"report", o.report},
                               {"dry_run", o.dry_run},
                               {"boards", std::move(boards)},
                               {"summary", boost::json::object{{"applied", applied}, {"failed", failed}, {"skipped", skipped},
                                                               {"would_apply", would_apply}}}}));
        std::fflush(stdout);
    };

    std::vector<const report_board*> to_apply;
    std::size_t skipped = 0;
    for (const auto& b : report.boards) {
        if (b.status == "ok") {
            to_apply.push_back(&b);
        } else {
            ++skipped;
            row(b, "skipped", "status " + b.status + " in the report");
            fmt::print(lines, "apply: {} skipped: status {} in the report\n", board_label(b), b.status);
        }
    }

    if (o.dry_run) {
        for (const auto* b : to_apply) {
            row(*b, "would_apply");
            fmt::print(lines, "apply: {} would set {} channels{}\n", board_label(*b), b->channels.size(),
                       b->serial.empty() ? "" : " (serial " + b->serial + ")");
        }
        fmt::print(lines, "apply: dry run: {} boards would be applied, {} skipped\n", to_apply.size(), skipped);
        finish(0, 0, skipped, to_apply.size());
        return;
    }
    if (to_apply.empty()) {
        fmt::print(lines, "apply: nothing to apply: no board of '{}' ended ok\n", o.report);
        finish(0, 0, skipped, 0);
        return;
    }

    const tuber::options topts{.timeout = timeout, .log = verb_log()};
    tw::runtime rt({.threads = 1, .name = "tw-apply"});
    const auto result = rt.run([&] {
        return tw::fan_out(
            to_apply,
            [&](const report_board* b) {
                try {
                    apply_board(*b, topts, !o.ignore_serial);
                } catch (const std::exception& e) {
                    row(*b, "failed", e.what());
                    fmt::print(lines, "apply: {} failed: {}\n", board_label(*b), e.what());
                    std::fflush(lines);
                    throw;
                }
                row(*b, "applied");
                fmt::print(lines, "apply: {} ok: {} channels\n", board_label(*b), b->channels.size());
                std::fflush(lines);
            },
            {.concurrency = o.concurrency, .name = "apply"});
    });
    fmt::print(lines, "apply: {} boards applied, {} failed, {} skipped\n", result.succeeded, result.failed, skipped);
    finish(result.succeeded, result.failed, skipped, 0);
    if (result.failed)
        throw std::runtime_error(fmt::format("apply: {} of {} boards failed", result.failed, to_apply.size()));
}

}  // namespace

void add_apply_command(CLI::App& app) {
    auto o = std::make_shared<apply_options>();
    auto* cmd = app.add_subcommand("apply", "Restore a saved tuning: set each board's channels from a tw tune report");
    cmd->add_option("REPORT", o->report, "A tw tune --report file (schema 1)")->required();
    cmd->add_option("--timeout", o->timeout, "Per request to a board")->capture_default_str();
    count_option(*cmd, "--concurrency", o->concurrency, "Boards applied at once (0: all)", 0, k_max_concurrency)
        ->capture_default_str();
    cmd->add_flag("--dry-run", o->dry_run, "List what would be set; contact no board");
    cmd->add_flag("--ignore-serial", o->ignore_serial, "Apply even where the board's SERIAL differs from the report's");
    cmd->add_flag("--json", o->json, "One JSON document on stdout at the end (each board's result); the lines go to stderr");
    cmd->footer("Only boards with status \"ok\" in the report are applied.\n"
                "Exit status 1 if any board failed (the others are applied anyway); 2 for a bad report.\n");
    cmd->callback([o] { run_apply(*o); });
}

}  // namespace tw::cli
