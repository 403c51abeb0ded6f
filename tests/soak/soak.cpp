// tw_soak: the soak run of issue #11 ("hostile peers"), `make soak` (.ci/soak.sh).
//
// One process serves 1,000 simulated boards (tw::sim, in-process, on a runtime
// of its own) with a mix of faults, one fault class per board (board i is
// class i % 10):
//
//   0 stall   1 disconnect   2 garbage   3 slow:2000 (bytes/s)   4 refuse
//   5 flap:1s/1s   6 latency:20ms + jitter:10ms   7, 8, 9 healthy
//
// Then, for each of 5 rounds, against those boards:
//   * `tw health --json` and `tw tune --report` as child processes (the real
//     program, its report writer and exit status), with a deadline;
//   * tw::algorithms::health_check and tune_array in this process, on a
//     long-lived client runtime (the library under both commands), with the
//     same options, so that leaks of the client side accumulate here.
// Odd rounds have generous deadlines (every board runs to its own end); even
// rounds cut the run short (health 2 s, tune 10 s), so that the deadline
// cancels boards in the middle of their requests.
//
// Checked after every run and round (a failure is printed and makes the exit
// status 1; nothing is only eyeballed):
//   * every report has exactly one outcome per board, in input order (1,000
//     in, 1,000 out); every outcome not ok has a reason, an ok one none;
//     the library calls on_board exactly once per board;
//   * outcomes that follow from the fault: stall -> timeout, disconnect and
//     garbage -> failed, refuse -> unreachable (health) / failed (tune),
//     healthy and latency -> ok (in a cut round, timeout by the deadline is
//     also accepted); slow and flap may end either way; nothing "cancelled";
//   * the child exits 1 (some boards are not ok), in time, and its runtime
//     shut down without fibers left over (no "runtime shutdown" warning);
//   * the client runtime has no fiber left once a run returns;
//   * once the simulator has closed the round's connections: its open
//     connection count is 0, its fiber count is back at its baseline (one
//     accept fiber per port), and this process's open descriptors
//     (/proc/self/fd) are back at their baseline — exactly, no slack. The
//     simulator closes its side asynchronously, so this is polled (every
//     20 ms, for at most 60 s) rather than read once. The baselines are
//     taken after a warm-up check of one board: the client runtime's reactor
//     (an epoll, an eventfd, a timerfd) is made on its first I/O and kept;
//   * neither runtime of this process warns (a blocked worker, fibers left
//     at shutdown);
//   * the process's peak RSS (VmHWM: simulator and in-process client) stays
//     under --rss-bound-mib (default 256; a run of 1,000 boards peaks near 115);
//   * the whole soak ends within --time-bound-s (default 900; it takes about
//     300 on 2 cores).
// A watchdog thread ends the process (exit 3, with both runtimes' fiber dumps)
// if one step exceeds its guard (its deadline plus 120 s): a hang fails.
//
// Usage: tw_soak [--boards N] [--rounds R] [--channels C] [--concurrency K]
//                [--rss-bound-mib M] [--time-bound-s S] [--json FILE] [--tw PATH]
//                [--work-dir DIR]
// --json (or the environment variable TW_SOAK_JSON) writes the summary as
// JSON. --work-dir keeps the children's reports and logs (default: a fresh
// temporary folder, removed when the soak passes).

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <fmt/core.h>

#include <tw/algorithms/health.hpp>
#include <tw/algorithms/tuning.hpp>
#include <tw/runtime.hpp>
#include <tw/sim/simulator.hpp>

extern char** environ;

