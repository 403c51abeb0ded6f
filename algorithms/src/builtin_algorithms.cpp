// The built-in algorithms' registrations: adapters from typed-in arguments to
// the plain functions of tuning.hpp (and the others), and from their results
// to JSON. Each algorithm stays callable directly from C++; these only make
// them reachable by name from `tw run` and the shell.
#include "builtin_algorithms.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <fmt/core.h>

#include <tw/algorithms/cooldown.hpp>
#include <tw/algorithms/health.hpp>
#include <tw/algorithms/to_json.hpp>
#include <tw/algorithms/tuning.hpp>

namespace tw::algorithms {

namespace json = boost::json;

namespace {

using pk = parameter_kind;

// 0 means "the board's own" for the band: the board knows FMIN and FMAX.
// Ranges: far above any readout band (the board's own FMIN..FMAX is checked
// once it answers); channels as a board may number them (drivers' NCHANNELS
// range); points and concurrency as tuning.hpp and tw tune allow.
constexpr double k_max_frequency_hz = 1e12;
constexpr double k_max_channel = 4095;
constexpr double k_max_channel_concurrency = 4096;
parameter p_fmin() {
    return {.name = "fmin", .kind = pk::number, .help = "sweep start, Hz (0: the board's FMIN)", .default_value = "0",
            .min = 0, .max = k_max_frequency_hz};
}
parameter p_fmax() {
    return {.name = "fmax", .kind = pk::number, .help = "sweep end, Hz (0: the board's FMAX)", .default_value = "0",
            .min = 0, .max = k_max_frequency_hz};
}
parameter p_points() {
    return {.name = "points", .kind = pk::integer, .help = "sweep points (0: one per 250 Hz)", .default_value = "0",
            .min = 0, .max = static_cast<double>(k_max_sweep_points)};
}
parameter p_amplitude() {
    return {.name = "amplitude", .kind = pk::number, .help = "carrier amplitude", .default_value = "0.5",
            .min = 0, .max = 1, .min_excluded = true};
}
parameter p_channel(const char* help, const char* default_value, bool required) {
    return {.name = "channel", .kind = pk::integer, .help = help, .default_value = default_value, .required = required,
            .min = 0, .max = k_max_channel};
}
parameter p_channel_concurrency(const char* help) {
    return {.name = "channel_concurrency", .kind = pk::integer, .help = help, .default_value = "8", .min = 0,
            .max = k_max_channel_concurrency};
}

std::size_t to_size(const arguments& args, std::string_view name) {
    const auto v = args.integer(name);
    if (v < 0) throw usage_error(fmt::format("{} must be 0 or more", name));
    return static_cast<std::size_t>(v);
}

// The band and point count of a sweep on `b`, as tune_board chooses them.
struct band {
    double fmin, fmax;
    std::size_t points;
};
band sweep_band(tuber::board& b, const arguments& args) {
    band out{args.number("fmin"), args.number("fmax"), to_size(args, "points")};
    if (out.fmin <= 0) out.fmin = b.fmin();
    if (out.fmax <= 0) out.fmax = b.fmax();
    if (!(out.fmax > out.fmin)) throw usage_error(fmt::format("fmax ({}) must be above fmin ({})", out.fmax, out.fmin));
    if (out.points == 0) out.points = sweep_points(out.fmin, out.fmax);
    return out;
}

board_options board_opts(const arguments& args) {
    board_options o;
    o.amplitude = args.number("amplitude");
    o.channel_concurrency = to_size(args, "channel_concurrency");
    return o;
}

}  // namespace

void add_builtin_algorithms(registry& r) {
    r.add({.name = "network_analysis",
           .help = "Sweep one channel over a band; |S21| and phase per point",
           .parameters = {p_fmin(), p_fmax(), p_points(), p_amplitude(),
                          p_channel("channel to sweep", "0", false)},
           .runs_on = target::each_board,
           .run = [](run_context& ctx, const arguments& args) -> json::value {
               tuber::board b(ctx.board(), ctx.tuber);
               const auto bd = sweep_band(b, args);
               return to_json(network_analysis(b, bd.fmin, bd.fmax, bd.points, args.number("amplitude"),
                                                static_cast<int>(args.integer("channel"))));
           }});

    r.add({.name = "find_resonances",
           .help = "Sweep a board and list the resonances found",
           .parameters = {p_fmin(), p_fmax(), p_points(), p_amplitude()},
           .runs_on = target::each_board,
           .run = [](run_context& ctx, const arguments& args) -> json::value {
               tuber::board b(ctx.board(), ctx.tuber);
               const auto bd = sweep_band(b, args);
               const auto sweep = network_analysis(b, bd.fmin, bd.fmax, bd.points, args.number("amplitude"));
               json::array found;
               for (const auto& res : find_resonances(sweep)) found.push_back(to_json(res));
               return json::object{{"points", sweep.points.size()}, {"resonances", std::move(found)}};
           }});

    r.add({.name = "tune_channel",
           .help = "Move one channel's carrier to the resonance minimum near a guess",
           .parameters = {p_channel("channel", "", true),
                          {.name = "guess", .kind = pk::number, .help = "resonance frequency guess, Hz", .required = true,
                           .min = 0, .max = k_max_frequency_hz},
                          p_amplitude()},
           .runs_on = target::each_board,
           .run = [](run_context& ctx, const arguments& args) -> json::value {
               tuber::board b(ctx.board(), ctx.tuber);
               channel_options o;
               o.amplitude = args.number("amplitude");
               return to_json(tune_channel(b, static_cast<int>(args.integer("channel")), args.number("guess"), o));
           }});

    r.add({.name = "tune_board",
           .help = "Sweep, find resonances, assign and tune every channel, verify",
           .parameters = {p_amplitude(),
                          p_channel_concurrency("channels tuned at once (0: all)")},
           .runs_on = target::each_board,
           .run = [](run_context& ctx, const arguments& args) -> json::value {
               tuber::board b(ctx.board(), ctx.tuber);
               return to_json(tune_board(b, board_opts(args)));
           }});

    r.add({.name = "tune_array",
           .help = "Tune every board at once (concurrency, deadline); one outcome per board",
           .parameters = {p_amplitude(),
                          p_channel_concurrency("channels tuned at once per board (0: all)"),
                          {.name = "deadline", .kind = pk::duration, .help = "for the whole array (e.g. 5m)"}},
           .runs_on = target::all_boards,
           .run = [](run_context& ctx, const arguments& args) -> json::value {
               array_options o;
               o.board = board_opts(args);
               o.concurrency = ctx.concurrency;
               o.tuber = ctx.tuber;
               if (args.has("deadline")) o.deadline = args.duration("deadline");
               o.on_board = [&](std::size_t, const board_outcome& out) {
                   if (out.status != board_status::ok)
                       ctx.print(fmt::format("{}: {}: {}", out.address, to_string(out.status), out.error));
               };
               json::array boards;
               std::size_t ok = 0;
               for (const auto& out : tune_array(ctx.boards, o)) {
                   json::object b{{"address", out.address}, {"status", to_string(out.status)}, {"error", out.error}};
                   if (out.result) {
                       b["resonators_found"] = out.result->resonators_found;
                       b["channels_tuned"] = out.result->channels_tuned;
                   }
                   ok += out.status == board_status::ok;
                   boards.push_back(std::move(b));
               }
               return json::object{{"ok", ok}, {"boards", ctx.boards.size()}, {"results", std::move(boards)}};
           }});

    r.add({.name = "health_check",
           .help = "Serial, firmware, temperature and reachability of every board",
           .parameters = {{.name = "timeout", .kind = pk::duration, .help = "per board", .default_value = "5s"},
                          {.name = "max_temperature", .kind = pk::number, .help = "°C above which a board is warm",
                           .min = -273.15, .max = 1000}},
           .runs_on = target::all_boards,
           .run = [](run_context& ctx, const arguments& args) -> json::value {
               health_options o;
               o.concurrency = ctx.concurrency;
               o.board.timeout = args.duration("timeout");
               o.board.tuber = ctx.tuber;
               if (args.has("max_temperature")) o.board.limits.max = args.number("max_temperature");
               json::array boards;
               std::size_t ok = 0;
               for (const auto& h : health_check(ctx.boards, o)) {
                   json::object b{{"address", h.address}, {"status", to_string(h.status)}, {"error", h.error},
                                  {"serial", h.serial},   {"firmware", h.firmware}};
                   b["temperature"] = h.temperature ? json::value(*h.temperature) : json::value(nullptr);
                   b["latency_s"] = h.latency_s ? json::value(*h.latency_s) : json::value(nullptr);
                   ok += h.status == health_status::ok;
                   boards.push_back(std::move(b));
               }
               if (ok != ctx.boards.size())
                   ctx.print(fmt::format("health_check: {} of {} boards not ok", ctx.boards.size() - ok, ctx.boards.size()));
               return json::object{{"ok", ok}, {"boards", ctx.boards.size()}, {"results", std::move(boards)}};
           }});

    r.add({.name = "cooldown",
           .help = "Start the compressor, set the setpoint, wait until the temperature is stable",
           .parameters = {{.name = "controller", .kind = pk::text, .help = "temperature controller HOST:PORT", .required = true},
                          {.name = "compressor", .kind = pk::text, .help = "compressor HOST:PORT", .required = true},
                          {.name = "setpoint", .kind = pk::number, .help = "kelvin", .required = true, .min = 0, .max = 1500},
                          {.name = "deadline", .kind = pk::duration, .help = "for the whole cool-down", .default_value = "30m"},
                          {.name = "tolerance", .kind = pk::number, .help = "K either side of the setpoint", .default_value = "0.05",
                           .min = 0, .max = 100, .min_excluded = true},
                          {.name = "hold", .kind = pk::duration, .help = "time within the tolerance", .default_value = "30s"},
                          {.name = "ramp", .kind = pk::number, .help = "K/min (0: step)", .default_value = "0", .min = 0, .max = 100}},
           .runs_on = target::no_boards,
           .run = [](run_context& ctx, const arguments& args) -> json::value {
               modbus::compressor comp(args.text("compressor"));
               scpi::temperature_controller tc(args.text("controller"));
               cooldown_options o;
               o.tolerance = args.number("tolerance");
               o.hold = args.duration("hold");
               o.ramp_rate = args.number("ramp");
               o.on_step = [&](const cooldown_step& s) { ctx.print(fmt::format("cooldown: {:.1f} s: {}", s.at_s, s.what)); };
               const auto res = cooldown(comp, tc, args.number("setpoint"), args.duration("deadline"), o);
               json::array warnings(res.warnings.begin(), res.warnings.end());
               json::array alarms(res.alarms.begin(), res.alarms.end());
               return json::object{{"setpoint", res.setpoint},
                                   {"final_temperature", res.final_temperature},
                                   {"time_to_running_s", res.time_to_running_s},
                                   {"time_to_stable_s", res.time_to_stable_s},
                                   {"warnings", std::move(warnings)},
                                   {"alarms", std::move(alarms)}};
           }});
}

}  // namespace tw::algorithms
