// The boards a command talks to: see board_set.hpp.
#include "board_set.hpp"

#include <limits>
#include <stdexcept>

#include <fmt/core.h>

namespace tw::cli {

void add_board_flags(CLI::App& cmd, board_flags& f, const std::string& sim_help, bool seed_and_channels) {
    auto* boards = cmd.add_option("--boards", f.boards,
                                  "Boards: HOST:PORT, HOST:PORT+N, comma-separated, or a file (one ADDRESS, RANGE or "
                                  "NAME ADDRESS a line)")
                       ->option_text("SPEC");
    // One TCP port per simulated board: at most k_max_ports of them.
    auto* sim = count_option(cmd, "--sim", f.sim, "Start N simulated boards in-process " + sim_help, 1, k_max_ports);
    boards->excludes(sim);
    if (!seed_and_channels) return;
    count_option(cmd, "--seed", f.seed, "Seed of the simulated boards (--sim; default 1)", 0,
                 std::numeric_limits<std::uint64_t>::max())
        ->option_text("S");
    count_option(cmd, "--channels", f.channels, "Channels (and resonators) per simulated board", 1, tw::sim::k_max_resonators)
        ->capture_default_str();
}

board_set board_set::from_flags(const std::string& spec, std::size_t sim, std::optional<std::uint64_t> seed, std::size_t channels,
                               bool optional, const std::vector<std::string>& faults) {
    board_set s;
    if (spec.empty() == (sim == 0) && !(optional && spec.empty()))
        throw CLI::ValidationError("--boards", "give exactly one of --boards SPEC and --sim N");
    if (seed && !sim) throw CLI::ValidationError("--seed", "only with --sim");
    if (!faults.empty() && !sim) throw CLI::ValidationError("--fault", "only with --sim");
    if (spec.empty() && !sim) return s;
    if (sim) {
        tw::sim::config c;
        c.boards = sim;
        c.channels = channels;
        c.scpi = 0;
        c.modbus = 0;
        c.seed = seed.value_or(1);
        c.port = 0;
        try {
            for (const auto& f : faults) c.faults.push_back(tw::sim::parse_fault(f));
            tw::sim::validate(c);
        } catch (const std::invalid_argument& e) {
            throw CLI::ValidationError("--sim", e.what());
        }
        s.runtime_ = std::make_unique<tw::runtime>(tw::runtime_options{.threads = 1, .name = "tw-sim"});
        s.sim_ = std::make_unique<tw::sim::simulator>(c, *s.runtime_);
        // Fewer boards than asked (the descriptor limit): a usage error
        // before any work, not a run over a part that exits 0.
        if (const auto started = s.sim_->tuber_addresses().size(); started < sim) {
            std::string why;
            for (const auto& w : s.sim_->warnings()) why += (why.empty() ? "" : "; ") + w;
            throw CLI::ValidationError("--sim", fmt::format("only {} of the {} simulated boards can be started ({}); ask "
                                                            "for at most {}",
                                                            started, sim, why, started));
        }
        for (const auto& w : s.sim_->warnings()) fmt::print(stderr, "{}\n", w);
        std::size_t i = 0;
        for (const auto& a : s.sim_->tuber_addresses()) s.boards.push_back({fmt::format("sim-{}", i++), a});
    } else {
        try {
            s.boards = parse_board_list(spec);
        } catch (const std::invalid_argument& e) {
            throw CLI::ValidationError("--boards", e.what());
        }
    }
    return s;
}

std::vector<std::string> board_set::addresses() const {
    std::vector<std::string> out;
    for (const auto& b : boards) out.push_back(b.address);
    return out;
}

board_set::~board_set() {
    if (sim_) sim_->stop();
}

}  // namespace tw::cli
