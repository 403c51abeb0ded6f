#pragma once
// tw::algorithms cooldown: bring a cryostat to a temperature with one plain
// blocking call over a helium compressor (docs/WIRE_FORMATS.md, Modbus TCP
// compressor) and a temperature controller (SCPI temperature controller).
// No callbacks, no async code: call it directly, on a tw
// fiber or a plain thread (it then runs on the default runtime), or inside
// tw::fan_out / tw::spawn.
//
// What it does, under one deadline (a tw::deadline_scope, so the caller's own
// deadline still applies if it is earlier):
//   1. reads the compressor's state; idle or stopping → start (holding
//      register 0 := 1); starting → nothing; running → nothing;
//      fault → cooldown_error naming the alarms, unless
//      options.acknowledge_fault: then stop (which acknowledges), wait for
//      idle, start once. A tripped compressor is not restarted by default
//      because a real one tripped for a reason (overheat, pressure) that a
//      person should look at first;
//   2. polls until the compressor is running; a fault while starting is a
//      cooldown_error with the alarm names;
//   3. sets the loop's ramp (RAMP loop,1,rate when options.ramp_rate > 0,
//      else RAMP loop,0 so the setpoint is a step) and then SETP loop,K;
//   4. polls the sensor until it has stayed within ±tolerance of the setpoint
//      for options.hold (each reading outside the band starts the hold over);
//      the compressor is polled too, and a fault there ends the wait.
// Warning and alarm bits (input registers 18 and 19) are decoded into names
// (compressor_bit_names) and collected, with every step, in the result.
//
// Errors: tw::timeout_error when the deadline passes; its message says what
// was being waited for and the last reading ("cooldown: deadline of 2s passed
// while waiting for sensor 1 within ±0.05 K of 10 K for 30s (last: 12.3000 K,
// in band for 0.0 s)"); a driver's own timeout message is appended.
// cooldown_error (a tw::error) when the compressor is or goes into fault,
// carrying the partial result (steps, warnings, alarms). The instruments'
// own errors (tw::connection_error, tw::protocol_error) pass through, as
// does tw::cancelled_error: cancelling leaves the compressor running and the
// setpoint as set, which is the safe state for a cryostat.
// std::invalid_argument for bad options.
//
// Thread safety: the function shares nothing; the instruments may be shared
// with other fibers (their clients serialise calls).
//
// Example:
//   tw::modbus::compressor comp("127.0.0.1:1502");
//   tw::scpi::temperature_controller tc("127.0.0.1:5025");
//   auto r = tw::algorithms::cooldown(comp, tc, 10.0, 30min, {.tolerance = 0.05, .hold = 60s});
//   fmt::print("stable at {:.3f} K after {:.0f} s\n", r.final_temperature, r.time_to_stable_s);

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <tw/deadline.hpp>
#include <tw/drivers/modbus/compressor.hpp>
#include <tw/drivers/scpi/temperature_controller.hpp>
#include <tw/errors.hpp>

namespace tw::algorithms {

// Names of the set bits of a compressor warning or alarm register: bit 0
// "overheat", bit 1 "pressure", any other bit "bit N". Lowest bit first.
std::vector<std::string> compressor_bit_names(std::uint16_t bits);

// One entry of the steps log: what was done or seen, and when.
struct cooldown_step {
    double at_s = 0;   // seconds since cooldown() started
    std::string what;  // "compressor idle: start", "SETP 1,10", "compressor warning: overheat", ...
};

// What cooldown() is doing now; passed to options.progress after each poll.
struct cooldown_progress {
    enum class phase { compressor, temperature };
    phase stage = phase::compressor;
    modbus::compressor_state state = modbus::compressor_state::idle;
    double temperature = 0;  // K; 0 until the first reading of the temperature phase
    double setpoint = 0;     // K
    double in_band_s = 0;    // how long the readings have been within the tolerance
    double elapsed_s = 0;    // since cooldown() started
};

struct cooldown_options {
    int loop = 1;                 // heater loop of the setpoint (1-2)
    int sensor = 1;               // sensor that must settle (1-8)
    double tolerance = 0.05;      // K either side of the setpoint
    clock::duration hold = std::chrono::seconds(30);  // time within the tolerance that counts as stable
    clock::duration poll = std::chrono::seconds(1);   // between readings
    double ramp_rate = 0;         // K/min; > 0: ramp the setpoint at this rate; 0: step
    bool acknowledge_fault = false;  // a compressor found in fault: acknowledge and restart it
    std::function<void(const cooldown_progress&)> progress;  // after each poll
    std::function<void(const cooldown_step&)> on_step;       // as each step is logged
};

struct cooldown_result {
    double setpoint = 0;            // K
    double final_temperature = 0;   // K, the last reading
    double time_to_running_s = 0;   // until the compressor ran (0 if it already did)
    double time_to_stable_s = 0;    // until the hold was complete, from the start
    std::vector<std::string> warnings;  // warning bit names seen, first seen first
    std::vector<std::string> alarms;    // alarm bit names seen, first seen first
    std::vector<cooldown_step> steps;
};

// The compressor is, or went, into fault: what() names the state and the
// alarms; result() holds what had happened until then.
class cooldown_error : public tw::error {
public:
    cooldown_error(const std::string& what, cooldown_result partial);
    const cooldown_result& result() const noexcept { return result_; }

private:
    cooldown_result result_;
};

// Starts the compressor if needed and waits until `controller`'s sensor is
// stable at `setpoint` kelvin, all within `deadline`.
cooldown_result cooldown(modbus::compressor& compressor, scpi::temperature_controller& controller, double setpoint,
                         clock::duration deadline, const cooldown_options& opts = {});

}  // namespace tw::algorithms
