#pragma once
// tw::sim physics: the hidden resonators of a simulated readout board, their
// transmission S21, and the counter-based noise of docs/WIRE_FORMATS.md, The simulated
// Board object.
//
// Everything here is a pure function of its arguments, so a test can compute
// exactly what a board serves: get_samples(channel, n) on board b of a
// simulator started with seed s returns
//     amplitude · s21(resonators, f) + sample_noise(s, b, channel, k, n)
// for the k-th get_samples call on that channel (k = 0, 1, ...), whatever the
// order of calls on other channels and boards.
//
// Randomness is counter-based: a value is a hash of its coordinates (seed,
// board, channel, call, ...) through splitmix64, never a draw from a shared
// stream, which is what makes results independent of interleaving.
//
// Thread safety: pure functions; safe from any thread.
// Errors: make_resonators throws std::invalid_argument when the resonators
// cannot be placed (more than k_max_resonators, or a band too narrow).
//
// Example:
//   auto res = tw::sim::make_resonators(1, 0, 64, 4.0e6, 6.0e6);
//   double dip = std::abs(tw::sim::s21(res, res[0].f));   // ≈ 1 − res[0].depth

#include <complex>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

namespace tw::sim {

// One hidden resonator: centre frequency (Hz), loaded quality factor, depth.
struct resonator {
    double f = 0;
    double q = 0;
    double depth = 0;
    double linewidth() const noexcept { return f / q; }
};

inline constexpr std::size_t k_max_resonators = 256;
inline constexpr double k_q_min = 5e3, k_q_max = 2e4;
inline constexpr double k_depth_min = 0.5, k_depth_max = 0.95;
inline constexpr double k_noise_sigma = 2e-3;  // per component, for n = 1

// splitmix64's finaliser: a bijective 64-bit mix.
constexpr std::uint64_t splitmix64(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// A hash of a tuple of coordinates; different tuples give independent values.
constexpr std::uint64_t counter_hash(std::initializer_list<std::uint64_t> keys) noexcept {
    std::uint64_t h = 0x243f6a8885a308d3ULL;
    for (auto k : keys) h = splitmix64(h ^ splitmix64(k + 0x632be59bd9b4e019ULL));
    return h;
}

// Uniform in [0, 1) from a hash.
constexpr double unit_interval(std::uint64_t h) noexcept { return static_cast<double>(h >> 11) * 0x1p-53; }

// Two independent standard Gaussians (Box–Muller) from one hash.
std::complex<double> gaussian_pair(std::uint64_t h) noexcept;

// Domains, so that draws for different purposes never share coordinates.
enum class stream : std::uint64_t {
    resonators = 1,
    samples = 2,
    fpga_temperature = 3,
    scpi_noise = 4,
    modbus_noise = 5,
    jitter = 6,
    garbage = 7,
    fault_selection = 8,
};

// The resonators of board `board` (0-based) of a simulator with `seed`: `count`
// of them, f in [fmin + 5w, fmax − 5w], Q in [5e3, 2e4], depth in [0.5, 0.95],
// any two at least 10·max(w_i, w_j) apart (w = f/Q), sorted by frequency.
std::vector<resonator> make_resonators(std::uint64_t seed, std::size_t board, std::size_t count, double fmin,
                                       double fmax);

// Product-form transmission: Π_k (1 − d_k / (1 + 2j·Q_k·(f − f_k)/f_k)).
std::complex<double> s21(std::span<const resonator> resonators, double f) noexcept;

// The noise added to the mean of n samples: complex Gaussian, σ = 2e-3/√n per
// component, from (seed, board, channel, call).
std::complex<double> sample_noise(std::uint64_t seed, std::size_t board, std::size_t channel, std::uint64_t call,
                                  std::size_t n) noexcept;

}  // namespace tw::sim
