// tw bench micro, the harness (micro.hpp): picks the figures, measures both
// sides of each (in this process for timing figures; in fresh child processes,
// child.hpp, for memory and idle figures, so that earlier figures and the
// other side do not pollute RSS or CPU time), judges targets and hands the rows
// to the report (report.hpp). Each side is measured --runs times (default 5),
// the two sides taking turns so that both see the same machine: the figures
// are the medians, and the spread is the lowest and highest ratio of a tw run
// to the baseline run beside it, so one noisy run shows instead of passing
// for the figure. The figures and baselines themselves are micro_figures.cpp.
//
//   tw bench micro --only io_suspend_resume --side tw --iterations 100000
//                  exactly N iterations, no warm-up, one run (for callgrind:
//                  run N and 2N, subtract)

#include "micro.hpp"

#include "child.hpp"
#include "micro_figures.hpp"
#include "report.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/algorithm/string/trim.hpp>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

namespace tw::cli::bench {

namespace {

// One figure as measured: a side not asked for (--side) stays empty.
struct result {
    const figure_def* def;
    std::optional<double> value;
    std::optional<double> baseline_value;
    std::optional<double> ratio_min, ratio_max;  // over the pairs of runs
    std::size_t runs = 0;
    std::optional<double> ratio() const {
        if (!value || !baseline_value || *baseline_value == 0) return std::nullopt;
        return *value / *baseline_value;
    }
    // "met", "missed" or "" (no target).
    std::string status() const {
        if (def->ratio_target) {
            auto r = ratio();
            if (!r) return "n/a";
            return *r <= *def->ratio_target ? "met" : "missed";
        }
        if (def->value_target) {
            if (!value) return "n/a";
            const bool ok = def->direction == better::higher ? *value >= *def->value_target : *value <= *def->value_target;
            return ok ? "met" : "missed";
        }
        return "";
    }
    std::string target() const {
        if (def->ratio_target) return fmt::format("ratio <= {}", *def->ratio_target);
        if (def->value_target) return fmt::format("{} {}", def->direction == better::higher ? ">=" : "<=", *def->value_target);
        return "";
    }
};

// Runs one side of an isolated figure in a fresh copy of this program.
double run_child(const figure_def& f, const char* side, bool quick) {
    std::vector<std::string> args = {"tw", "bench", "micro", "--only", f.name, "--child-side", side};
    if (quick) args.push_back("--quick");
    child_process c(self_exe(), args);
    const auto out = c.read_all();
    if (c.wait() != 0) throw std::runtime_error(fmt::format("bench: the child measuring {} ({}) failed", f.name, side));
    try {
        return std::stod(out);
    } catch (...) {
        throw std::runtime_error(fmt::format("bench: the child measuring {} ({}) printed '{}'", f.name, side, boost::algorithm::trim_copy(out)));
    }
}

result measure(const figure_def& f, const config& cfg, std::size_t runs) {
    result r{&f, std::nullopt, std::nullopt, std::nullopt, std::nullopt, runs};
    std::vector<double> tw_runs, base_runs;
    for (std::size_t i = 0; i < runs; ++i) {
        if (cfg.want_tw) tw_runs.push_back(f.isolated ? run_child(f, "tw", cfg.quick) : f.tw_side(cfg));
        if (cfg.want_base) base_runs.push_back(f.isolated ? run_child(f, "baseline", cfg.quick) : f.base_side(cfg));
    }
    if (cfg.want_tw) r.value = median(tw_runs);
    if (cfg.want_base) r.baseline_value = median(base_runs);
    if (cfg.want_tw && cfg.want_base) {
        for (std::size_t i = 0; i < runs; ++i) {
            if (base_runs[i] == 0) continue;
            const double q = tw_runs[i] / base_runs[i];
            r.ratio_min = std::min(r.ratio_min.value_or(q), q);
            r.ratio_max = std::max(r.ratio_max.value_or(q), q);
        }
    }
    return r;
}

micro_row to_row(const result& r) {
    return {r.def->name, r.def->unit,      r.def->baseline, r.value, r.baseline_value, r.ratio(),
            r.target(),  r.status(),       r.ratio_min,     r.ratio_max, r.runs};
}

}  // namespace

void run_micro(const micro_options& o) {
    std::vector<const figure_def*> chosen;
    if (o.only.empty()) {
        for (auto& f : figures()) chosen.push_back(&f);
    } else {
        for (auto& n : o.only) {
            auto* f = find_figure(n);
            if (!f) {
                std::string names;
                for (auto& d : figures()) names += std::string(names.empty() ? "" : ", ") + d.name;
                throw CLI::ValidationError("--only", fmt::format("unknown figure '{}' (figures: {})", n, names));
            }
            chosen.push_back(f);
        }
    }
    config cfg;
    cfg.quick = o.quick;
    cfg.run_seconds = o.quick ? 0.002 : 0.12;
    cfg.fixed = o.iterations;
    cfg.want_tw = o.side != "baseline";
    cfg.want_base = o.side != "tw";

    if (!o.child_side.empty()) {
        if (chosen.size() != 1) throw CLI::ValidationError("--child-side", "needs exactly one figure in --only");
        auto& f = *chosen.front();
        const double v = o.child_side == "tw" ? f.tw_side(cfg) : f.base_side(cfg);
        fmt::print("{:.17g}\n", v);  // full precision: the parent takes the median of these
        return;
    }
    if (o.iterations)
        for (auto* f : chosen)
            if (f->isolated)
                throw CLI::ValidationError("--iterations", fmt::format("applies to timing figures only, not {}", f->name));

    const auto machine = machine_string();
    std::vector<micro_row> rows;
    for (auto* f : chosen) {
        spdlog::info("bench: measuring {}", f->name);
        // A fixed iteration count is for a profiler: one run.
        rows.push_back(to_row(measure(*f, cfg, o.iterations ? 1 : o.runs)));
    }
    if (o.json)
        print_micro_json(machine, rows);
    else
        print_micro_table(machine, rows, o.quick);
}

}  // namespace tw::cli::bench
