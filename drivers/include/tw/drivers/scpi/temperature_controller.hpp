#pragma once
// tw::scpi::temperature_controller: the cryogenic temperature controller of
// docs/WIRE_FORMATS.md, SCPI temperature controller (a Lakeshore-style TC-372)
// as typed calls over
// tw::scpi::client. Setters check the instrument's error queue, so a value
// out of range is a protocol_error carrying the instrument's code (-222).
//
// Thread safety: as scpi::client (shareable; calls serialised).
// Errors: as scpi::client.
//
// Example:
//   tw::scpi::temperature_controller tc("127.0.0.1:5025");
//   tc.set_ramp(1, true, 2.0);          // 2 K/min
//   tc.set_setpoint(1, 10.0);
//   double t = tc.temperature(1);       // kelvin

#include <string>

#include <tw/drivers/scpi/client.hpp>

namespace tw::scpi {

class temperature_controller {
public:
    struct ramp_state {
        bool enabled = false;
        double rate = 0;  // K/min
    };

    explicit temperature_controller(std::string address, options opts = {});

    std::string identify();                          // *IDN?
    double temperature(int sensor);                  // KRDG? n, kelvin (sensors 1-8)
    double setpoint(int loop);                       // SETP? n, kelvin (loops 1-2)
    void set_setpoint(int loop, double kelvin);      // SETP n,K
    ramp_state ramp(int loop);                       // RAMP? n
    void set_ramp(int loop, bool enabled, double kelvin_per_min);  // RAMP n,0|1,rate
    double heater(int loop);                         // HTR? n, percent
    void reset();                                    // *RST, *CLS

    client& scpi() noexcept { return client_; }

private:
    client client_;
};

}  // namespace tw::scpi
