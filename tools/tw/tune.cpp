// tw tune: tune every board of a list (or N simulated boards started
// in-process) with tw::algorithms::tune_array, show progress, end with a
// summary table, optionally write a JSON report.
//
//   tw tune --sim 16 [--seed S] [--channels C]
//   tw tune --boards 10.0.0.1:9000+64 --concurrency 32 --deadline 5m --report run.json
//
// Progress: on a terminal one redrawn bar line (done, failed, in flight,
// rate, ETA); otherwise a plain line at most once a second, plus one line per
// board that did not end ok. Exit 1 if any board failed, timed out or was
// cancelled (SIGINT/SIGTERM cancel the run; the report is still written, with
// unfinished boards marked "cancelled").
//
// Report (schema 1): {"schema": 1, "tool": "tw VERSION", "command": "...",
// "seed": S|null, "started": ISO8601, "elapsed_s": X, "boards": [{"address",
// "name", "serial", "status", "error", "resonators_found", "channels_tuned",
// "channels_verified", "elapsed_s", "channels": [{"channel", "frequency",
// "amplitude", "s21", "verified"}]}], "summary": {...}}

#include "board_list.hpp"
#include "commands.hpp"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/signal_set.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <tw/algorithms/tuning.hpp>
#include <tw/duration.hpp>
#include <tw/errors.hpp>
#include <tw/run.hpp>
#include <tw/runtime.hpp>
#include <tw/sim/simulator.hpp>
#include <tw/yield.hpp>

namespace tw::cli {

namespace {

namespace alg = tw::algorithms;
namespace json = boost::json;

struct tune_options {
    std::string boards;
    std::size_t sim = 0;
    std::optional<std::uint64_t> seed;
    std::size_t channels = 64;
    std::size_t concurrency = 64;
    std::size_t channel_concurrency = 8;
    double amplitude = 0.5;
    std::string deadline = "0";
    std::string timeout = "5s";
    std::string report;
};

std::chrono::nanoseconds duration_flag(const std::string& flag, const std::string& text) {
    try {
        return tw::parse_duration(text);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError(flag, e.what());
    }
}

std::string iso8601(std::chrono::system_clock::time_point tp) {
    const std::time_t t = std::chrono::system_clock::to_time_t(tp);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string eta_text(double seconds) {
    if (!(seconds >= 0) || seconds > 1e7) return "?";
    const auto s = static_cast<long>(seconds + 0.5);
    if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s / 60) % 60);
    if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
    return fmt::format("{}s", s);
}

// Progress display: a redrawn bar on a terminal, throttled plain lines otherwise.
class progress_display {
public:
    explicit progress_display(std::size_t total) : total_(total), tty_(::isatty(STDOUT_FILENO) == 1) {}

