#pragma once
// Reporting of `tw bench`: the machine line, and the table or JSON document of
// `tw bench micro` and `tw bench fanout` (docs/BENCHMARKS.md). The benchmarks
// measure; this unit only prints what they measured, so that the output's
// wording and JSON keys are defined in one place. JSON is built with
// Boost.JSON (keys in the order they were inserted).
//
// Errors: none of its own (printing to stdout). A missing or non-finite number
// is printed as "-" in tables and null in micro's JSON.
//
// Example:
//   std::vector<micro_row> rows = {{.name = "fiber_switch", .unit = "ns", .baseline = "...", .value = 47.1,
//                                   .baseline_value = 35.9, .ratio = 1.31}};
//   print_micro_json(machine_string(), rows);   // {"machine":"...","figures":[{"name":"fiber_switch",...}]}

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

namespace tw::cli::bench {

// "CPU model, N cores, kernel": the "machine" of every benchmark report.
std::string machine_string();

// ---- tw bench micro ----

// One figure, both sides measured (or only one: --side).
struct micro_row {
    std::string name;
    std::string unit;
    std::string baseline;  // what the baseline side runs, in words
    std::optional<double> value;
    std::optional<double> baseline_value;
    std::optional<double> ratio;
    std::string target;  // "ratio <= 1.2", ">= 100000" or ""
    std::string status;  // "met", "missed", "n/a" or ""
    std::optional<double> ratio_min, ratio_max;  // the spread: lowest and highest ratio of one run to the baseline's beside it
    std::size_t runs = 0;                        // runs per side; the values are their medians
};

// Table: the figures, then the baselines in words. With quick, targets are not judged.
void print_micro_table(const std::string& machine, const std::vector<micro_row>& rows, bool quick);
// {"machine", "figures": [{name, value, unit, baseline, baseline_value, ratio, ratio_min, ratio_max, runs}]}
void print_micro_json(const std::string& machine, const std::vector<micro_row>& rows);

// ---- tw bench fanout ----

// What one client's child printed (tools/bench/fanout_clients.cpp, or
// fanout_asyncio.py): the keys of its JSON line.
struct fanout_result {
    std::string impl;
    boost::json::object o;
    // The number under key k; NaN when absent.
    double get(const char* k) const;
};

// One server's CPU per round trip under the same client (--server-baseline).
struct server_row {
    std::string name;
    double cpu_us_per_rt = 0;
};

// What was run, for the headers.
struct fanout_run {
    std::size_t connections = 0;
    std::size_t target_ports = 0;
    std::size_t rounds = 0;
    std::string query;
    std::optional<std::string> latency;  // the simulator's, with --sim only
    std::vector<server_row> servers;     // tw sim first, then its baseline; empty unless asked
    std::optional<std::string> pinned;   // --pin: "clients on CPU 0, server on CPU 1"
};

// Ratios are to the asio-callbacks result when it was run.
void print_fanout_table(const std::string& machine, const fanout_run& run, const std::vector<fanout_result>& rs);
// {"machine", "latency", "pinned" (with --pin), "results": [{...the child's keys..., "impl", "cpu_ratio"}],
//  "servers": [{"server", "cpu_us_per_rt", "rt_per_cpu_s"}], "server_ratio"} (servers when measured)
void print_fanout_json(const std::string& machine, const fanout_run& run, const std::vector<fanout_result>& rs);

}  // namespace tw::cli::bench
