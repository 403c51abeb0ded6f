#pragma once
// tw::algorithms::registry: algorithms by name, with a one-line help and typed
// parameters, so that `tw run NAME [ARGS]`, the shell's `run NAME [ARGS]` and
// tab completion can run and describe any of them — the built-in ones and a
// user's own, compiled into a plugin library and loaded with `--plugin lib.so`.
//
// An algorithm stays a plain blocking function; its registration is an adapter
// from words typed by a user (ARGS) to its typed arguments, and from its result
// to JSON for printing and reports.
//
// Arguments are words: `NAME=VALUE`, or positional in the order of the
// parameters. Kinds: integer, number (`4e6`), text, flag (`true`, `false`,
// `1`, `0`, `yes`, `no`, `on`, `off`), duration (docs/WIRE_FORMATS.md,
// Durations: `200us`, `1.5s`).
//
// `runs_on` says what the algorithm runs on:
//   each_board  once per board (tw run fans out over --boards with a
//               concurrency limit; one outcome per board, a failing board
//               never stops the others);
//   all_boards  once, with the whole list (e.g. health over an array);
//   no_boards   once; its parameters say what to talk to (e.g. cooldown).
//
// Thread safety: add/find/list may be called from any thread (a mutex); an
// algorithm added once stays valid for the life of the process.
// Errors: tw::usage_error for a duplicate or malformed registration, an
// unknown algorithm, or bad arguments (its message says what was expected);
// load_plugin throws tw::usage_error when the library cannot be loaded or has
// no registration function.
//
// Example (a plugin; see examples/plugin/):
//   TW_PLUGIN(registry) {
//       registry.add({.name = "peak_temperature",
//                     .help = "Highest of N temperature readings of a board",
//                     .parameters = {{.name = "readings", .kind = tw::algorithms::parameter_kind::integer,
//                                     .help = "readings to take", .default_value = "10", .min = 1, .max = 1000}},
//                     .run = [](tw::algorithms::run_context& ctx, const tw::algorithms::arguments& args) {
//                         tw::tuber::board b(ctx.board(), ctx.tuber);
//                         double peak = -1e9;
//                         for (long i = 0; i < args.integer("readings"); ++i) peak = std::max(peak, b.get_temperature());
//                         return boost::json::value(peak);
//                     }});
//   }

#include <chrono>
#include <cstddef>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/value.hpp>

#include <tw/algorithms/defaults.hpp>
#include <tw/deadline.hpp>
#include <tw/drivers/tuber/client.hpp>

namespace tw::algorithms {

enum class parameter_kind { integer, number, text, flag, duration };
const char* to_string(parameter_kind k) noexcept;

struct parameter {
    std::string name;  // an identifier; NAME=VALUE on the command line
    parameter_kind kind = parameter_kind::number;
    std::string help;
    std::string default_value;  // as typed; empty with required = false: absent unless given
    bool required = false;
    // Integers and numbers: the values accepted, [min, max] ((min, max] with
    // min_excluded), checked as the words are parsed, so that a value out of
    // range is a usage error before any board is touched. Unbounded by default.
    double min = -std::numeric_limits<double>::infinity();
    double max = std::numeric_limits<double>::infinity();
    bool min_excluded = false;
};

// Parsed argument values, checked against the parameters' kinds.
class arguments {
public:
    using value = std::variant<long long, double, std::string, bool, clock::duration>;

    bool has(std::string_view name) const;
    long long integer(std::string_view name) const;
    double number(std::string_view name) const;  // an integer parameter reads as a number too
    const std::string& text(std::string_view name) const;
    bool flag(std::string_view name) const;
    clock::duration duration(std::string_view name) const;

    void set(std::string name, value v) { values_[std::move(name)] = std::move(v); }
    const std::map<std::string, value, std::less<>>& values() const noexcept { return values_; }

private:
    const value& at(std::string_view name) const;
    std::map<std::string, value, std::less<>> values_;
};

enum class target { each_board, all_boards, no_boards };

// What an algorithm runs against, and where it may print.
struct run_context {
    std::vector<std::string> boards;  // addresses (each_board: exactly one)
    tuber::options tuber{};           // per connection to a board
    std::size_t concurrency = k_default_concurrency;  // boards at once, for algorithms that fan out themselves
    // Lines for the user while the algorithm runs (progress, notes); results
    // are the return value. Default: nothing is printed.
    std::function<void(const std::string&)> print = [](const std::string&) {};

    // The one board of an each_board algorithm; tw::usage_error if there is not exactly one.
    const std::string& board() const;
};

struct algorithm {
    std::string name;  // an identifier: letters, digits, '_' (not first)
    std::string help;  // one line
    std::vector<parameter> parameters;
    target runs_on = target::each_board;
    std::function<boost::json::value(run_context&, const arguments&)> run;
};

// One result of run(): per board for each_board, otherwise a single entry
// whose address is empty.
struct run_outcome {
    std::string address;
    bool ok = false;
    boost::json::value result;  // when ok
    std::string error;          // when not ok (tw::describe of the exception)
};

class registry {
public:
    registry() = default;
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;

    // The process-wide registry, holding the built-in algorithms (tune_board,
    // tune_array, network_analysis, health_check, cooldown, ...) from first use.
    static registry& global();

    void add(algorithm a);
    const algorithm* find(std::string_view name) const;  // nullptr if unknown
    const algorithm& get(std::string_view name) const;   // tw::usage_error naming the known ones
    std::vector<const algorithm*> list() const;          // by name

    // Words (NAME=VALUE or positional) -> arguments, with defaults filled in.
    static arguments parse(const algorithm& a, const std::vector<std::string>& words);

    // Runs `a` as its target says: once per board of ctx.boards (at most
    // ctx.concurrency at once, on tw fibers), or once. Never throws for an
    // algorithm's own error (the outcome holds it); throws tw::usage_error if
    // an each_board/all_boards algorithm gets no boards, and cancelled_error
    // if the caller is cancelled.
    static std::vector<run_outcome> run(const algorithm& a, run_context& ctx, const arguments& args);

    // A one-screen description: name, help, parameters with kinds and defaults.
    static std::string usage(const algorithm& a);

private:
    mutable std::mutex mtx_;
    std::map<std::string, std::unique_ptr<algorithm>, std::less<>> algorithms_;
};

// Loads a plugin library (dlopen) and calls its registration function
// (TW_PLUGIN) with `r`. A plugin built against the installed package
// (tworoutine_add_plugin in CMake) resolves tw and Boost symbols from the
// running `tw`, so it shares tw's runtime rather than carrying its own.
void load_plugin(const std::string& path, registry& r = registry::global());

}  // namespace tw::algorithms

// Defines a plugin's registration function: TW_PLUGIN(r) { r.add({...}); }
#define TW_PLUGIN(registry_name) \
    extern "C" __attribute__((visibility("default"))) void tw_register_algorithms(::tw::algorithms::registry& registry_name)

