// tw::algorithms tuning: see tuning.hpp.
#include <tw/algorithms/tuning.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <complex>
#include <exception>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/core.h>

#include <tw/deadline.hpp>
#include <tw/errors.hpp>

#include "per_board.hpp"

namespace tw::algorithms {

namespace json = boost::json;

namespace {

constexpr int k_max_samples = 1'000'000;  // the board's limit per get_samples

double median_of(std::vector<double> v) {
    if (v.empty()) return 0;
    auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    return *mid;
}

// Readings of `channel` at each frequency, in Tuber batches of `batch` points
// (set_frequency + get_samples per point). Returns samples / amplitude.
// set_amplitude_first: the first batch starts by setting the channel's
// amplitude to it, saving the round trip of a call of its own (its error,
// if any, is the one thrown).
std::vector<std::complex<double>> read_points(tuber::board& board, int channel, const std::vector<double>& freqs,
                                              double amplitude, int n, std::size_t batch,
                                              std::optional<double> set_amplitude_first = std::nullopt) {
    std::vector<std::complex<double>> out;
    out.reserve(freqs.size());
    const std::string& obj = board.object();
    batch = std::max<std::size_t>(batch, 1);
    for (std::size_t start = 0; start < freqs.size(); start += batch) {
        const std::size_t end = std::min(freqs.size(), start + batch);
        tuber::batch b(board.tuber());
        std::vector<std::size_t> idx;
        idx.reserve(end - start);
        std::optional<std::size_t> amplitude_call;
        if (start == 0 && set_amplitude_first) amplitude_call = b.call(obj, "set_amplitude", {channel, *set_amplitude_first});
        for (std::size_t i = start; i < end; ++i) {
            b.call(obj, "set_frequency", {channel, freqs[i]});
            idx.push_back(b.call(obj, "get_samples", {channel}, {{"n", n}}));
        }
        auto results = b.execute();
        if (amplitude_call) results.at(*amplitude_call).value();  // rethrows its error
        for (std::size_t k : idx) {
            const auto& r = results.at(k);
            out.push_back(tuber::board::to_complex(r.value(), board.address(), "get_samples") / amplitude);
        }
    }
    return out;
}

void check_amplitude(double amplitude) {
    if (!(amplitude > 0 && amplitude <= 1))
        throw std::invalid_argument("amplitude must be in (0, 1], got " + std::to_string(amplitude));
}

// Least-squares parabola y = a·x² + b·x + c through (x, y); the vertex x, or
// nullopt if the parabola does not open upwards.
std::optional<double> parabola_vertex(const std::vector<double>& x, const std::vector<double>& y) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, t0 = 0, t1 = 0, t2 = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double xi = x[i], x2 = xi * xi;
        s0 += 1, s1 += xi, s2 += x2, s3 += x2 * xi, s4 += x2 * x2;
        t0 += y[i], t1 += xi * y[i], t2 += x2 * y[i];
    }
    // Normal equations [s4 s3 s2; s3 s2 s1; s2 s1 s0] (a b c) = (t2 t1 t0), by Cramer.
    auto det3 = [](double a, double b, double c, double d, double e, double f, double g, double h, double i) {
        return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    };
    const double d = det3(s4, s3, s2, s3, s2, s1, s2, s1, s0);
    if (std::abs(d) < 1e-12) return std::nullopt;
    const double a = det3(t2, s3, s2, t1, s2, s1, t0, s1, s0) / d;
    const double b = det3(s4, t2, s2, s3, t1, s1, s2, t0, s0) / d;
    if (!(a > 0)) return std::nullopt;
    return -b / (2 * a);
}

}  // namespace

std::size_t sweep_points(double fmin, double fmax) {
    constexpr double k_step = 250.0;  // Hz per point
    if (!(std::isfinite(fmin) && std::isfinite(fmax) && fmin < fmax))
        throw std::invalid_argument(fmt::format("sweep band [{}, {}] Hz is not finite and ascending", fmin, fmax));
    // Compared as doubles before any cast: a band of 1e308 Hz must not reach
    // the conversion to size_t (undefined beyond its range).
    const double points = std::ceil((fmax - fmin) / k_step) + 1;
    if (points > static_cast<double>(k_max_sweep_points))
        throw std::invalid_argument(fmt::format("sweep band [{}, {}] Hz at one point per {} Hz needs {} points, more than "
                                                "the {} a sweep may take (give fewer points or a narrower band)",
                                                fmin, fmax, k_step, points, k_max_sweep_points));
    return static_cast<std::size_t>(points);
}

