#pragma once
// tw::tuber::board: a readout board (docs/WIRE_FORMATS.md, The simulated Board
// object) as
// typed calls over tw::tuber::client — what the algorithms use.
// SERIAL, FIRMWARE, NCHANNELS, FMIN and FMAX are read once and cached, and
// checked where they enter (tw::checked, docs/DRIVERS.md): NCHANNELS a whole
// number in [1, k_max_channels], FMIN and FMAX finite in [0, k_max_frequency]
// Hz with FMIN < FMAX. A board that reports anything else is a
// protocol_error naming the property, the value and the range, so nothing
// downstream sizes an allocation or a sweep from it.
//
// Thread safety: shareable by fibers of any thread (the client serialises).
// Errors: as tuber::client; a bad channel, frequency or amplitude is a
// protocol_error whose message names the argument and the allowed range; so
// is a property or a reading outside its range (readings: get_frequency in
// [0, k_max_frequency], get_amplitude in [0, 1], get_temperature in
// [-273.15, 1000] °C, get_samples' i and q within ±k_max_sample).
//
// Example:
//   tw::tuber::board b("127.0.0.1:9000");
//   b.set_amplitude(0, 0.5);
//   b.set_frequency(0, 4.7e6);
//   std::complex<double> s21 = b.get_samples(0, 1024);

#include <complex>
#include <mutex>
#include <optional>
#include <string>

#include <tw/drivers/tuber/client.hpp>

namespace tw::tuber {

// The ranges a board's numbers must be in. Generous for real hardware (the
// simulator serves at most 256 channels between 4 and 6 MHz); what they rule
// out is a value that would make a client allocate gigabytes or overflow.
inline constexpr int k_max_channels = 4096;
inline constexpr double k_max_frequency = 10e9;  // Hz
inline constexpr double k_max_sample = 1e12;     // |i|, |q| of get_samples

class board {
public:
    explicit board(std::string address, options opts = {}, std::string object = "Board");

    std::string serial();
    std::string firmware();
    int nchannels();
    double fmin();  // Hz
    double fmax();  // Hz

    void set_frequency(int channel, double hz);
    double get_frequency(int channel);
    void set_amplitude(int channel, double amplitude);
    double get_amplitude(int channel);
    // Mean of n complex samples of the channel's response.
    std::complex<double> get_samples(int channel, int n = 256);
    double get_temperature();  // °C
    void reset();

    client& tuber() noexcept { return client_; }
    const std::string& object() const noexcept { return object_; }
    const std::string& address() const noexcept { return client_.address(); }

    // {"i": .., "q": ..} -> complex; protocol_error naming `what` otherwise.
    static std::complex<double> to_complex(const json::value& v, const std::string& address, const std::string& what);

private:
    struct info {
        std::string serial, firmware;
        int nchannels = 0;
        double fmin = 0, fmax = 0;
    };
    const info& properties();

    client client_;
    std::string object_;
    std::mutex mtx_;
    std::optional<info> info_;
};

}  // namespace tw::tuber