    void update(const fan_out_progress& p, bool force = false) {
        const auto now = std::chrono::steady_clock::now();
        const auto since = now - last_;
        if (!force && since < (tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(1000))) return;
        last_ = now;
        const double elapsed = std::chrono::duration<double>(now - start_).count();
        const double rate = elapsed > 0 ? static_cast<double>(p.done) / elapsed : 0;
        const double eta = rate > 0 ? static_cast<double>(total_ - p.done) / rate : -1;
        if (tty_) {
            constexpr std::size_t width = 30;
            const std::size_t filled = total_ ? width * p.done / total_ : width;
            fmt::print("\r[{}{}] {}/{} done, {} failed, {} in flight, {:.1f} boards/s, ETA {}   ", std::string(filled, '#'),
                       std::string(width - filled, '-'), p.done, total_, p.failed, p.in_flight, rate, eta_text(eta));
            drawn_ = true;
        } else {
            fmt::print("tune: {}/{} done, {} failed, {} in flight, {:.1f} boards/s, ETA {}\n", p.done, total_, p.failed,
                       p.in_flight, rate, eta_text(eta));
        }
        std::fflush(stdout);
    }
    // A line that must not be overwritten by the bar.
    void line(const std::string& text) {
        if (tty_ && drawn_) fmt::print("\r\033[K");
        fmt::print("{}\n", text);
        std::fflush(stdout);
    }
    void finish() {
        if (tty_ && drawn_) fmt::print("\n");
        std::fflush(stdout);
    }

private:
    std::size_t total_;
    bool tty_;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_{};
};

json::object board_json(const board_entry& e, const alg::board_outcome& o) {
    json::object b;
    b["address"] = e.address;
    b["name"] = e.name;
    b["serial"] = o.result ? o.result->serial : "";
    b["status"] = alg::to_string(o.status);
    b["error"] = o.error;
    b["resonators_found"] = o.result ? o.result->resonators_found : 0;
    b["channels_tuned"] = o.result ? o.result->channels_tuned : 0;
    b["channels_verified"] = o.result ? o.result->channels_verified : 0;
    b["elapsed_s"] = o.elapsed_s;
    json::array chans;
    if (o.result)
        for (const auto& c : o.result->channels)
            chans.push_back(json::object{{"channel", c.channel},
                                         {"frequency", c.frequency},
                                         {"amplitude", c.amplitude},
                                         {"s21", c.s21},
                                         {"verified", c.verified}});
    b["channels"] = std::move(chans);
    return b;
}

void run_tune(const tune_options& o) {
    if (o.boards.empty() == (o.sim == 0)) throw CLI::ValidationError("tune", "give exactly one of --boards SPEC and --sim N");
    if (!o.boards.empty() && o.seed) throw CLI::ValidationError("--seed", "only with --sim");
    if (!(o.amplitude > 0 && o.amplitude <= 1)) throw CLI::ValidationError("--amplitude", "must be in (0, 1]");
    const auto deadline = duration_flag("--deadline", o.deadline);
    const auto timeout = duration_flag("--timeout", o.timeout);
    if (timeout.count() <= 0) throw CLI::ValidationError("--timeout", "must be more than 0");

    // The simulated boards, in-process, on a runtime of their own.
    std::optional<tw::runtime> sim_rt;
    std::optional<tw::sim::simulator> sim;
    std::vector<board_entry> boards;
    if (o.sim) {
        tw::sim::config c;
        c.boards = o.sim;
        c.channels = o.channels;
        c.scpi = 0;
        c.modbus = 0;
        c.seed = o.seed.value_or(1);
        c.port = 0;
        try {
            tw::sim::validate(c);
        } catch (const std::invalid_argument& e) {
            throw CLI::ValidationError(e.what());
        }
        sim_rt.emplace(tw::runtime_options{.threads = 1, .name = "tw-sim"});
        sim.emplace(c, *sim_rt);
        for (const auto& w : sim->warnings()) fmt::print(stderr, "{}\n", w);
        std::size_t i = 0;
        for (const auto& a : sim->tuber_addresses()) boards.push_back({fmt::format("sim-{}", i++), a});
    } else {
        try {
            boards = parse_board_list(o.boards);
        } catch (const std::invalid_argument& e) {
            throw CLI::ValidationError("--boards", e.what());
        }
    }
    std::vector<std::string> addresses;
    for (const auto& b : boards) addresses.push_back(b.address);

    alg::array_options ao;
    ao.board.amplitude = o.amplitude;
    ao.board.channel_concurrency = o.channel_concurrency;
    ao.concurrency = o.concurrency;
    if (deadline.count() > 0) ao.deadline = std::chrono::duration_cast<tw::clock::duration>(deadline);
    ao.tuber.timeout = timeout;

    const auto started = std::chrono::system_clock::now();
    const auto t0 = std::chrono::steady_clock::now();
    fmt::print("tune: {} board{}{}, concurrency {}\n", boards.size(), boards.size() == 1 ? "" : "s",
               o.sim ? fmt::format(" (simulated, seed {}, {} channels)", o.seed.value_or(1), o.channels) : "",
               o.concurrency ? std::to_string(o.concurrency) : "unlimited");
    std::fflush(stdout);

    progress_display display(boards.size());
    std::vector<std::optional<alg::board_outcome>> outcomes(boards.size());
    fan_out_progress last{};
    last.total = boards.size();
    ao.progress = [&](const fan_out_progress& p) {
        last = p;
        display.update(p, p.done == p.total);
    };
    ao.on_board = [&](std::size_t i, const alg::board_outcome& out) {
        outcomes[i] = out;
        // The report needs no sweep: keep 256 boards' worth of points out of memory.
        if (outcomes[i]->result) outcomes[i]->result->sweep = {};
        if (out.status == alg::board_status::failed || out.status == alg::board_status::timeout)
            display.line(fmt::format("tune: board {} ({}) {}: {}", boards[i].address, boards[i].name,
                                     alg::to_string(out.status), out.error));
    };

    bool interrupted = false;
    tw::runtime rt({.threads = 1, .name = "tw-tune"});
    rt.run([&] {
        boost::asio::signal_set signals(tw::this_fiber::executor(), SIGINT, SIGTERM);
        auto work = tw::spawn([&] { return alg::tune_array(addresses, ao); });
        auto watcher = tw::spawn([&] {
            try {
                signals.async_wait(tw::yield);
                interrupted = true;
                work.cancel("interrupted");
            } catch (const std::exception&) {
            }
        });
        try {
            work.wait();
        } catch (const std::exception&) {
        }
        boost::system::error_code ec;
        signals.cancel(ec);
        watcher.cancel("tune finished");
        try {
            watcher.wait();
        } catch (const std::exception&) {
        }
    });
    display.finish();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // Unfinished boards (the run was cancelled before they started or ended).
    for (std::size_t i = 0; i < outcomes.size(); ++i)
        if (!outcomes[i]) {
            alg::board_outcome c;
            c.address = boards[i].address;
            c.status = alg::board_status::cancelled;
            c.error = "cancelled before it finished";
            outcomes[i] = c;
        }

    std::size_t ok = 0, failed = 0, timed_out = 0, cancelled = 0, found = 0, tuned = 0, verified = 0, channels = 0;
    for (const auto& out : outcomes) {
        switch (out->status) {
            case alg::board_status::ok: ++ok; break;
            case alg::board_status::failed: ++failed; break;
            case alg::board_status::timeout: ++timed_out; break;
            case alg::board_status::cancelled: ++cancelled; break;
        }
        if (out->result) {
            found += out->result->resonators_found;
            tuned += out->result->channels_tuned;
            verified += out->result->channels_verified;
            channels += out->result->channels.size();
        }
    }

    fmt::print("\n{:<20}{:>10}\n", "boards", boards.size());
    fmt::print("{:<20}{:>10}\n", "  ok", ok);
    fmt::print("{:<20}{:>10}\n", "  failed", failed);
    fmt::print("{:<20}{:>10}\n", "  timed out", timed_out);
    if (cancelled) fmt::print("{:<20}{:>10}\n", "  cancelled", cancelled);
    fmt::print("{:<20}{:>10}\n", "resonators found", found);
    fmt::print("{:<20}{:>10}  of {} channels ({} verified)\n", "channels tuned", tuned, channels, verified);
    fmt::print("{:<20}{:>10.2f}  s\n", "elapsed", elapsed);
    std::fflush(stdout);

    if (!o.report.empty()) {
        json::object r;
        r["schema"] = 1;
        r["tool"] = "tw " TW_VERSION;
        r["command"] = command_line();
        if (o.sim)
            r["seed"] = o.seed.value_or(1);
        else
            r["seed"] = nullptr;
        r["started"] = iso8601(started);
        r["elapsed_s"] = elapsed;
        json::array bs;
        for (std::size_t i = 0; i < boards.size(); ++i) bs.push_back(board_json(boards[i], *outcomes[i]));
        r["boards"] = std::move(bs);
        r["summary"] = json::object{{"boards", boards.size()},   {"ok", ok},
                                    {"failed", failed},          {"timeout", timed_out},
                                    {"cancelled", cancelled},    {"resonators_found", found},
                                    {"channels_tuned", tuned},   {"channels_verified", verified},
                                    {"interrupted", interrupted}};
        std::ofstream f(o.report);
        f << json::serialize(r) << '\n';
        if (!f) throw std::runtime_error("cannot write the report to '" + o.report + "'");
    }

    if (sim) sim->stop();
    if (interrupted) throw tw::cancelled_error("tune: interrupted");
    if (ok != boards.size())
        throw std::runtime_error(fmt::format("tune: {} of {} boards did not end ok", boards.size() - ok, boards.size()));
}

}  // namespace