int samples_for(double amplitude) {
    check_amplitude(amplitude);
    const double n = 64.0 / (amplitude * amplitude);
    return static_cast<int>(std::clamp(std::ceil(n), 256.0, static_cast<double>(k_max_samples)));
}

sweep_data network_analysis(tuber::board& board, double fmin, double fmax, std::size_t points, double amplitude,
                            int channel, const sweep_options& opts) {
    check_amplitude(amplitude);
    if (points < 2 || points > k_max_sweep_points)
        throw std::invalid_argument(fmt::format("network_analysis: {} points, outside [2, {}]", points, k_max_sweep_points));
    if (!(fmin < fmax)) throw std::invalid_argument("network_analysis: fmin must be below fmax");
    sweep_data s;
    s.amplitude = amplitude;
    s.channel = channel;
    s.samples = opts.samples > 0 ? std::min(opts.samples, k_max_samples) : samples_for(amplitude);
    std::vector<double> freqs(points);
    for (std::size_t i = 0; i < points; ++i)
        freqs[i] = fmin + (fmax - fmin) * static_cast<double>(i) / static_cast<double>(points - 1);
    freqs.back() = fmax;
    board.set_amplitude(channel, amplitude);
    auto values = read_points(board, channel, freqs, amplitude, s.samples, opts.batch);
    board.set_amplitude(channel, 0);
    s.points.reserve(points);
    for (std::size_t i = 0; i < points; ++i) s.points.push_back({freqs[i], std::abs(values[i]), std::arg(values[i])});
    return s;
}

namespace {

// Full width at half depth of the power dip P = 1 − r² around its lowest point
// k, Hz; 0 when it cannot be measured. r is |S21| over the off-resonance
// level, here the 90th percentile of the `window` points around k rather
// than find_resonances' running median: the median sits in the tails of the
// neighbouring dips (0.3 % low beside a wide one), which is harmless for
// finding a dip but moves the half-depth points of a one-point-wide one by
// several per cent; the upper decile is off by about one noise σ. A notch
// resonator's P is a Lorentzian in f, so 1/P is exactly a parabola whose
// value doubles at ±linewidth/2 from its vertex: fitting that parabola
// through the points of the dip interpolates between sweep points without
// the bias of a straight line, which matters here because a linewidth is only
// one to five points of a 250 Hz sweep. The points are those from the first
// one at or below half depth on the left to the first on the right (so the
// crossings are bracketed), weighted by P⁴ because the noise of 1/P grows as
// 1/P².
double dip_linewidth(const sweep_data& s, std::size_t k, std::size_t window) {
    const std::size_t n = s.points.size();
    if (k == 0 || k + 1 >= n || window > n) return 0;
    const std::size_t first = k < window / 2 ? 0 : std::min(k - window / 2, n - window);
    std::vector<double> level(window);
    for (std::size_t i = 0; i < window; ++i) level[i] = s.points[first + i].magnitude;
    const auto decile = level.begin() + static_cast<std::ptrdiff_t>(window * 9 / 10);
    std::nth_element(level.begin(), decile, level.end());
    const double base = *decile;
    if (!(base > 0)) return 0;
    auto power = [&](std::size_t i) {
        const double r = s.points[i].magnitude / base;
        return 1 - r * r;
    };
    const double half = 0.5 * power(k);
    if (!(half > 0)) return 0;
    std::size_t lo = k - 1, hi = k + 1;
    while (power(lo) > half) {
        if (lo == 0) return 0;  // the dip runs off the low end of the sweep
        --lo;
    }
    while (power(hi) > half) {
        if (hi + 1 == n) return 0;  // ... or off the high end
        ++hi;
    }
    // Weighted least squares of 1/P = a + b·x + c·x², x in sweep steps from
    // point k (keeps the normal equations well scaled).
    const double f0 = s.points[k].frequency;
    const double step = (s.points[hi].frequency - s.points[lo].frequency) / static_cast<double>(hi - lo);
    if (!(step > 0)) return 0;
    double m[3][4] = {};
    std::size_t used = 0;
    for (std::size_t i = lo; i <= hi; ++i) {
        const double p = power(i);
        if (!(p > 0)) continue;  // noise above the baseline: no reciprocal
        const double x = (s.points[i].frequency - f0) / step, w = p * p * p * p;
        const double row[3] = {1, x, x * x};
        for (int a = 0; a < 3; ++a) {
            for (int b = 0; b < 3; ++b) m[a][b] += w * row[a] * row[b];
            m[a][3] += w * row[a] / p;
        }
        ++used;
    }
    if (used < 3) return 0;
    // Gaussian elimination with partial pivoting on the 3×4 system.
    for (int c = 0; c < 3; ++c) {
        int piv = c;
        for (int r2 = c + 1; r2 < 3; ++r2)
            if (std::abs(m[r2][c]) > std::abs(m[piv][c])) piv = r2;
        if (!(std::abs(m[piv][c]) > 0)) return 0;
        if (piv != c)
            for (int j = 0; j < 4; ++j) std::swap(m[c][j], m[piv][j]);
        for (int r2 = 0; r2 < 3; ++r2) {
            if (r2 == c) continue;
            const double f = m[r2][c] / m[c][c];
            for (int j = c; j < 4; ++j) m[r2][j] -= f * m[c][j];
        }
    }
    const double a = m[0][3] / m[0][0], b = m[1][3] / m[1][1], c = m[2][3] / m[2][2];
    if (!(c > 0)) return 0;  // not curving up: not a dip's shape
    const double vertex = -b / (2 * c), lowest = a - b * b / (4 * c);
    if (!(lowest > 0) || vertex < static_cast<double>(lo) - static_cast<double>(k) ||
        vertex > static_cast<double>(hi) - static_cast<double>(k))
        return 0;
    const double width = 2 * std::sqrt(lowest / c) * step;
    return std::isfinite(width) && width > 0 ? width : 0;
}

}  // namespace

