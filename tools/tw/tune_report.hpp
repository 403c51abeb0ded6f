#pragma once
// The `tw tune --report` file (schema 1, docs/report.schema.json, described in
// docs/REPORTS.md): the one place that writes it (make_tune_report, for
// `tw tune`) and reads it (read_tune_report, for `tw tune --only-failed` and
// `tw apply`), plus the header every tw JSON report opens with
// (report_header, also for `tw health --json` and `tw cooldown --json`).
//
// The reader checks every field the schema requires, with the schema's type
// and range, not only those its callers use: a report that does not follow
// the schema is refused as a whole rather than half-applied, and the schema
// file and this reader cannot drift apart unnoticed (tests/tools compare them).
//
// Errors: the reader throws std::invalid_argument with one line naming the
// file and the field (`report 'run.json': boards[0].channels[3].amplitude is
// not in [0, 1]`); callers map it to a usage error, exit 2.
//
// Example:
//   auto r = tw::cli::read_tune_report("run.json");
//   for (auto& b : r.boards) if (b.status != "ok") fmt::print("{} {}\n", b.name, b.address);

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include <tw/algorithms/tuning.hpp>

#include "board_list.hpp"

namespace tw::cli {

// The version of the tune report this tw writes and reads.
inline constexpr int k_tune_report_schema = 1;

// The fields a tw JSON report opens with, in this order: {"schema": schema,
// "tool": "tw VERSION", "command": command}. Each report kind (tune, health,
// cooldown) versions its own schema.
boost::json::object report_header(int schema, std::string_view command);

// ---- writing -----------------------------------------------------------------

// Counts over a run's outcomes: the report's "summary" and tw tune's table.
struct tune_summary {
    std::size_t boards = 0, ok = 0, failed = 0, timeout = 0, cancelled = 0;
    std::size_t resonators_found = 0, channels_tuned = 0, channels_verified = 0;
    std::size_t channels = 0;  // of the boards that ended ok (the table's "of N channels"; not in the report)
};
tune_summary summarize(const std::vector<algorithms::board_outcome>& outcomes);

// What the report says about the run itself.
struct tune_run {
    std::string command;                 // the command line
    std::optional<std::uint64_t> seed;   // --sim's seed; none for real boards (null)
    std::chrono::system_clock::time_point started;
    double elapsed_s = 0;
    bool interrupted = false;
};

// The report of one run: boards[i] (name, address) and its outcomes[i], one
// per board (a board never finished is an outcome with status cancelled).
boost::json::object make_tune_report(const std::vector<board_entry>& boards,
                                     const std::vector<algorithms::board_outcome>& outcomes, const tune_run& run);

// ---- reading -----------------------------------------------------------------

struct report_channel {
    int channel = 0;
    double frequency = 0;  // Hz
    double amplitude = 0;
};

struct report_board {
    std::string address;
    std::string name;
    std::string serial;  // "" when the board never answered
    std::string status;  // "ok", "failed", "timeout", "cancelled"
    std::vector<report_channel> channels;
};

struct tune_report {
    bool simulated = false;  // written by `tw tune --sim`: "seed" is a number
    std::vector<report_board> boards;
};

// The text of a report -> what tw reads of it; `path` is for messages. Pure
// (tests and fuzzing).
tune_report parse_tune_report(std::string_view text, const std::string& path);

// The same, from a file.
tune_report read_tune_report(const std::string& path);

}  // namespace tw::cli