namespace {

namespace alg = tw::algorithms;
namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// ---- settings ----------------------------------------------------------------

struct settings {
    std::size_t boards = 1000;
    std::size_t rounds = 5;
    std::size_t channels = 16;
    std::size_t concurrency = 64;
    double rss_bound_mib = 256;
    double time_bound_s = 900;
    std::string json_out;
    std::string tw = TW_BINARY;
    std::string work_dir;
};

[[noreturn]] void usage(const std::string& why, int status = 2) {
    std::fprintf(stderr,
                 "tw_soak: %s\nusage: tw_soak [--boards N] [--rounds R] [--channels C] [--concurrency K] "
                 "[--rss-bound-mib M] [--time-bound-s S] [--json FILE] [--tw PATH] [--work-dir DIR]\n",
                 why.c_str());
    std::exit(status);
}

settings parse_args(int argc, char** argv) {
    settings s;
    if (const char* e = std::getenv("TW_SOAK_JSON"); e && *e) s.json_out = e;
    auto number = [&](const std::string& flag, const char* v, double lo, double hi) {
        char* end = nullptr;
        const double d = std::strtod(v, &end);
        if (!end || *end || !(d >= lo && d <= hi)) usage(fmt::format("{} {}: expected a number in {}..{}", flag, v, lo, hi));
        return d;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") usage("the soak run of `make soak` (docs/TESTING.md)", 0);
        if (i + 1 >= argc) usage(a + ": missing value");
        const char* v = argv[++i];
        if (a == "--boards")
            s.boards = static_cast<std::size_t>(number(a, v, 10, 10000));
        else if (a == "--rounds")
            s.rounds = static_cast<std::size_t>(number(a, v, 1, 1000));
        else if (a == "--channels")
            s.channels = static_cast<std::size_t>(number(a, v, 1, 256));
        else if (a == "--concurrency")
            s.concurrency = static_cast<std::size_t>(number(a, v, 1, 10000));
        else if (a == "--rss-bound-mib")
            s.rss_bound_mib = number(a, v, 1, 1e6);
        else if (a == "--time-bound-s")
            s.time_bound_s = number(a, v, 1, 1e6);
        else if (a == "--json")
            s.json_out = v;
        else if (a == "--tw")
            s.tw = v;
        else if (a == "--work-dir")
            s.work_dir = v;
        else
            usage("unknown option " + a);
    }
    return s;
}

// ---- the fault mix -----------------------------------------------------------

enum class fault_class { stall, disconnect, garbage, slow, refuse, flap, latency, healthy };

const char* name(fault_class c) {
    switch (c) {
        case fault_class::stall: return "stall";
        case fault_class::disconnect: return "disconnect";
        case fault_class::garbage: return "garbage";
        case fault_class::slow: return "slow";
        case fault_class::refuse: return "refuse";
        case fault_class::flap: return "flap";
        case fault_class::latency: return "latency";
        case fault_class::healthy: return "healthy";
    }
    return "?";
}

fault_class class_of(std::size_t board) {
    const auto k = board % 10;
    return k >= 7 ? fault_class::healthy : static_cast<fault_class>(k);
}

// The fault specs (tw sim --fault grammar) that give board i its class.
std::vector<std::string> fault_specs(std::size_t boards) {
    const std::array<const char*, 7> kinds = {"stall", "disconnect", "garbage", "slow:2000", "refuse", "flap:1s/1s", "latency:20ms"};
    std::vector<std::string> specs;
    for (std::size_t k = 0; k < kinds.size(); ++k) {
        std::string which;
        for (std::size_t i = k; i < boards; i += 10) which += (which.empty() ? "" : ",") + std::to_string(i);
        specs.push_back(std::string(kinds[k]) + "@" + which);
        if (k == 6) specs.push_back("jitter:10ms@" + which);
    }
    return specs;
}

// ---- process figures ---------------------------------------------------------

std::size_t open_descriptors() {
    std::size_t n = 0;
    for (auto it = fs::directory_iterator("/proc/self/fd"); it != fs::directory_iterator(); ++it) ++n;
    return n - 1;  // the iterator's own descriptor
}

// What each open descriptor is ("socket:[123]", "anon_inode:[eventfd]", a path).
std::map<int, std::string> descriptor_table() {
    std::map<int, std::string> t;
    std::error_code ec;
    for (auto it = fs::directory_iterator("/proc/self/fd", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        std::error_code lec;
        auto target = fs::read_symlink(it->path(), lec);
        t[std::stoi(it->path().filename().string())] = lec ? "?" : target.string();
    }
    return t;
}

// The descriptors of `now` that `before` did not have (or had as something else).
std::string new_descriptors(const std::map<int, std::string>& before, const std::map<int, std::string>& now) {
    std::string s;
    for (const auto& [fd, what] : now) {
        auto it = before.find(fd);
        if (it == before.end() || it->second != what) s += fmt::format(" {}={}", fd, what);
    }
    return s;
}

// A field of /proc/self/status in MiB (VmRSS, VmHWM).
double status_mib(const std::string& field) {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
    return 0;
}

// Raises the soft descriptor limit to the hard one (as tw sim does) and says
// whether `needed` descriptors fit.
void fit_fd_limit(std::size_t needed) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
        ::getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < needed)
        throw std::runtime_error(fmt::format("the descriptor limit ({}, hard limit {}) is below the {} this soak needs "
                                             "(ulimit -Hn must allow it)",
                                             static_cast<unsigned long long>(rl.rlim_cur),
                                             static_cast<unsigned long long>(rl.rlim_max), needed));
}