std::vector<resonance> find_resonances(const sweep_data& s, const find_options& opts) {
    const std::size_t n = s.points.size();
    std::vector<resonance> found;
    if (n < 5) return found;

    // Off-resonance level: a running median (dips are narrow against the window).
    // The window is kept sorted as it slides (one value out, one in, found by
    // binary search) instead of selecting the median afresh at every point:
    // the same element, without copying and partitioning w values n times
    // (8001 × 101 for a board's sweep was a tenth of tw tune's client time).
    // NaN sorts last, so the order stays total whatever the data.
    const std::size_t w = std::min(std::max<std::size_t>(opts.baseline_window | 1, 3), n % 2 ? n : n - 1);
    const std::size_t half = w / 2;
    const auto before = [](double a, double b) { return a < b || (!std::isnan(a) && std::isnan(b)); };
    std::vector<double> r(n);
    std::vector<double> window(w);
    for (std::size_t k = 0; k < w; ++k) window[k] = s.points[k].magnitude;
    std::sort(window.begin(), window.end(), before);
    std::size_t window_lo = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t lo = i < half ? 0 : std::min(i - half, n - w);
        for (; window_lo < lo; ++window_lo) {
            const double out = s.points[window_lo].magnitude, in = s.points[window_lo + w].magnitude;
            window.erase(std::lower_bound(window.begin(), window.end(), out, before));
            window.insert(std::upper_bound(window.begin(), window.end(), in, before), in);
        }
        const double base = window[half];
        r[i] = base > 0 ? s.points[i].magnitude / base : 1.0;
    }

    // Noise from the first differences (robust: median absolute deviation).
    std::vector<double> diffs(n - 1);
    for (std::size_t i = 0; i + 1 < n; ++i) diffs[i] = r[i + 1] - r[i];
    const double dmed = median_of(diffs);
    for (auto& d : diffs) d = std::abs(d - dmed);
    const double sigma = 1.4826 * median_of(diffs) / std::sqrt(2.0);

    std::size_t smooth = opts.smooth ? opts.smooth : (sigma > 0.01 ? 3 : 1);
    smooth = std::max<std::size_t>(smooth | 1, 1);
    std::vector<double> rs = r;
    if (smooth > 1) {
        const std::size_t h = smooth / 2;
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t lo = i < h ? 0 : i - h, hi = std::min(n - 1, i + h);
            double sum = 0;
            for (std::size_t k = lo; k <= hi; ++k) sum += r[k];
            rs[i] = sum / static_cast<double>(hi - lo + 1);
        }
    }
    const double threshold = std::max(opts.min_depth, opts.noise_factor * sigma / std::sqrt(static_cast<double>(smooth)));

    // Each run of points below the threshold (gaps of one point merged) is one dip.
    std::size_t i = 0;
    while (i < n) {
        if (1 - rs[i] <= threshold) {
            ++i;
            continue;
        }
        std::size_t end = i;
        while (end + 1 < n && (1 - rs[end + 1] > threshold || (end + 2 < n && 1 - rs[end + 2] > threshold))) ++end;
        std::size_t k = i;
        for (std::size_t j = i; j <= end; ++j)
            if (rs[j] < rs[k]) k = j;
        double f = s.points[k].frequency;
        if (k > 0 && k + 1 < n) {
            const double y0 = rs[k - 1], y1 = rs[k], y2 = rs[k + 1];
            const double den = y0 - 2 * y1 + y2;
            if (den > 0) {
                const double off = std::clamp(0.5 * (y0 - y2) / den, -0.5, 0.5);
                const double df = off < 0 ? s.points[k].frequency - s.points[k - 1].frequency
                                          : s.points[k + 1].frequency - s.points[k].frequency;
                f += off * df;
            }
        }
        const double width = dip_linewidth(s, k, w);
        found.push_back({f, 1 - rs[k], k, width, width > 0 ? f / width : 0});
        i = end + 1;
    }
    return found;
}

