// Reporting of `tw bench` (report.hpp): machine line, micro and fan-out
// tables and JSON documents.

#include "report.hpp"

#include <sys/utsname.h>

#include <cmath>
#include <fstream>
#include <thread>

#include <boost/algorithm/string/trim.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/core.h>

namespace tw::cli::bench {

std::string machine_string() {
    std::string cpu = "unknown CPU";
    std::ifstream f("/proc/cpuinfo");
    for (std::string line; std::getline(f, line);)
        if (line.rfind("model name", 0) == 0) {
            if (auto p = line.find(':'); p != std::string::npos) cpu = boost::algorithm::trim_copy(line.substr(p + 1));
            break;
        }
    utsname u{};
    ::uname(&u);
    return fmt::format("{}, {} cores, {} {} {}", cpu, std::thread::hardware_concurrency(), u.sysname, u.release, u.machine);
}

namespace {

// Micro's table cells: few digits, so that the columns line up.
std::string micro_cell(std::optional<double> v) {
    if (!v) return "-";
    if (std::fabs(*v) >= 1000) return fmt::format("{:.0f}", *v);
    if (std::fabs(*v) >= 10) return fmt::format("{:.1f}", *v);
    return fmt::format("{:.2f}", *v);
}

// JSON has no NaN or infinity: a figure that could not be measured is null.
boost::json::value json_number(std::optional<double> v) {
    if (!v || !std::isfinite(*v)) return nullptr;
    return *v;
}

// Fan-out's table cells (NaN: not measured, or no asio-callbacks to divide by).
std::string fanout_cell(double v) {
    if (!std::isfinite(v)) return "-";
    if (std::fabs(v) >= 1000) return fmt::format("{:.0f}", v);
    if (std::fabs(v) >= 100) return fmt::format("{:.1f}", v);
    return fmt::format("{:.3g}", v);
}

const fanout_result* callbacks_result(const std::vector<fanout_result>& rs) {
    const fanout_result* base = nullptr;
    for (auto& r : rs)
        if (r.impl == "asio-callbacks") base = &r;
    return base;
}

double ratio_to(const fanout_result* base, const fanout_result& r, const char* k) {
    if (!base) return std::nan("");
    return r.get(k) / base->get(k);
}

}  // namespace

void print_micro_table(const std::string& machine, const std::vector<micro_row>& rows, bool quick) {
    fmt::print("machine: {}\n", machine);
    if (quick) fmt::print("--quick: tiny counts, the numbers mean nothing and targets are not judged\n");
    fmt::print("\n");
    fmt::print("{:<26} {:>12} {:>12} {:>7} {:>11}  {:<7} {:<16} {}\n", "figure", "tw", "baseline", "ratio", "spread", "unit", "target", "");
    for (auto& r : rows) {
        const std::string spread =
            r.ratio_min && r.ratio_max ? fmt::format("{:.2f}-{:.2f}", *r.ratio_min, *r.ratio_max) : std::string("-");
        fmt::print("{:<26} {:>12} {:>12} {:>7} {:>11}  {:<7} {:<16} {}\n", r.name, micro_cell(r.value), micro_cell(r.baseline_value),
                   r.ratio ? fmt::format("{:.2f}", *r.ratio) : "-", spread, r.unit, r.target, quick ? "" : r.status);
    }
    if (!rows.empty())
        fmt::print("\ntw and baseline: medians of {} runs each, taking turns; spread: the lowest and highest ratio of a\n"
                   "run to the baseline run beside it\n",
                   rows.front().runs);
    fmt::print("\nbaselines:\n");
    for (auto& r : rows) fmt::print("  {:<26} {}\n", r.name, r.baseline);
}

void print_micro_json(const std::string& machine, const std::vector<micro_row>& rows) {
    boost::json::array figures;
    for (auto& r : rows) {
        boost::json::object f;
        f["name"] = r.name;
        f["value"] = json_number(r.value);
        f["unit"] = r.unit;
        f["baseline"] = r.baseline;
        f["baseline_value"] = json_number(r.baseline_value);
        f["ratio"] = json_number(r.ratio);
        f["ratio_min"] = json_number(r.ratio_min);
        f["ratio_max"] = json_number(r.ratio_max);
        f["runs"] = r.runs;
        figures.push_back(std::move(f));
    }
    boost::json::object top;
    top["machine"] = machine;
    top["figures"] = std::move(figures);
    fmt::print("{}\n", boost::json::serialize(top));
}

double fanout_result::get(const char* k) const {
    auto* v = o.if_contains(k);
    return v && v->is_number() ? v->to_number<double>() : std::nan("");
}

void print_fanout_json(const std::string& machine, const fanout_run& run, const std::vector<fanout_result>& rs) {
    const auto* base = callbacks_result(rs);
    boost::json::array arr;
    for (auto& r : rs) {
        auto obj = r.o;
        obj["impl"] = r.impl;
        if (base) obj["cpu_ratio"] = ratio_to(base, r, "cpu_us_per_rt");
        arr.push_back(std::move(obj));
    }
    boost::json::object top;
    top["machine"] = machine;
    top["latency"] = run.latency.value_or("n/a");
    if (run.pinned) top["pinned"] = *run.pinned;
    top["results"] = std::move(arr);
    if (!run.servers.empty()) {
        boost::json::array servers;
        for (const auto& s : run.servers)
            servers.push_back({{"server", s.name}, {"cpu_us_per_rt", s.cpu_us_per_rt}, {"rt_per_cpu_s", 1e6 / s.cpu_us_per_rt}});
        top["servers"] = std::move(servers);
        top["server_ratio"] = run.servers.front().cpu_us_per_rt / run.servers.back().cpu_us_per_rt;
    }
    fmt::print("{}\n", boost::json::serialize(top));
}

void print_fanout_table(const std::string& machine, const fanout_run& run, const std::vector<fanout_result>& rs) {
    const auto* base = callbacks_result(rs);
    fmt::print("machine: {}\n", machine);
    fmt::print("{} connections over {} target ports, {} timed round trips each, query '{}'{}\n\n", run.connections, run.target_ports,
               run.rounds, run.query, run.latency ? fmt::format(", simulator latency {}", *run.latency) : std::string());
    if (run.pinned) fmt::print("pinned: {}\n", *run.pinned);
    fmt::print("{:<15} {:>9} {:>10} {:>9} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6} {:>9} {:>9} {:>9}\n", "impl", "wall_s", "rt/s", "cpu_us/rt",
               "ratio", "KiB/board", "p50_us", "p99_us", "conn_us", "first_us", "ratio", "tear_us", "srv_us/rt", "sys/rt");
    for (auto& r : rs) {
        const double setup = r.get("connect_us_per_board") + r.get("first_rt_us_per_board");
        const double base_setup = base ? base->get("connect_us_per_board") + base->get("first_rt_us_per_board") : std::nan("");
        fmt::print("{:<15} {:>9} {:>10} {:>9} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6} {:>9} {:>9} {:>9}\n", r.impl, fanout_cell(r.get("wall_s")),
                   fanout_cell(r.get("rt_per_s")), fanout_cell(r.get("cpu_us_per_rt")), fanout_cell(ratio_to(base, r, "cpu_us_per_rt")),
                   fanout_cell(r.get("rss_kib_per_board")), fanout_cell(r.get("p50_us")), fanout_cell(r.get("p99_us")),
                   fanout_cell(r.get("connect_us_per_board")), fanout_cell(r.get("first_rt_us_per_board")), fanout_cell(setup / base_setup),
                   fanout_cell(r.get("teardown_us_per_board")), fanout_cell(r.get("server_cpu_us_per_rt")),
                   fanout_cell(r.get("syscalls_per_rt")));
    }
    fmt::print(
        "\ncpu_us/rt: client user+sys CPU over the timed window / round trips; ratio: to asio-callbacks.\n"
        "conn_us, first_us, tear_us: client CPU per board outside the timed window (connect, first round trip, teardown);\n"
        "the second ratio is (conn+first) to asio-callbacks' (the fiber driver connects lazily, in its first query).\n"
        "srv_us/rt: the simulator's CPU per round trip during that run (--sim); sys/rt: system calls per round trip\n"
        "in the steady state, counted under strace (--syscalls; a traced client finds replies waiting more often).\n");
    if (!run.servers.empty()) {
        fmt::print("\nservers, each driven by asio-callbacks ({} connections):\n", run.connections);
        for (const auto& s : run.servers)
            fmt::print("  {:<18} {:>9} CPU us per round trip  {:>10} round trips per CPU second\n", s.name, fanout_cell(s.cpu_us_per_rt),
                       fanout_cell(1e6 / s.cpu_us_per_rt));
        fmt::print("  ratio {}: {}\n", fanout_cell(run.servers.front().cpu_us_per_rt / run.servers.back().cpu_us_per_rt),
                   "the simulator's CPU per round trip to the baseline's (<= 1: at least as many round trips per core)");
    }
}

}  // namespace tw::cli::bench