void add_tune_command(CLI::App& app) {
    auto o = std::make_shared<tune_options>();
    auto* cmd = app.add_subcommand("tune", "Tune every board: sweep, find resonances, assign and tune channels, verify");
    auto* boards = cmd->add_option("--boards", o->boards,
                                   "Boards: HOST:PORT, HOST:PORT+N, comma-separated, or a file (one ADDRESS, RANGE or NAME ADDRESS a line)")
                       ->option_text("SPEC");
    auto* sim = cmd->add_option("--sim", o->sim, "Start N simulated boards in-process and tune them")->option_text("N");
    boards->excludes(sim);
    cmd->add_option("--seed", o->seed, "Seed of the simulated boards (--sim; default 1)");
    cmd->add_option("--channels", o->channels, "Channels (and resonators) per simulated board, at most 256")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    cmd->add_option("--concurrency", o->concurrency, "Boards tuned at once (0: all)")->capture_default_str();
    cmd->add_option("--channel-concurrency", o->channel_concurrency, "Channels tuned at once on one board (0: all)")
        ->capture_default_str();
    cmd->add_option("--amplitude", o->amplitude, "Sweep and carrier amplitude, in (0, 1]")->capture_default_str();
    cmd->add_option("--deadline", o->deadline, "For the whole run (DUR: 90s, 5m; 0: none); boards still running time out")
        ->capture_default_str();
    cmd->add_option("--timeout", o->timeout, "Per request to a board")->capture_default_str();
    cmd->add_option("--report", o->report, "Write a JSON report to FILE")->option_text("FILE");
    cmd->footer("Exit status 1 if any board failed, timed out or was cancelled (Ctrl-C); the report is written anyway.\n");
    cmd->callback([o] { run_tune(*o); });
}

}  // namespace tw::cli