channel_result tune_channel(tuber::board& board, int channel, double guess, const channel_options& opts) {
    check_amplitude(opts.amplitude);
    const int n = opts.samples > 0 ? std::min(opts.samples, k_max_samples) : samples_for(opts.amplitude);
    const double fmin = board.fmin(), fmax = board.fmax();
    const std::size_t pts = std::max<std::size_t>(opts.points, 7);

    // Local sweep over [c − span, c + span]; (frequencies, |S21|²). The
    // first one sets the channel's amplitude in its batch.
    bool amplitude_set = false;
    auto local = [&](double c, double span) {
        const double lo = std::max(fmin, c - span), hi = std::min(fmax, c + span);
        std::vector<double> f(pts);
        for (std::size_t i = 0; i < pts; ++i) f[i] = lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(pts - 1);
        auto v = read_points(board, channel, f, opts.amplitude, n, pts,
                             amplitude_set ? std::nullopt : std::optional<double>(opts.amplitude));
        amplitude_set = true;
        std::vector<double> m2(pts);
        for (std::size_t i = 0; i < pts; ++i) m2[i] = std::norm(v[i]);
        return std::pair(std::move(f), std::move(m2));
    };
    auto argmin = [](const std::vector<double>& v) {
        return static_cast<std::size_t>(std::min_element(v.begin(), v.end()) - v.begin());
    };

    // Coarse: follow the slope if the minimum is at an edge (a few times at most).
    double center = std::clamp(guess, fmin, fmax);
    double span = opts.span;
    auto [f, m2] = local(center, span);
    std::size_t k = argmin(m2);
    for (int moves = 0; moves < 4 && (k == 0 || k + 1 == pts); ++moves) {
        if ((k == 0 && f[k] <= fmin) || (k + 1 == pts && f[k] >= fmax)) break;
        center = f[k];
        std::tie(f, m2) = local(center, span);
        k = argmin(m2);
    }
    // Fine: ±3 coarse steps, then a parabola through the lowest points.
    const double step = (f.back() - f.front()) / static_cast<double>(pts - 1);
    std::tie(f, m2) = local(f[k], 3 * step);
    k = argmin(m2);
    const double fine = (f.back() - f.front()) / static_cast<double>(pts - 1);
    double best = f[k];
    if (fine > 0) {
        const std::size_t lo = k >= 3 ? k - 3 : 0, hi = std::min(pts - 1, k + 3);
        std::vector<double> x, y;
        for (std::size_t i = lo; i <= hi; ++i) {
            x.push_back((f[i] - f[k]) / fine);
            y.push_back(m2[i]);
        }
        if (auto v = parabola_vertex(x, y); v && std::abs(*v) <= 3) best = f[k] + *v * fine;
    }
    best = std::clamp(best, fmin, fmax);
    board.set_frequency(channel, best);
    return {channel, best, opts.amplitude, std::sqrt(m2[k]), false};
}

