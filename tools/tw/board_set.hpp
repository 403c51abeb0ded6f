#pragma once
// The boards a command talks to, from its flags: `--boards SPEC` (a list or
// file, board_list.hpp) or `--sim N` (N simulated boards started in-process
// on a runtime of their own, named sim-0, sim-1, ...). Commands that work on
// boards (run, shell, ...) share this so that --sim means the same everywhere.
//
// Errors: CLI::ValidationError (exit 2) for bad or conflicting flags.
//
// Example:
//   add_board_flags(*cmd, *opts, "and tune them");     // when declaring the command
//   auto set = tw::cli::board_set::from_flags(o.boards, o.sim, o.seed, o.channels);
//   for (auto& b : set.boards) fmt::print("{} {}\n", b.name, b.address);

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <tw/runtime.hpp>
#include <tw/sim/simulator.hpp>

#include "board_list.hpp"
#include "verb_util.hpp"

namespace tw::cli {

// The flags as a command's options hold them (derive the options from it).
struct board_flags {
    std::string boards;
    std::size_t sim = 0;
    std::optional<std::uint64_t> seed;
    std::size_t channels = 64;
};

// Declares --boards SPEC and --sim N (each excluding the other) on `cmd` and,
// with `seed_and_channels`, --seed and --channels of the simulated boards.
// `sim_help` completes "Start N simulated boards in-process ...".
void add_board_flags(CLI::App& cmd, board_flags& f, const std::string& sim_help, bool seed_and_channels = true);

class board_set {
public:
    std::vector<board_entry> boards;

    // Exactly one of spec and sim (or neither, if `optional`). `faults`: the
    // simulator's fault specs (tw sim --fault; only with --sim).
    static board_set from_flags(const std::string& spec, std::size_t sim, std::optional<std::uint64_t> seed,
                                std::size_t channels, bool optional = false, const std::vector<std::string>& faults = {});

    std::vector<std::string> addresses() const;
    bool simulated() const noexcept { return sim_ != nullptr; }
    tw::sim::simulator* simulator() noexcept { return sim_.get(); }

    board_set() = default;
    board_set(board_set&&) = default;
    board_set& operator=(board_set&&) = default;
    ~board_set();

private:
    std::unique_ptr<tw::runtime> runtime_;        // declared before sim_: destroyed after it
    std::unique_ptr<tw::sim::simulator> sim_;
};

}  // namespace tw::cli
