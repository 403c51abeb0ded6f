// An example plugin: two algorithms a physicist might add to tw without
// rebuilding it. Each is an ordinary blocking function over tw's typed board
// interface; the registration below only tells tw its name, a one-line help
// and its arguments, so that `tw run NAME` and the shell's `run NAME` can call
// it on one board or fan it out over hundreds.
//
//   temperature_stats  N temperature readings of a board: min, mean, max
//   retune_drift       retune a board (tw's own tune_board) and report how far
//                      each channel's carrier moved from where it was
//
// Built with tworoutine_add_plugin (see CMakeLists.txt) and loaded with
//   tw run --plugin ./tw_example_plugin.so temperature_stats readings=5 --sim 4

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <tw/algorithms/registry.hpp>
#include <tw/algorithms/tuning.hpp>
#include <tw/deadline.hpp>
#include <tw/drivers/tuber/board.hpp>

namespace {

namespace alg = tw::algorithms;
namespace json = boost::json;

struct temperature_summary {
    double min = std::numeric_limits<double>::infinity();
    double max = -std::numeric_limits<double>::infinity();
    double mean = 0;
};

// Plain blocking code: on a tw fiber each call suspends only this fiber.
temperature_summary temperature_stats(tw::tuber::board& board, int readings, tw::clock::duration interval) {
    temperature_summary s;
    double sum = 0;
    for (int i = 0; i < readings; ++i) {
        if (i) tw::sleep_for(interval);
        const double t = board.get_temperature();
        s.min = std::min(s.min, t);
        s.max = std::max(s.max, t);
        sum += t;
    }
    s.mean = sum / readings;
    return s;
}

// Composition: tw's tune_board, called from a user's algorithm like any
// other function.
json::value retune_drift(tw::tuber::board& board, double amplitude) {
    const int n = board.nchannels();
    std::vector<double> before(static_cast<std::size_t>(n));
    for (int ch = 0; ch < n; ++ch) before[static_cast<std::size_t>(ch)] = board.get_frequency(ch);

    const auto result = alg::tune_board(board, {.amplitude = amplitude});
    double worst = 0;
    json::array moved;
    for (const auto& c : result.channels) {
        if (c.amplitude <= 0) continue;  // unused channel
        const double drift = c.frequency - before[static_cast<std::size_t>(c.channel)];
        worst = std::max(worst, std::fabs(drift));
        moved.push_back(json::object{{"channel", c.channel}, {"drift_hz", drift}});
    }
    return json::object{{"channels_tuned", result.channels_tuned}, {"max_drift_hz", worst}, {"channels", std::move(moved)}};
}

}  // namespace

TW_PLUGIN(registry) {
    using pk = alg::parameter_kind;
    registry.add({.name = "temperature_stats",
                  .help = "N temperature readings of a board: min, mean and max",
                  .parameters = {{.name = "readings", .kind = pk::integer, .help = "readings to take", .default_value = "10",
                                  .min = 1, .max = 100000},
                                 {.name = "interval", .kind = pk::duration, .help = "between readings", .default_value = "0s"}},
                  .runs_on = alg::target::each_board,
                  .run = [](alg::run_context& ctx, const alg::arguments& args) -> json::value {
                      const auto readings = args.integer("readings");
                      tw::tuber::board board(ctx.board(), ctx.tuber);
                      const auto s = temperature_stats(board, static_cast<int>(readings), args.duration("interval"));
                      return json::object{{"readings", readings}, {"min", s.min}, {"mean", s.mean}, {"max", s.max}};
                  }});
    registry.add({.name = "retune_drift",
                  .help = "Retune a board and report how far each carrier moved",
                  .parameters = {{.name = "amplitude", .kind = pk::number, .help = "carrier amplitude", .default_value = "0.5",
                                  .min = 0, .max = 1, .min_excluded = true}},
                  .runs_on = alg::target::each_board,
                  .run = [](alg::run_context& ctx, const alg::arguments& args) -> json::value {
                      tw::tuber::board board(ctx.board(), ctx.tuber);
                      return retune_drift(board, args.number("amplitude"));
                  }});
}