board_result tune_board(tuber::board& board, const board_options& opts) {
    check_amplitude(opts.amplitude);
    board_result out;
    out.address = board.address();
    out.serial = board.serial();
    // The board checked NCHANNELS (1..4096), FMIN and FMAX (finite, 0..10 GHz,
    // ascending) where they entered (tuber::board, docs/DRIVERS.md); a band
    // too wide to sweep is caught by sweep_points before anything is sized.
    const auto nch = static_cast<std::size_t>(board.nchannels());
    const double fmin = opts.fmin > 0 ? opts.fmin : board.fmin(), fmax = opts.fmax > 0 ? opts.fmax : board.fmax();
    const std::size_t points = opts.points ? opts.points : sweep_points(fmin, fmax);

    out.sweep = network_analysis(board, fmin, fmax, points, opts.amplitude, 0, opts.sweep);
    out.resonances = find_resonances(out.sweep, opts.find);
    out.resonators_found = out.resonances.size();
    const std::size_t used = std::min(out.resonances.size(), nch);

    // Channels left over: amplitude 0 (and frequency FMIN, as after reset()).
    out.channels.resize(nch);
    if (used < out.channels.size()) {
        tuber::batch b(board.tuber());
        for (std::size_t i = used; i < out.channels.size(); ++i) {
            b.call(board.object(), "set_amplitude", {static_cast<int>(i), 0.0});
            b.call(board.object(), "set_frequency", {static_cast<int>(i), fmin});
            out.channels[i] = {static_cast<int>(i), fmin, 0.0, 1.0, false};
        }
        for (auto& r : b.execute()) r.value();
    }

    // Tune the used channels, a few at a time.
    channel_options copts = opts.channel;
    copts.amplitude = opts.amplitude;
    std::vector<int> chans(used);
    std::iota(chans.begin(), chans.end(), 0);
    std::atomic<std::size_t> channels_done{0};
    auto tuned = tw::fan_out(
        chans,
        [&](int ch) {
            auto r = tune_channel(board, ch, out.resonances[static_cast<std::size_t>(ch)].frequency, copts);
            if (opts.on_channel) opts.on_channel(out.address, ++channels_done, used);
            return r;
        },
        {.concurrency = opts.channel_concurrency, .name = "tune_channel"});
    for (std::size_t i = 0; i < used; ++i) out.channels[i] = tuned.outcomes[i].value();  // rethrows the first failure
    out.channels_tuned = used;

    // Verify: every tuned carrier sits in the lower half of its dip.
    if (used) {
        const int n = copts.samples > 0 ? copts.samples : samples_for(opts.amplitude);
        tuber::batch b(board.tuber());
        for (std::size_t i = 0; i < used; ++i) b.call(board.object(), "get_samples", {static_cast<int>(i)}, {{"n", n}});
        auto results = b.execute();
        for (std::size_t i = 0; i < used; ++i) {
            const double s21 = std::abs(tuber::board::to_complex(results[i].value(), board.address(), "get_samples")) / opts.amplitude;
            auto& ch = out.channels[i];
            ch.s21 = s21;
            ch.verified = s21 < 1 - 0.5 * out.resonances[i].depth;
            if (ch.verified) ++out.channels_verified;
        }
    }
    return out;
}

const char* to_string(board_status s) noexcept {
    switch (s) {
        case board_status::ok: return "ok";
        case board_status::failed: return "failed";
        case board_status::timeout: return "timeout";
        case board_status::cancelled: return "cancelled";
    }
    return "failed";
}

namespace {

board_outcome outcome_of(const std::string& address, std::exception_ptr e) {
    board_outcome o;
    o.address = address;
    try {
        std::rethrow_exception(e);
    } catch (const tw::timeout_error& x) {
        o.status = board_status::timeout;
        o.error = x.what();
    } catch (const tw::cancelled_error& x) {
        o.status = board_status::cancelled;
        o.error = x.what();
    } catch (const std::exception& x) {
        o.status = board_status::failed;
        o.error = x.what();
    } catch (...) {
        o.status = board_status::failed;
        o.error = "unknown exception";
    }
    return o;
}

}  // namespace

std::vector<board_outcome> tune_array(const std::vector<std::string>& addresses, const array_options& opts) {
    auto one = [&](const std::string& address) -> board_outcome {
        const auto t0 = clock::now();
        board_outcome o;
        try {
            tuber::board b(address, opts.tuber);
            auto r = tune_board(b, opts.board);
            r.address = address;
            o.address = address;
            o.status = board_status::ok;
            o.result = std::move(r);
        } catch (...) {
            o = outcome_of(address, std::current_exception());
        }
        o.elapsed_s = std::chrono::duration<double>(clock::now() - t0).count();
        return o;
    };
    return detail::per_board<board_outcome>(
        addresses, one, outcome_of,
        {.concurrency = opts.concurrency, .deadline = opts.deadline, .progress = opts.progress, .name = "tune_array"},
        opts.on_board);
}

}  // namespace tw::algorithms
