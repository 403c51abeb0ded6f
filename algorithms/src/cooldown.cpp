// tw::algorithms cooldown: see cooldown.hpp.
#include <tw/algorithms/cooldown.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <tw/duration.hpp>
#include <tw/run.hpp>

namespace tw::algorithms {

namespace {

// fmt is private to the drivers, so numbers are formatted here with printf.
std::string number(double v, const char* format = "%g") {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

std::string duration_text(clock::duration d) {
    if (!tw::deadline::after(d).is_set()) return "none";
    return tw::format_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(d));
}

double seconds(clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out.empty() ? "none reported" : out;
}

}  // namespace

std::vector<std::string> compressor_bit_names(std::uint16_t bits) {
    std::vector<std::string> out;
    for (int b = 0; b < 16; ++b) {
        if (!(bits & (1u << b))) continue;
        if (b == 0)
            out.emplace_back("overheat");
        else if (b == 1)
            out.emplace_back("pressure");
        else
            out.push_back("bit " + std::to_string(b));
    }
    return out;
}

cooldown_error::cooldown_error(const std::string& what, cooldown_result partial)
    : tw::error(what), result_(std::move(partial)) {}

cooldown_result cooldown(modbus::compressor& compressor, scpi::temperature_controller& controller, double setpoint,
                         clock::duration deadline, const cooldown_options& opts) {
    // A plain thread has no fiber for the drivers' I/O: run on the default runtime.
    if (!tw::detail::current_fiber())
        return tw::run([&] { return cooldown(compressor, controller, setpoint, deadline, opts); });
    if (!std::isfinite(setpoint) || setpoint < 0)
        throw std::invalid_argument("cooldown: setpoint must be a temperature >= 0 K, got " + number(setpoint));
    if (opts.loop < 1) throw std::invalid_argument("cooldown: loop must be 1 or more, got " + std::to_string(opts.loop));
    if (opts.sensor < 1) throw std::invalid_argument("cooldown: sensor must be 1 or more, got " + std::to_string(opts.sensor));
    if (!(opts.tolerance > 0)) throw std::invalid_argument("cooldown: tolerance must be more than 0 K, got " + number(opts.tolerance));
    if (opts.hold.count() < 0) throw std::invalid_argument("cooldown: hold must not be negative");
    if (opts.poll.count() <= 0) throw std::invalid_argument("cooldown: poll interval must be more than 0");
    if (!(opts.ramp_rate >= 0) || !std::isfinite(opts.ramp_rate))
        throw std::invalid_argument("cooldown: ramp rate must be >= 0 K/min, got " + number(opts.ramp_rate));

    const auto t0 = clock::now();
    const auto until = tw::deadline::after(deadline, t0).time_point();
    const std::string& comp_addr = compressor.modbus().address();

    cooldown_result r;
    r.setpoint = setpoint;
    // What we wait for and the last thing we saw: the timeout message needs both.
    std::string waiting_for = "the compressor's state";
    std::string last;
    cooldown_progress prog;
    prog.setpoint = setpoint;
    std::uint16_t seen_warnings = 0, seen_alarms = 0;

    auto elapsed = [&] { return seconds(clock::now() - t0); };
    auto step = [&](std::string what) {
        r.steps.push_back({elapsed(), std::move(what)});
        if (opts.on_step) opts.on_step(r.steps.back());
    };
    auto report = [&] {
        prog.elapsed_s = elapsed();
        if (opts.progress) opts.progress(prog);
    };
    // Records bits not seen before; a bit that clears and comes back is not news.
    auto note_bits = [&](const modbus::compressor_status& s) {
        for (const auto& name : compressor_bit_names(static_cast<std::uint16_t>(s.warnings & ~seen_warnings))) {
            r.warnings.push_back(name);
            step("compressor warning: " + name);
        }
        for (const auto& name : compressor_bit_names(static_cast<std::uint16_t>(s.alarms & ~seen_alarms))) {
            r.alarms.push_back(name);
            step("compressor alarm: " + name);
        }
        seen_warnings |= s.warnings;
        seen_alarms |= s.alarms;
        prog.state = s.state;
    };
    auto read_compressor = [&] {
        auto s = compressor.status();
        note_bits(s);
        return s;
    };
    auto state_text = [](const modbus::compressor_status& s) {
        return "compressor " + std::string(modbus::to_string(s.state));
    };
    auto fault = [&](const modbus::compressor_status& s, const std::string& when, const std::string& advice = {}) {
        const std::string alarms = joined(compressor_bit_names(s.alarms));
        step("compressor fault " + when + " (alarms: " + alarms + ")");
        return cooldown_error("cooldown: compressor " + comp_addr + " is in fault " + when + " (alarms: " + alarms + ")" +
                                  advice,
                              r);
    };

    try {
        tw::deadline_scope scope(until);

        // 1. Start the compressor unless it is starting or running already.
        auto s = read_compressor();
        last = state_text(s);
        const bool already_running = s.state == modbus::compressor_state::running;
        switch (s.state) {
            case modbus::compressor_state::running: step("compressor running"); break;
            case modbus::compressor_state::starting: step("compressor starting"); break;
            case modbus::compressor_state::idle:
            case modbus::compressor_state::stopping:
                step("compressor " + std::string(modbus::to_string(s.state)) + ": start");
                compressor.start();
                break;
            case modbus::compressor_state::fault: {
                if (!opts.acknowledge_fault)
                    throw fault(s, "at the start",
                                "; not restarting it: fix the cause and acknowledge it, or allow cooldown to (acknowledge_fault)");
                step("compressor fault (alarms: " + joined(compressor_bit_names(s.alarms)) + "): acknowledge");
                compressor.stop();
                waiting_for = "the compressor to leave fault after the acknowledgement";
                prog.stage = cooldown_progress::phase::compressor;
                while (s.state == modbus::compressor_state::fault || s.state == modbus::compressor_state::stopping) {
                    report();
                    tw::sleep_for(opts.poll);
                    s = read_compressor();
                    last = state_text(s);
                }
                step("compressor " + std::string(modbus::to_string(s.state)) + ": start");
                compressor.start();
                break;
            }
            default:
                throw cooldown_error("cooldown: compressor " + comp_addr + " reports unknown state " +
                                         std::to_string(s.raw_state),
                                     r);
        }

        // 2. Wait for it to run. Read the state again first: whether the
        // command took is worth knowing before the first pause.
        waiting_for = "the compressor to run";
        prog.stage = cooldown_progress::phase::compressor;
        auto shown = s.state;
        auto next_state = [&] {
            s = read_compressor();
            last = state_text(s);
            if (s.state != shown) {
                shown = s.state;
                if (s.state != modbus::compressor_state::fault) step(state_text(s));  // fault() logs its own
            }
        };
        if (!already_running) next_state();
        while (s.state != modbus::compressor_state::running) {
            if (s.state == modbus::compressor_state::fault) throw fault(s, "while starting");
            report();
            tw::sleep_for(opts.poll);
            next_state();
        }
        r.time_to_running_s = already_running ? 0.0 : elapsed();

        // 3. Setpoint: ramp it, or step it (ramp off, so an earlier RAMP does not slow it down).
        waiting_for = "the temperature controller to take the setpoint";
        prog.stage = cooldown_progress::phase::temperature;
        if (opts.ramp_rate > 0) {
            controller.set_ramp(opts.loop, true, opts.ramp_rate);
            step("RAMP " + std::to_string(opts.loop) + ",1," + number(opts.ramp_rate));
        } else {
            controller.set_ramp(opts.loop, false, 0);
            step("RAMP " + std::to_string(opts.loop) + ",0,0");
        }
        controller.set_setpoint(opts.loop, setpoint);
        step("SETP " + std::to_string(opts.loop) + "," + number(setpoint));

        // 4. Wait until the sensor has stayed in the band for the hold time.
        waiting_for = "sensor " + std::to_string(opts.sensor) + " within ±" + number(opts.tolerance) + " K of " +
                      number(setpoint) + " K for " + duration_text(opts.hold);
        // When the readings entered the band; max(): not in it.
        clock::time_point in_band_since = clock::time_point::max();
        bool reached = false;
        for (;;) {
            const double t = controller.temperature(opts.sensor);
            const auto now = clock::now();
            r.final_temperature = t;
            prog.temperature = t;
            last = number(t, "%.4f") + " K";
            if (std::abs(t - setpoint) <= opts.tolerance) {
                if (in_band_since == clock::time_point::max()) in_band_since = now;
                if (!reached) {
                    // Only the first arrival: noise at the band's edge would
                    // otherwise fill the log with entries and exits.
                    reached = true;
                    step("sensor " + std::to_string(opts.sensor) + " within ±" + number(opts.tolerance) + " K: " + last);
                }
            } else {
                in_band_since = clock::time_point::max();
            }
            const bool in_band_now = in_band_since != clock::time_point::max();
            const auto in_band = in_band_now ? now - in_band_since : clock::duration::zero();
            prog.in_band_s = seconds(in_band);
            last += ", in band for " + number(prog.in_band_s, "%.1f") + " s";
            report();
            if (in_band_now && in_band >= opts.hold) break;
            // Wake up when the hold completes rather than a whole poll later.
            tw::sleep_for(in_band_now ? std::min(opts.poll, opts.hold - in_band) : opts.poll);
            s = read_compressor();
            if (s.state == modbus::compressor_state::fault) throw fault(s, "while cooling");
        }
        r.time_to_stable_s = elapsed();
        step("stable at " + number(r.final_temperature, "%.4f") + " K");
    } catch (const tw::timeout_error& e) {
        const auto now = clock::now();
        const std::string what = now >= until                   ? "deadline of " + duration_text(deadline) + " passed"
                                 : now >= tw::current_deadline() ? "the caller's deadline passed"
                                                                 : "timed out after " + number(seconds(now - t0), "%.1f") + " s";
        throw tw::timeout_error("cooldown: " + what +
                                " while waiting for " + waiting_for + (last.empty() ? "" : " (last: " + last + ")") +
                                // The fiber's own "deadline passed" adds nothing; a driver's message names the request.
                                (std::string_view(e.what()).starts_with("deadline passed") ? "" : std::string(": ") + e.what()));
    }
    return r;
}

}  // namespace tw::algorithms
