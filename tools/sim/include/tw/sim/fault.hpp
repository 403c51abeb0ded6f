#pragma once
// tw::sim faults: the fault-injection grammar (docs/WIRE_FORMATS.md,
// Fault injection) and what it
// means for one simulated instrument.
//
//   SPEC  = [SERVICE/]KIND[:PARAM][@WHICH]
//   SERVICE  tuber (default) | scpi | modbus
//   KIND     latency:DUR | jitter:DUR | stall | disconnect | garbage |
//            slow:BYTES_PER_S | refuse | flap:UP/DOWN |
//            alarm:overheat | alarm:pressure (modbus only)
//   WHICH    instance indices "3", "0,5,9-12", or a fraction "10%" chosen
//            reproducibly from the seed; default: all instances
//
// What each kind does to an instrument's replies and connections:
//   latency   every reply is delayed by DUR
//   jitter    every reply is delayed by a further uniform 0..DUR (counter-based,
//             reproducible from the seed)
//   stall     requests are read and never answered; the connection stays open
//   disconnect  the connection is closed halfway through each reply
//   garbage   each reply is replaced by as many invalid (non-ASCII) bytes; for
//             SCPI they end in "\n", for HTTP and Modbus the connection is
//             closed after them
//   slow      replies trickle out at BYTES_PER_S
//   refuse    the port is bound but not listening: connecting is refused
//   flap      serve for UP, then drop every connection and refuse for DOWN,
//             repeatedly (a board that power-cycles)
//   alarm     compressor: warning bit at start, then alarm bit and state 6
//             (fault) instead of 3 (running)
//
// Thread safety: pure functions and plain values.
// Errors: parse_fault and select throw std::invalid_argument with a message
// that quotes the spec and says what was expected.
//
// Example:
//   auto f = tw::sim::parse_fault("scpi/latency:20ms@0,2-3");
//   // f.service == service::scpi, f.kind == fault_kind::latency, f.duration == 20ms

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tw::sim {

enum class service { tuber, scpi, modbus };
std::string_view to_string(service s) noexcept;

enum class fault_kind { latency, jitter, stall, disconnect, garbage, slow, refuse, flap, alarm };
std::string_view to_string(fault_kind k) noexcept;

enum class alarm_kind { none, overheat, pressure };

struct fault_spec {
    std::string text;  // as given
    service target = service::tuber;
    fault_kind kind = fault_kind::latency;
    std::chrono::nanoseconds duration{0};  // latency, jitter; flap: time up
    std::chrono::nanoseconds down{0};      // flap: time down
    double bytes_per_s = 0;                // slow
    alarm_kind alarm = alarm_kind::none;   // alarm
    // WHICH: inclusive index ranges, or a fraction in (0, 1]; neither: all.
    std::vector<std::pair<std::size_t, std::size_t>> ranges;
    std::optional<double> fraction;

    // Which of `count` instances this fault applies to. A fraction picks
    // round(fraction·count) instances (at least one when fraction > 0), the
    // same ones for the same seed and spec. Throws std::invalid_argument if an
    // index is out of range.
    std::vector<bool> select(std::size_t count, std::uint64_t seed) const;
};

fault_spec parse_fault(std::string_view spec);

// All faults of one instrument, combined from every spec that selects it
// (latencies and jitters add up; the slowest rate and the last flap win).
struct instance_faults {
    std::chrono::nanoseconds latency{0};
    std::chrono::nanoseconds jitter{0};
    bool stall = false;
    bool disconnect = false;
    bool garbage = false;
    bool refuse = false;
    double bytes_per_s = 0;  // 0: full speed
    std::chrono::nanoseconds flap_up{0}, flap_down{0};
    alarm_kind alarm = alarm_kind::none;

    bool flaps() const noexcept { return flap_up.count() > 0 && flap_down.count() > 0; }
    void add(const fault_spec& f);
};

// The faults of each of `count` instances of service `s`; `latency` and
// `jitter` apply to every instance in addition to the specs.
std::vector<instance_faults> resolve_faults(const std::vector<fault_spec>& specs, service s, std::size_t count,
                                            std::uint64_t seed, std::chrono::nanoseconds latency = {},
                                            std::chrono::nanoseconds jitter = {});

// The grammar as shown by `tw sim --help`.
std::string_view fault_grammar_help() noexcept;

}  // namespace tw::sim
