#pragma once
// tw::tuber::board: a readout board (PROTOCOLS.md §1, the `Board` object) as
// typed calls over tw::tuber::client — what the algorithms use.
// SERIAL, FIRMWARE, NCHANNELS, FMIN and FMAX are read once and cached.
//
// Thread safety: shareable by fibers of any thread (the client serialises).
// Errors: as tuber::client; a bad channel, frequency or amplitude is a
// protocol_error whose message names the argument and the allowed range.
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
