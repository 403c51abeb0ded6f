#include <tw/sim/physics.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

namespace tw::sim {

std::complex<double> gaussian_pair(std::uint64_t h) noexcept {
    // u1 in (0, 1] so that log(u1) is finite.
    const double u1 = (static_cast<double>(splitmix64(h) >> 11) + 1.0) * 0x1p-53;
    const double u2 = unit_interval(splitmix64(h ^ 0xd1b54a32d192ed03ULL));
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double phi = 2.0 * std::numbers::pi * u2;
    return {r * std::cos(phi), r * std::sin(phi)};
}

namespace {

// A reproducible sequence of uniforms: the i-th value hashes (key, i).
class counter_stream {
public:
    explicit counter_stream(std::uint64_t key) noexcept : key_(key) {}
    double uniform() noexcept { return unit_interval(counter_hash({key_, n_++})); }
    double uniform(double lo, double hi) noexcept { return lo + (hi - lo) * uniform(); }

private:
    std::uint64_t key_;
    std::uint64_t n_ = 0;
};

// Space the resonators in `order` need: 5·W at each edge and 10·max(W_i, W_j)
// between neighbours, W being an upper bound of each linewidth.
double required_span(const std::vector<std::size_t>& order, const std::vector<double>& wmax) {
    double r = 5 * wmax[order.front()] + 5 * wmax[order.back()];
    for (std::size_t i = 1; i < order.size(); ++i) r += 10 * std::max(wmax[order[i - 1]], wmax[order[i]]);
    return r;
}

}  // namespace

std::vector<resonator> make_resonators(std::uint64_t seed, std::size_t board, std::size_t count, double fmin,
                                       double fmax) {
    if (count > k_max_resonators)
        throw std::invalid_argument("at most " + std::to_string(k_max_resonators) + " resonators (channels) per board, got " +
                                    std::to_string(count));
    if (!(fmin > 0) || !(fmax > fmin)) throw std::invalid_argument("resonator band: need 0 < FMIN < FMAX");
    if (count == 0) return {};
    counter_stream rng(counter_hash({seed, static_cast<std::uint64_t>(stream::resonators), board}));
    for (int attempt = 0; attempt < 32; ++attempt) {
        std::vector<resonator> r(count);
        std::vector<double> wmax(count);
        for (std::size_t k = 0; k < count; ++k) {
            // Log-uniform Q: as many narrow as wide resonators per octave.
            r[k].q = std::exp(rng.uniform(std::log(k_q_min), std::log(k_q_max)));
            r[k].depth = rng.uniform(k_depth_min, k_depth_max);
            wmax[k] = fmax / r[k].q;  // w = f/Q <= fmax/Q wherever f lands
        }
        // A random order along the band; if it leaves no room, the order by
        // width (which needs the least room) — and if even that does not fit,
        // new Q values.
        std::vector<std::size_t> order(count);
        for (std::size_t k = 0; k < count; ++k) order[k] = k;
        for (std::size_t k = count - 1; k > 0; --k)
            std::swap(order[k], order[static_cast<std::size_t>(rng.uniform() * static_cast<double>(k + 1)) % (k + 1)]);
        double slack = (fmax - fmin) - required_span(order, wmax);
        if (slack < 0) {
            std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return wmax[a] < wmax[b]; });
            slack = (fmax - fmin) - required_span(order, wmax);
            if (slack < 0) continue;
        }
        // Share the slack out at random (normalised exponential gaps).
        std::vector<double> gaps(count + 1);
        double total = 0;
        for (auto& g : gaps) total += (g = -std::log(1.0 - rng.uniform()));
        for (auto& g : gaps) g *= slack / total;
        std::vector<resonator> placed;
        placed.reserve(count);
        double f = fmin + 5 * wmax[order[0]] + gaps[0];
        for (std::size_t i = 0; i < count; ++i) {
            if (i > 0) f += 10 * std::max(wmax[order[i - 1]], wmax[order[i]]) + gaps[i];
            resonator x = r[order[i]];
            x.f = f;
            placed.push_back(x);
        }
        return placed;
    }
    throw std::invalid_argument("cannot place " + std::to_string(count) + " resonators between " + std::to_string(fmin) +
                                " and " + std::to_string(fmax) + " Hz 10 linewidths apart: use fewer channels");
}

namespace {

// depth / (1 + jx), bit for bit what std::complex division gives. That is a
// call to libgcc's __divdc3 (Smith's method, with scalings by powers of two
// that change no bit, and special cases for zeros, subnormals, huge values,
// inf and NaN), which alone took 10% of the simulator's CPU time serving
// tw tune. For a = depth, b = 0, c = 1, d = x its operations reduce to the
// ones below whenever |depth| and |x| lie in [2^-500, 2^500], so that every
// product and quotient stays normal and nonzero; anything else takes the
// division itself (and ISO C++ mode means -ffp-contract=off: no fused
// multiply-add changes a rounding). Physics.TransmissionIsBitForBitTheComplexDivisionProduct
// checks both paths.
std::complex<double> depth_over(double depth, double x) noexcept {
    const double ax = std::abs(x), ad = std::abs(depth);
    if (ax >= 0x1p-500 && ax <= 0x1p500 && ad >= 0x1p-500 && ad <= 0x1p500) {
        if (ax > 1.0) {  // |c| < |d|: ratio = c/d
            const double ratio = 1.0 / x;
            const double denom = ratio + x;
            return {depth * ratio / denom, -depth / denom};
        }
        const double denom = x * x + 1.0;  // ratio = d/c = x
        return {depth / denom, -(depth * x) / denom};
    }
    return depth / std::complex<double>(1.0, x);
}

}  // namespace

std::complex<double> s21(std::span<const resonator> resonators, double f) noexcept {
    std::complex<double> s(1.0, 0.0);
    for (const auto& r : resonators) s *= 1.0 - depth_over(r.depth, 2.0 * r.q * (f - r.f) / r.f);
    return s;
}

std::complex<double> sample_noise(std::uint64_t seed, std::size_t board, std::size_t channel, std::uint64_t call,
                                  std::size_t n) noexcept {
    const double sigma = k_noise_sigma / std::sqrt(static_cast<double>(n == 0 ? 1 : n));
    return sigma * gaussian_pair(counter_hash({seed, static_cast<std::uint64_t>(stream::samples), board, channel, call}));
}

}  // namespace tw::sim
