// tw run: run any registered algorithm by name — a built-in one or a user's
// own from a plugin library — on boards.
//
//   tw run --list [--plugin LIB]...
//   tw run NAME [ARG | NAME=VALUE]... (--boards SPEC | --sim N) [--plugin LIB]... [--json]
//
// An each_board algorithm runs once per board (at most --concurrency at a
// time; a failing board never stops the others); one line per board: its
// address, ok or failed, and the result as JSON (or the error). Exit 1 if any
// board failed; 2 for an unknown algorithm or bad arguments (the algorithm's
// usage is printed to stderr). Ctrl-C cancels the run.
//
// NAME, its arguments and --json are the shell's `run` too: see run.hpp.

#include "run.hpp"

#include "board_set.hpp"
#include "human_json.hpp"
#include "commands.hpp"
#include "interrupt.hpp"

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/core.h>

#include <tw/algorithms/registry.hpp>
#include <tw/duration.hpp>
#include <tw/errors.hpp>

#include "verb_util.hpp"

namespace tw::cli {

namespace {

namespace alg = tw::algorithms;
namespace json = boost::json;

struct run_options : board_flags {
    run_words words;
    std::vector<std::string> plugins;
    std::size_t concurrency = algorithms::k_default_concurrency;
    std::string timeout = "5s";
    bool list = false;
};

json::value args_json(const alg::arguments& args) {
    json::object o;
    for (const auto& [name, v] : args.values())
        std::visit(
            [&, &name = name](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, tw::clock::duration>)
                    o[name] = tw::format_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(x));
                else
                    o[name] = x;
            },
            v);
    return o;
}

void run_run(const run_options& o) {
    early_interrupts keep_ctrl_c;  // from here on, a Ctrl-C ends the run with its summary
    const auto timeout = timeout_option(o.timeout);
    auto& registry = alg::registry::global();
    for (const auto& p : o.plugins) try {
            alg::load_plugin(p, registry);
        } catch (const tw::usage_error& e) {
            throw CLI::ValidationError("--plugin", e.what());
        }

    if (o.list) {
        for (const auto* a : registry.list()) fmt::print("{}\n", alg::registry::usage(*a));
        return;
    }
    const auto run = parse_run_words(o.words);
    const auto& a = *run.algorithm;

    auto set = board_set::from_flags(o.boards, o.sim, o.seed, o.channels, a.runs_on == alg::target::no_boards);
    alg::run_context ctx;
    ctx.boards = set.addresses();
    ctx.concurrency = o.concurrency;
    ctx.tuber.timeout = timeout;
    ctx.print = [](const std::string& line) {
        fmt::print("{}\n", line);
        std::fflush(stdout);
    };

    std::vector<alg::run_outcome> outcomes;
    tw::runtime rt({.threads = 1, .name = "tw-run"});
    const bool interrupted = run_interruptible(rt, [&] { outcomes = alg::registry::run(a, ctx, run.arguments); });
    if (interrupted) throw tw::cancelled_error(fmt::format("run {}: interrupted", a.name));
    print_run(run, outcomes, set.boards, o.words.json);
}

}  // namespace

void add_run_words(CLI::App& cmd, run_words& w) {
    cmd.add_option("NAME", w.name, "Algorithm (tw run --list shows them)");
    cmd.add_option("ARGS", w.args, "Its arguments: VALUE in parameter order, or NAME=VALUE");
    cmd.add_flag("--json", w.json, "Print one JSON document: {algorithm, arguments, results: [{address, ok, result|error}]}");
}

parsed_run parse_run_words(const run_words& w) {
    if (w.name.empty()) throw CLI::ValidationError("NAME", "which algorithm? (tw run --list shows them)");
    parsed_run out;
    try {
        out.algorithm = &alg::registry::global().get(w.name);
        out.arguments = alg::registry::parse(*out.algorithm, w.args);
    } catch (const tw::usage_error& e) {
        if (out.algorithm) fmt::print(stderr, "{}", alg::registry::usage(*out.algorithm));
        throw CLI::ValidationError(e.what());
    }
    return out;
}

void print_run(const parsed_run& run, const std::vector<alg::run_outcome>& outcomes, const std::vector<board_entry>& boards,
               bool as_json) {
    const auto& a = *run.algorithm;
    std::size_t failed = 0;
    for (const auto& out : outcomes) failed += !out.ok;
    if (as_json) {
        json::array results;
        for (const auto& out : outcomes) {
            json::object r{{"address", out.address}, {"ok", out.ok}};
            if (out.ok)
                r["result"] = out.result;
            else
                r["error"] = out.error;
            results.push_back(std::move(r));
        }
        fmt::print("{}\n", json::serialize(json::object{
                               {"algorithm", a.name}, {"arguments", args_json(run.arguments)}, {"results", std::move(results)}}));
    } else {
        // The board's name (from --sim or a board file) helps more than its port.
        auto label = [&](const std::string& address) {
            for (const auto& b : boards)
                if (b.address == address && !b.name.empty()) return fmt::format("{} ({})", address, b.name);
            return address;
        };
        for (const auto& out : outcomes) {
            const auto who = out.address.empty() ? a.name : label(out.address);
            if (out.ok)
                fmt::print("{}  ok  {}\n", who, human_json(out.result));
            else
                fmt::print("{}  failed  {}\n", who, out.error);
        }
    }
    std::fflush(stdout);
    if (failed)
        throw std::runtime_error(outcomes.size() == 1 ? fmt::format("{} failed", a.name)
                                                      : fmt::format("{}: {} of {} failed", a.name, failed, outcomes.size()));
}

void add_run_command(CLI::App& app) {
    auto o = std::make_shared<run_options>();
    auto* cmd = app.add_subcommand("run", "Run a registered algorithm (built in or from a --plugin) by name");
    add_run_words(*cmd, o->words);
    cmd->add_flag("--list", o->list, "List the algorithms with their parameters");
    add_board_flags(*cmd, *o, "and run on them");
    cmd->add_option("--plugin", o->plugins, "Load algorithms from a plugin library (repeatable)")
        ->option_text("LIB")
        ->allow_extra_args(false);  // one LIB per --plugin: the words after it are NAME and ARGS
    count_option(*cmd, "--concurrency", o->concurrency, "Boards at once (0: all)", 0, k_max_concurrency)->capture_default_str();
    cmd->add_option("--timeout", o->timeout, "Per request to a board")->capture_default_str();
    cmd->footer("Exit status 1 if the algorithm failed on any board, 2 for an unknown algorithm or bad arguments.\n");
    cmd->callback([o] { run_run(*o); });
}

}  // namespace tw::cli
