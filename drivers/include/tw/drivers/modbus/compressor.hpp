#pragma once
// tw::modbus::compressor: the helium compressor of docs/WIRE_FORMATS.md
// (Modbus TCP compressor) as typed calls over tw::modbus::client — state, on/off, temperatures, pressures,
// motor current, hours, warning and alarm bits, start and stop.
//
// Thread safety: as modbus::client (shareable).
// Errors: as modbus::client.
//
// Example:
//   tw::modbus::compressor c("127.0.0.1:1502");
//   c.start();
//   auto s = c.status();                       // one read of all 20 registers
//   if (s.state == tw::modbus::compressor_state::fault) ...

#include <cstdint>
#include <string>
#include <string_view>

#include <tw/drivers/modbus/client.hpp>

namespace tw::modbus {

enum class compressor_state : int { idle = 0, starting = 2, running = 3, stopping = 5, fault = 6 };
// "idle", "starting", ...; "unknown" otherwise.
std::string_view to_string(compressor_state s) noexcept;

struct compressor_temperatures {
    double coolant_in = 0, coolant_out = 0, oil = 0, helium = 0;  // °C
};
struct compressor_pressures {
    double high = 0, low = 0;  // psi
};

struct compressor_status {
    compressor_state state = compressor_state::idle;
    int raw_state = 0;  // as read, in case it is none of the known states
    bool on = false;
    compressor_temperatures temperatures;
    compressor_pressures pressures;
    double motor_current = 0;  // A
    double hours = 0;          // of operation
    std::uint16_t warnings = 0, alarms = 0;  // bit 0 overheat, bit 1 pressure
};

class compressor {
public:
    explicit compressor(std::string address, options opts = {});

    compressor_status status();
    compressor_state state();
    bool is_on();
    compressor_temperatures temperatures();
    compressor_pressures pressures();
    double motor_current();
    double hours();
    std::uint16_t warnings();
    std::uint16_t alarms();
    void start();  // holding register 0 := 1
    void stop();   // holding register 0 := 0 (also acknowledges a fault)

    client& modbus() noexcept { return client_; }

private:
    client client_;
};

}  // namespace tw::modbus