// ---- failures and the watchdog -----------------------------------------------

std::vector<std::string> g_failures;

void fail(const std::string& what) {
    std::fprintf(stderr, "SOAK FAILURE: %s\n", what.c_str());
    if (g_failures.size() < 1000) g_failures.push_back(what);
}

bool check(bool ok, const std::string& what) {
    if (!ok) fail(what);
    return ok;
}

// Ends the process if a step does not finish within its guard: a hang fails
// the soak instead of holding the machine.
class watchdog {
public:
    watchdog(tw::runtime& a, tw::runtime& b) : a_(a), b_(b), thread_([this] { loop(); }) {}
    ~watchdog() {
        {
            std::lock_guard lk(m_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    void arm(std::string step, std::chrono::seconds guard) {
        std::lock_guard lk(m_);
        step_ = std::move(step);
        until_ = steady::now() + guard;
        cv_.notify_all();
    }
    void disarm() {
        std::lock_guard lk(m_);
        until_ = steady::time_point::max();
        cv_.notify_all();
    }

private:
    void loop() {
        std::unique_lock lk(m_);
        for (;;) {
            if (stop_) return;
            if (until_ != steady::time_point::max() && steady::now() >= until_) {
                std::fprintf(stderr, "SOAK FAILURE: '%s' did not finish within its guard (a hang)\n--- simulator fibers:\n%s\n--- client fibers:\n%s\n",
                             step_.c_str(), a_.dump_text().substr(0, 20000).c_str(), b_.dump_text().substr(0, 20000).c_str());
                std::fflush(stderr);
                std::_Exit(3);
            }
            if (until_ == steady::time_point::max())
                cv_.wait(lk);
            else
                cv_.wait_until(lk, until_);
        }
    }
    tw::runtime& a_;
    tw::runtime& b_;
    std::mutex m_;
    std::condition_variable cv_;
    std::string step_;
    steady::time_point until_ = steady::time_point::max();
    bool stop_ = false;
    std::thread thread_;
};

// ---- child processes ---------------------------------------------------------

struct child_result {
    int status = -1;  // exit status, 128 + signal
    std::string out, err;
    double seconds = 0;
};

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Runs argv with stdout and stderr into files, under `timeout` (the child's
// own deadlock guard), with none of this process's descriptors but 0-2: the
// simulator's sockets must not live on in the child.
child_result run_child(std::vector<std::string> args, const std::string& out_path, const std::string& err_path,
                       std::chrono::seconds guard) {
    args.insert(args.begin(), {"timeout", "-k", "5", std::to_string(guard.count())});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    child_result r;
    const auto t0 = steady::now();
    pid_t pid = -1;
    const int e = ::posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e != 0) {
        r.err = fmt::format("cannot start {}: {}", args[4], std::strerror(e));
        return r;
    }
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    r.seconds = std::chrono::duration<double>(steady::now() - t0).count();
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    return r;
}

// ---- outcomes ----------------------------------------------------------------

// One board's outcome as a report gives it.
struct outcome {
    std::string address, status, error;
};

using counts = std::map<std::string, std::size_t>;

const std::vector<std::string> k_health_statuses = {"ok", "warm", "unreachable", "failed", "timeout", "cancelled"};
const std::vector<std::string> k_tune_statuses = {"ok", "failed", "timeout", "cancelled"};

// What a board of class c may end as; `cut`: the deadline may have ended it.
bool expected(const std::string& kind, fault_class c, const std::string& status, bool cut) {
    if (status == "cancelled") return false;  // nobody cancels these runs
    if (cut && status == "timeout") return true;
    const bool health = kind == "health";
    switch (c) {
        case fault_class::stall: return status == "timeout";
        case fault_class::disconnect:
        case fault_class::garbage: return status == "failed";
        case fault_class::refuse: return status == (health ? "unreachable" : "failed");
        case fault_class::healthy:
        case fault_class::latency: return status == "ok";
        case fault_class::slow:
        case fault_class::flap: return status != "warm";
    }
    return false;
}

// Checks one report's outcomes against the boards; returns the counts by status.
counts check_outcomes(const std::string& what, const std::string& kind, const std::vector<std::string>& addresses,
                      const std::vector<outcome>& got, bool cut) {
    const auto& statuses = kind == "health" ? k_health_statuses : k_tune_statuses;
    counts n;
    for (const auto& s : statuses) n[s] = 0;
    if (!check(got.size() == addresses.size(),
               fmt::format("{}: {} outcomes for {} boards", what, got.size(), addresses.size())))
        return n;
    std::size_t reported = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const auto& o = got[i];
        const bool known = n.count(o.status) != 0;
        if (known) ++n[o.status];
        auto bad = [&](const std::string& why) {
            if (++reported <= 10)
                fail(fmt::format("{}: board {} ({}, {}): {} (status '{}', error '{}')", what, i, o.address, name(class_of(i)), why,
                                 o.status, o.error));
        };
        if (o.address != addresses[i]) bad("not the board at this place of the input (" + addresses[i] + ")");
        if (!known) bad("a status the report format does not have");
        if (o.status == "ok" && !o.error.empty()) bad("ok, with an error");
        if (o.status != "ok" && o.error.empty()) bad("not ok, without a reason");
        if (!expected(kind, class_of(i), o.status, cut)) bad("not what its fault leads to");
    }
    if (reported > 10) fail(fmt::format("{}: ... {} boards in all not as expected", what, reported));
    return n;
}

std::string counts_text(const counts& c, const std::vector<std::string>& order) {
    std::string s;
    for (const auto& k : order) s += (s.empty() ? "" : "/") + std::to_string(c.count(k) ? c.at(k) : 0);
    return s;
}

json::object counts_json(const counts& c) {
    json::object o;
    for (const auto& [k, v] : c) o[k] = v;
    return o;
}

// ---- one round ---------------------------------------------------------------

struct run_figures {
    counts health, tune;
    double health_s = 0, tune_s = 0;
};

struct round_figures {
    std::size_t round = 0;
    bool cut = false;
    std::chrono::seconds health_deadline{0}, tune_deadline{0};
    run_figures cli, lib;
    std::size_t fds = 0, sim_fibers = 0, client_fibers = 0, sim_connections = 0;
    std::size_t sim_pooled_stacks = 0, client_pooled_stacks = 0;  // free fiber stacks kept for reuse
    double settle_s = 0, rss_mib = 0, hwm_mib = 0, seconds = 0;
};

std::string read_text(const std::string& path) { return slurp(path); }

std::vector<outcome> report_outcomes(const json::object& report) {
    std::vector<outcome> out;
    for (const auto& bv : report.at("boards").as_array()) {
        const auto& b = bv.as_object();
        out.push_back({std::string(b.at("address").as_string()), std::string(b.at("status").as_string()),
                       std::string(b.at("error").as_string())});
    }
    return out;
}

// `tw health` / `tw tune` as a child; checks its status, stderr and report.
counts cli_run(const settings& s, const std::string& kind, const std::string& board_file, const std::string& prefix,
               std::chrono::seconds deadline, bool cut, const std::vector<std::string>& addresses, double& seconds,
               watchdog& dog) {
    const auto guard = deadline + 120s;
    const std::string out = prefix + ".out", err = prefix + ".err", report = prefix + ".json";
    std::vector<std::string> args = {s.tw, kind, "--boards", board_file, "--timeout", "5s", "--deadline",
                                     std::to_string(deadline.count()) + "s", "--concurrency", std::to_string(s.concurrency)};
    if (kind == "health")
        args.push_back("--json");
    else
        args.insert(args.end(), {"--report", report});
    dog.arm("tw " + kind + " (child)", guard + 10s);
    auto r = run_child(args, out, err, guard);
    dog.disarm();
    seconds = r.seconds;
    const std::string what = fmt::format("{} tw {}", prefix.substr(prefix.rfind('/') + 1), kind);
    check(r.status == 1, fmt::format("{}: exit status {} (expected 1: some boards are not ok); stderr: {}", what, r.status,
                                     r.err.substr(0, 2000)));
    check(r.err.find("runtime shutdown") == std::string::npos,
          fmt::format("{}: its runtime shut down with fibers left: {}", what, r.err.substr(0, 2000)));
    json::object report_json;
    try {
        report_json = json::parse(kind == "health" ? r.out : read_text(report)).as_object();
    } catch (const std::exception& e) {
        fail(fmt::format("{}: no readable report: {}", what, e.what()));
        return {};
    }
    auto n = check_outcomes(what, kind, addresses, report_outcomes(report_json), cut);
    const auto& summary = report_json.at("summary").as_object();
    check(summary.at("boards").to_number<std::size_t>() == addresses.size(), what + ": summary.boards is not the board count");
    check(!summary.at("interrupted").as_bool(), what + ": interrupted");
    for (const auto& [k, v] : n)
        if (summary.contains(k))
            check(summary.at(k).to_number<std::size_t>() == v, fmt::format("{}: summary.{} is not the count of the boards", what, k));
    return n;
}

// tw::algorithms in this process, on the long-lived client runtime.
run_figures library_run(const settings& s, tw::runtime& client, std::chrono::seconds health_deadline,
                        std::chrono::seconds tune_deadline, bool cut, const std::vector<std::string>& addresses,
                        const std::string& tag, watchdog& dog) {
    run_figures f;
    {
        alg::health_options ho;
        ho.concurrency = s.concurrency;
        ho.board.timeout = 5s;
        ho.board.tuber.timeout = 5s;
        ho.deadline = health_deadline;
        std::vector<std::size_t> told(addresses.size(), 0);
        ho.on_board = [&](std::size_t i, const alg::board_health&) { ++told.at(i); };
        const auto t0 = steady::now();
        dog.arm(tag + " health_check (library)", health_deadline + 120s);
        auto result = client.run([&] { return alg::health_check(addresses, ho); });
        dog.disarm();
        f.health_s = std::chrono::duration<double>(steady::now() - t0).count();
        std::vector<outcome> got;
        for (const auto& h : result) got.push_back({h.address, alg::to_string(h.status), h.error});
        f.health = check_outcomes(tag + " health_check", "health", addresses, got, cut);
        for (std::size_t i = 0; i < told.size(); ++i)
            if (!check(told[i] == 1, fmt::format("{} health_check: on_board told board {} {} times", tag, i, told[i]))) break;
        const auto live = client.counters().live_fibers;
        check(live == 0, fmt::format("{} health_check: {} client fibers left after it returned:\n{}", tag, live,
                                     client.dump_text().substr(0, 4000)));
    }
    {
        alg::array_options ao;
        ao.concurrency = s.concurrency;
        ao.deadline = tune_deadline;
        ao.tuber.timeout = 5s;
        std::vector<std::size_t> told(addresses.size(), 0);
        ao.on_board = [&](std::size_t i, const alg::board_outcome&) { ++told.at(i); };
        const auto t0 = steady::now();
        dog.arm(tag + " tune_array (library)", tune_deadline + 120s);
        auto result = client.run([&] { return alg::tune_array(addresses, ao); });
        dog.disarm();
        f.tune_s = std::chrono::duration<double>(steady::now() - t0).count();
        std::vector<outcome> got;
        for (const auto& o : result) got.push_back({o.address, alg::to_string(o.status), o.error});
        result.clear();
        f.tune = check_outcomes(tag + " tune_array", "tune", addresses, got, cut);
        for (std::size_t i = 0; i < told.size(); ++i)
            if (!check(told[i] == 1, fmt::format("{} tune_array: on_board told board {} {} times", tag, i, told[i]))) break;
        const auto live = client.counters().live_fibers;
        check(live == 0, fmt::format("{} tune_array: {} client fibers left after it returned:\n{}", tag, live,
                                     client.dump_text().substr(0, 4000)));
    }
    return f;
}

// ---- the summary -------------------------------------------------------------

void print_summary(const settings& s, const std::vector<round_figures>& rounds, std::size_t fd_baseline,
                   std::size_t sim_fiber_baseline, double total_s) {
    fmt::print("\nsoak: {} boards, {} rounds; health counts ok/warm/unreachable/failed/timeout/cancelled, "
               "tune counts ok/failed/timeout/cancelled\n",
               s.boards, rounds.size());
    fmt::print("{:>5} {:>9} {:>24} {:>16} {:>24} {:>16} {:>6} {:>10} {:>11} {:>8} {:>8} {:>7}\n", "round", "deadline",
               "tw health", "tw tune", "health_check", "tune_array", "fds", "sim fib.", "client fib.", "RSS MiB",
               "peak MiB", "s");
    for (const auto& r : rounds)
        fmt::print("{:>5} {:>9} {:>24} {:>16} {:>24} {:>16} {:>6} {:>10} {:>11} {:>8.0f} {:>8.0f} {:>7.1f}\n", r.round,
                   fmt::format("{}s/{}s", r.health_deadline.count(), r.tune_deadline.count()),
                   counts_text(r.cli.health, k_health_statuses), counts_text(r.cli.tune, k_tune_statuses),
                   counts_text(r.lib.health, k_health_statuses), counts_text(r.lib.tune, k_tune_statuses), r.fds,
                   r.sim_fibers, r.client_fibers, r.rss_mib, r.hwm_mib, r.seconds);
    fmt::print("baselines: {} descriptors, {} simulator fibers; RSS bound {} MiB; total {:.1f} s; {}\n", fd_baseline,
               sim_fiber_baseline, s.rss_bound_mib, total_s,
               g_failures.empty() ? "PASS" : fmt::format("FAIL ({} failures)", g_failures.size()));
}

json::object summary_json(const settings& s, const std::vector<round_figures>& rounds, std::size_t fd_baseline,
                          std::size_t sim_fiber_baseline, double baseline_rss, double total_s) {
    json::object j;
    j["boards"] = s.boards;
    j["channels"] = s.channels;
    j["concurrency"] = s.concurrency;
    j["faults"] = json::value_from(fault_specs(s.boards));
    j["fd_baseline"] = fd_baseline;
    j["sim_fiber_baseline"] = sim_fiber_baseline;
    j["rss_after_start_mib"] = baseline_rss;
    j["rss_bound_mib"] = s.rss_bound_mib;
    j["time_bound_s"] = s.time_bound_s;
    json::array rs;
    for (const auto& r : rounds) {
        auto run = [](const run_figures& f) {
            return json::object{{"health", counts_json(f.health)}, {"tune", counts_json(f.tune)},
                                {"health_s", f.health_s}, {"tune_s", f.tune_s}};
        };
        rs.push_back(json::object{{"round", r.round},
                                  {"cut", r.cut},
                                  {"health_deadline_s", r.health_deadline.count()},
                                  {"tune_deadline_s", r.tune_deadline.count()},
                                  {"cli", run(r.cli)},
                                  {"library", run(r.lib)},
                                  {"fds", r.fds},
                                  {"sim_fibers", r.sim_fibers},
                                  {"client_fibers", r.client_fibers},
                                  {"sim_connections", r.sim_connections},
                                  {"sim_pooled_stacks", r.sim_pooled_stacks},
                                  {"client_pooled_stacks", r.client_pooled_stacks},
                                  {"settle_s", r.settle_s},
                                  {"rss_mib", r.rss_mib},
                                  {"peak_rss_mib", r.hwm_mib},
                                  {"seconds", r.seconds}});
    }
    j["rounds"] = std::move(rs);
    j["seconds"] = total_s;
    j["failures"] = json::value_from(g_failures);
    j["pass"] = g_failures.empty();
    return j;
}

int soak(const settings& s) {
    const auto start = steady::now();
    // The simulator: a listening socket per board and a connection per board
    // at most; the in-process client: a connection per board in flight.
    fit_fd_limit(3 * s.boards + 256);

    fs::path dir = s.work_dir;
    if (dir.empty()) {
        // mkdtemp needs its template to end in six X (as written below) and replaces them with a unique suffix.
        std::string tmpl = (fs::temp_directory_path() / "tw_soak_XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary folder");
        dir = tmpl;
    } else {
        fs::create_directories(dir);
    }

    std::atomic<std::size_t> warnings{0};
    auto on_warning = [&](std::string_view m) {
        ++warnings;
        std::fprintf(stderr, "soak: runtime warning: %.*s\n", static_cast<int>(m.size()), m.data());
    };
    tw::runtime sim_rt({.threads = 1, .name = "soak-sim", .on_warning = on_warning});
    tw::runtime client({.threads = 1, .name = "soak-client", .on_warning = on_warning});

    tw::sim::config c;
    c.boards = s.boards;
    c.channels = s.channels;
    c.scpi = 0;
    c.modbus = 0;
    c.seed = 11;
    // A 0.5 MHz band: 2,001 sweep points a board, so that a tune round of
    // 1,000 boards takes tens of seconds, not minutes.
    c.fmin = 4.0e6;
    c.fmax = 4.5e6;
    c.fit_fd_limit = false;  // serve all the boards or fail
    for (const auto& f : fault_specs(s.boards)) c.faults.push_back(tw::sim::parse_fault(f));
    tw::sim::simulator sim(c, sim_rt);
    const auto addresses = sim.tuber_addresses();
    if (addresses.size() != s.boards) throw std::runtime_error("the simulator serves fewer boards than asked");
    const std::string board_file = (dir / "boards.txt").string();
    {
        std::ofstream f(board_file);
        for (const auto& a : addresses) f << a << '\n';
    }

    watchdog dog(sim_rt, client);
    // Warm-up: the client runtime's reactor (an epoll, an eventfd and a
    // timerfd) is created on its first I/O and kept; one health check of a
    // healthy board makes it before the baselines are taken.
    dog.arm("warm-up", 60s);
    const auto warm = client.run([&] { return alg::health_check({addresses.at(7)}); });
    dog.disarm();
    check(warm.size() == 1 && warm[0].status == alg::health_status::ok, "warm-up: healthy board 7 is not ok");
    auto quiet = [&] { return sim.open_connections() == 0; };
    for (const auto t = steady::now() + 10s; !quiet() && steady::now() < t;) std::this_thread::sleep_for(20ms);
    const std::size_t fd_baseline = open_descriptors();
    const auto fd_table = descriptor_table();
    const std::size_t sim_fiber_baseline = sim_rt.counters().live_fibers;
    const double rss_start = status_mib("VmRSS");
    fmt::print("soak: {} boards served ({} descriptors, {} simulator fibers, RSS {:.0f} MiB); work folder {}\n", s.boards,
               fd_baseline, sim_fiber_baseline, rss_start, dir.string());
    for (const auto& f : fault_specs(s.boards)) fmt::print("  fault {}...\n", f.substr(0, 40));
    std::fflush(stdout);

    std::vector<round_figures> rounds;
    for (std::size_t round = 1; round <= s.rounds; ++round) {
        round_figures r;
        r.round = round;
        r.cut = round % 2 == 0;
        r.health_deadline = r.cut ? 2s : 60s;
        r.tune_deadline = r.cut ? 10s : 300s;
        const auto t0 = steady::now();
        const std::string tag = fmt::format("round {}", round);
        const std::string prefix = (dir / fmt::format("round{}", round)).string();
        fmt::print("{}: tw health, tw tune (children), health_check, tune_array ({}, deadlines {}s / {}s)\n", tag,
                   r.cut ? "cut short by the deadline" : "every board to its end", r.health_deadline.count(),
                   r.tune_deadline.count());
        std::fflush(stdout);

        r.cli.health = cli_run(s, "health", board_file, prefix + "_health", r.health_deadline, r.cut, addresses, r.cli.health_s, dog);
        r.cli.tune = cli_run(s, "tune", board_file, prefix + "_tune", r.tune_deadline, r.cut, addresses, r.cli.tune_s, dog);
        r.lib = library_run(s, client, r.health_deadline, r.tune_deadline, r.cut, addresses, tag, dog);

        // The simulator closes its side of the round's connections as their
        // peers go away; wait until it has (or the guard passes), then check.
        const auto settle0 = steady::now();
        const auto settle_guard = settle0 + 60s;
        auto settled = [&] {
            return sim.open_connections() == 0 && sim_rt.counters().live_fibers == sim_fiber_baseline &&
                   open_descriptors() == fd_baseline;
        };
        while (!settled() && steady::now() < settle_guard) std::this_thread::sleep_for(20ms);
        r.settle_s = std::chrono::duration<double>(steady::now() - settle0).count();
        r.sim_connections = sim.open_connections();
        r.sim_fibers = sim_rt.counters().live_fibers;
        r.client_fibers = client.counters().live_fibers;
        r.sim_pooled_stacks = sim_rt.counters().pooled_stacks;
        r.client_pooled_stacks = client.counters().pooled_stacks;
        r.fds = open_descriptors();
        r.rss_mib = status_mib("VmRSS");
        r.hwm_mib = status_mib("VmHWM");
        r.seconds = std::chrono::duration<double>(steady::now() - t0).count();
        check(r.sim_connections == 0, fmt::format("{}: the simulator still has {} open connections 60 s after the round",
                                                  tag, r.sim_connections));
        check(r.sim_fibers == sim_fiber_baseline,
              fmt::format("{}: {} simulator fibers, baseline {}:\n{}", tag, r.sim_fibers, sim_fiber_baseline,
                          r.sim_fibers == sim_fiber_baseline ? "" : sim_rt.dump_text().substr(0, 4000)));
        check(r.client_fibers == 0, fmt::format("{}: {} client fibers left", tag, r.client_fibers));
        check(r.fds == fd_baseline, fmt::format("{}: {} open descriptors, baseline {}; new:{}", tag, r.fds, fd_baseline,
                                                new_descriptors(fd_table, descriptor_table())));
        check(r.hwm_mib <= s.rss_bound_mib,
              fmt::format("{}: peak RSS {:.0f} MiB is above the bound of {} MiB", tag, r.hwm_mib, s.rss_bound_mib));
        fmt::print("{}: tw health {}, tw tune {}, health_check {}, tune_array {}; {} fds, {} sim fibers, RSS {:.0f} MiB "
                   "(peak {:.0f}), pooled stacks {} sim / {} client, settled in {:.2f} s, {:.1f} s\n",
                   tag, counts_text(r.cli.health, k_health_statuses), counts_text(r.cli.tune, k_tune_statuses),
                   counts_text(r.lib.health, k_health_statuses), counts_text(r.lib.tune, k_tune_statuses), r.fds,
                   r.sim_fibers, r.rss_mib, r.hwm_mib, r.sim_pooled_stacks, r.client_pooled_stacks, r.settle_s, r.seconds);
        std::fflush(stdout);
        rounds.push_back(std::move(r));
    }

    sim.stop();
    check(sim_rt.counters().live_fibers == 0, "the simulator left fibers after stop()");
    check(warnings.load() == 0, fmt::format("{} runtime warnings (blocked workers, stragglers): see stderr", warnings.load()));
    const double total_s = std::chrono::duration<double>(steady::now() - start).count();
    check(total_s <= s.time_bound_s, fmt::format("the soak took {:.0f} s, more than its bound of {} s", total_s, s.time_bound_s));
    print_summary(s, rounds, fd_baseline, sim_fiber_baseline, total_s);
    if (!s.json_out.empty()) {
        std::ofstream f(s.json_out);
        f << json::serialize(summary_json(s, rounds, fd_baseline, sim_fiber_baseline, rss_start, total_s)) << '\n';
        if (!f) fail("cannot write " + s.json_out);
        fmt::print("summary: {}\n", s.json_out);
    }
    if (g_failures.empty() && s.work_dir.empty()) fs::remove_all(dir);
    return g_failures.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    const auto s = parse_args(argc, argv);
    try {
        return soak(s);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tw_soak: %s\n", e.what());
        return 1;
    }
}
