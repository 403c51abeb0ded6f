// Pure parts of the simulator: resonator placement, S21, counter-based noise,
// the fault grammar and the duration parser.
#include <tw/sim/physics.hpp>
#include <tw/sim/fault.hpp>
#include <tw/duration.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <complex>
#include <limits>
#include <numeric>
#include <span>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

void expect_constraints(const std::vector<tw::sim::resonator>& r, double fmin, double fmax) {
    for (std::size_t i = 0; i < r.size(); ++i) {
        const auto w = r[i].linewidth();
        EXPECT_GE(r[i].f - 5 * w, fmin) << i;
        EXPECT_LE(r[i].f + 5 * w, fmax) << i;
        EXPECT_GE(r[i].q, tw::sim::k_q_min);
        EXPECT_LE(r[i].q, tw::sim::k_q_max);
        EXPECT_GE(r[i].depth, tw::sim::k_depth_min);
        EXPECT_LE(r[i].depth, tw::sim::k_depth_max);
        for (std::size_t j = 0; j < i; ++j)
            EXPECT_GE(std::abs(r[i].f - r[j].f), 10 * std::max(w, r[j].linewidth())) << i << " vs " << j;
    }
}

}  // namespace

TEST(Physics, ResonatorsMeetTheSpacingQAndDepthConstraints) {
    for (std::uint64_t seed : {1u, 2u, 99u})
        for (std::size_t board : {0u, 7u}) {
            auto r = tw::sim::make_resonators(seed, board, 64, 4e6, 6e6);
            ASSERT_EQ(r.size(), 64u);
            EXPECT_TRUE(std::is_sorted(r.begin(), r.end(), [](auto& a, auto& b) { return a.f < b.f; }));
            expect_constraints(r, 4e6, 6e6);
        }
}

TEST(Physics, TwoHundredFiftySixResonatorsFitTheDefaultBand) {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        auto r = tw::sim::make_resonators(seed, 3, 256, 4e6, 6e6);
        ASSERT_EQ(r.size(), 256u);
        expect_constraints(r, 4e6, 6e6);
    }
}

TEST(Physics, MoreThan256ResonatorsIsAnError) {
    EXPECT_THROW(tw::sim::make_resonators(1, 0, 257, 4e6, 6e6), std::invalid_argument);
}

TEST(Physics, ResonatorsDependOnSeedAndBoardOnly) {
    auto a = tw::sim::make_resonators(5, 2, 16, 4e6, 6e6);
    auto b = tw::sim::make_resonators(5, 2, 16, 4e6, 6e6);
    auto c = tw::sim::make_resonators(5, 3, 16, 4e6, 6e6);
    auto d = tw::sim::make_resonators(6, 2, 16, 4e6, 6e6);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].f, b[i].f);
    EXPECT_NE(a[0].f, c[0].f);
    EXPECT_NE(a[0].f, d[0].f);
}

TEST(Physics, TransmissionDipsToOneMinusDepthAtEachResonator) {
    auto r = tw::sim::make_resonators(1, 0, 64, 4e6, 6e6);
    for (const auto& x : r) EXPECT_NEAR(std::abs(tw::sim::s21(r, x.f)), 1 - x.depth, 2e-2) << x.f;
}

TEST(Physics, TransmissionIsNearOneFarFromEveryResonator) {
    auto r = tw::sim::make_resonators(1, 0, 64, 4e6, 6e6);
    // Midpoints of the widest gaps are at least 5 linewidths from any resonator.
    std::vector<std::pair<double, double>> gaps;
    for (std::size_t i = 1; i < r.size(); ++i) gaps.push_back({r[i].f - r[i - 1].f, (r[i].f + r[i - 1].f) / 2});
    std::sort(gaps.rbegin(), gaps.rend());
    for (std::size_t k = 0; k < 5; ++k) EXPECT_NEAR(std::abs(tw::sim::s21(r, gaps[k].second)), 1.0, 0.05);
    std::vector<tw::sim::resonator> none;
    EXPECT_EQ(tw::sim::s21(none, 5e6), std::complex<double>(1, 0));
}

namespace {

// S21 as first written, with std::complex division: s21 must give the same
// bits, so that a board serves what it always served.
std::complex<double> reference_s21(std::span<const tw::sim::resonator> resonators, double f) {
    std::complex<double> s(1.0, 0.0);
    for (const auto& r : resonators) s *= 1.0 - r.depth / std::complex<double>(1.0, 2.0 * r.q * (f - r.f) / r.f);
    return s;
}

bool same_bits(std::complex<double> a, std::complex<double> b) {
    return std::bit_cast<std::uint64_t>(a.real()) == std::bit_cast<std::uint64_t>(b.real()) &&
           std::bit_cast<std::uint64_t>(a.imag()) == std::bit_cast<std::uint64_t>(b.imag());
}

}  // namespace

TEST(Physics, TransmissionIsBitForBitTheComplexDivisionProduct) {
    for (std::uint64_t seed : {1u, 2u})
        for (std::size_t count : {64u, 256u}) {
            const auto r = tw::sim::make_resonators(seed, 3, count, 4e6, 6e6);
            std::vector<double> fs;
            for (int i = 0; i <= 20000; ++i) fs.push_back(4e6 + 100.0 * i);
            for (const auto& x : r)
                for (int k = -40; k <= 40; ++k) fs.push_back(x.f + k * x.linewidth() / 7);  // k = 0: exactly on it
            for (double f : fs) ASSERT_TRUE(same_bits(tw::sim::s21(r, f), reference_s21(r, f))) << "seed " << seed << ", f " << f;
        }
    // One resonator at a time, far outside what boards use: zeros, tiny and
    // huge ratios, |x| = 1 exactly, infinities and NaN.
    const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
    const double values[] = {0.0, -0.0, 1e-320, 1e-300, 1e-160, 1e-150, 0.5, 1.0, 2.0, 5e6, 1e150, 1e160, 1e290, 1e300, 1e308, inf, nan};
    for (double f0 : {1.0, 5e6, 1e-300, 1e300})
        for (double q : {0.5, 1e4, 1e-300, 1e300})
            for (double depth : values)
                for (double f : values)
                    for (double sign : {1.0, -1.0}) {
                        const tw::sim::resonator one[] = {{f0, q, depth}};
                        ASSERT_TRUE(same_bits(tw::sim::s21(one, sign * f), reference_s21(one, sign * f)))
                            << "f0 " << f0 << ", q " << q << ", depth " << depth << ", f " << sign * f;
                        const tw::sim::resonator negative[] = {{f0, q, -depth}};
                        ASSERT_TRUE(same_bits(tw::sim::s21(negative, sign * f), reference_s21(negative, sign * f)))
                            << "f0 " << f0 << ", q " << q << ", depth " << -depth << ", f " << sign * f;
                    }
    // |x| = 1 exactly: f − f0 = f0 / (2q).
    const tw::sim::resonator unit[] = {{4e6, 1e4, 0.7}};
    for (double f : {4e6 + 200.0, 4e6 - 200.0}) EXPECT_TRUE(same_bits(tw::sim::s21(unit, f), reference_s21(unit, f)));
}

TEST(Physics, NoiseIsReproducibleAndHasTheSpecifiedSigma) {
    EXPECT_EQ(tw::sim::sample_noise(1, 2, 3, 4, 256), tw::sim::sample_noise(1, 2, 3, 4, 256));
    EXPECT_NE(tw::sim::sample_noise(1, 2, 3, 4, 256), tw::sim::sample_noise(1, 2, 3, 5, 256));
    EXPECT_NE(tw::sim::sample_noise(1, 2, 3, 4, 256), tw::sim::sample_noise(1, 2, 4, 4, 256));
    EXPECT_NE(tw::sim::sample_noise(1, 2, 3, 4, 256), tw::sim::sample_noise(1, 3, 3, 4, 256));
    EXPECT_NE(tw::sim::sample_noise(1, 2, 3, 4, 256), tw::sim::sample_noise(2, 2, 3, 4, 256));
    for (std::size_t n : {1u, 100u}) {
        double sum = 0, sum2 = 0;
        const int k = 20000;
        for (int i = 0; i < k; ++i) {
            auto z = tw::sim::sample_noise(7, 0, 1, static_cast<std::uint64_t>(i), n);
            sum += z.real() + z.imag();
            sum2 += z.real() * z.real() + z.imag() * z.imag();
        }
        const double sigma = std::sqrt(sum2 / (2 * k));
        const double expected = 2e-3 / std::sqrt(static_cast<double>(n));
        EXPECT_NEAR(sigma, expected, 0.05 * expected) << "n = " << n;
        EXPECT_NEAR(sum / (2 * k), 0.0, 0.05 * expected);
    }
}

TEST(FaultGrammar, ParsesEveryKind) {
    auto f = tw::sim::parse_fault("latency:200us");
    EXPECT_EQ(f.target, tw::sim::service::tuber);
    EXPECT_EQ(f.kind, tw::sim::fault_kind::latency);
    EXPECT_EQ(f.duration, 200us);
    EXPECT_TRUE(f.ranges.empty());
    EXPECT_FALSE(f.fraction);

    f = tw::sim::parse_fault("scpi/jitter:1.5s@0,5,9-12");
    EXPECT_EQ(f.target, tw::sim::service::scpi);
    EXPECT_EQ(f.kind, tw::sim::fault_kind::jitter);
    EXPECT_EQ(f.duration, 1500ms);
    ASSERT_EQ(f.ranges.size(), 3u);
    EXPECT_EQ(f.ranges[2], (std::pair<std::size_t, std::size_t>{9, 12}));

    EXPECT_EQ(tw::sim::parse_fault("stall").kind, tw::sim::fault_kind::stall);
    EXPECT_EQ(tw::sim::parse_fault("disconnect@3").kind, tw::sim::fault_kind::disconnect);
    EXPECT_EQ(tw::sim::parse_fault("modbus/garbage").kind, tw::sim::fault_kind::garbage);
    EXPECT_EQ(tw::sim::parse_fault("refuse@10%").fraction, 0.1);
    EXPECT_EQ(tw::sim::parse_fault("slow:100").bytes_per_s, 100);

    f = tw::sim::parse_fault("tuber/flap:5s/2s@1");
    EXPECT_EQ(f.kind, tw::sim::fault_kind::flap);
    EXPECT_EQ(f.duration, 5s);
    EXPECT_EQ(f.down, 2s);

    f = tw::sim::parse_fault("modbus/alarm:pressure");
    EXPECT_EQ(f.kind, tw::sim::fault_kind::alarm);
    EXPECT_EQ(f.alarm, tw::sim::alarm_kind::pressure);
}

TEST(FaultGrammar, RejectsMalformedSpecsWithAClearMessage) {
    auto message = [](const char* spec) {
        try {
            tw::sim::parse_fault(spec);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_THAT(message("explode"), HasSubstr("unknown kind 'explode'"));
    EXPECT_THAT(message("latency"), HasSubstr("needs a parameter"));
    EXPECT_THAT(message("latency:fast"), HasSubstr("invalid duration 'fast'"));
    EXPECT_THAT(message("stall:3"), HasSubstr("takes no parameter"));
    EXPECT_THAT(message("ftp/stall"), HasSubstr("unknown service 'ftp'"));
    EXPECT_THAT(message("flap:5s"), HasSubstr("UP/DOWN"));
    EXPECT_THAT(message("slow:-3"), HasSubstr("positive"));
    EXPECT_THAT(message("alarm:overheat"), HasSubstr("modbus/alarm:overheat"));
    EXPECT_THAT(message("alarm:fire"), HasSubstr("overheat or pressure"));
    EXPECT_THAT(message("stall@"), HasSubstr("nothing after '@'"));
    EXPECT_THAT(message("stall@5-2"), HasSubstr("backwards"));
    EXPECT_THAT(message("stall@x"), HasSubstr("not an index"));
    EXPECT_THAT(message("stall@150%"), HasSubstr("percentage"));
    EXPECT_THAT(message("stall"), HasSubstr("no error"));
}

TEST(FaultGrammar, SelectsIndicesAndReproducibleFractions) {
    auto f = tw::sim::parse_fault("stall@1,3-4");
    EXPECT_EQ(f.select(6, 1), (std::vector<bool>{false, true, false, true, true, false}));
    EXPECT_THROW(f.select(4, 1), std::invalid_argument);
    auto all = tw::sim::parse_fault("stall").select(3, 1);
    EXPECT_EQ(all, (std::vector<bool>{true, true, true}));

    auto g = tw::sim::parse_fault("stall@10%");
    auto a = g.select(200, 42);
    EXPECT_EQ(std::count(a.begin(), a.end(), true), 20);
    EXPECT_EQ(a, g.select(200, 42));
    EXPECT_NE(a, g.select(200, 43));
    auto one = tw::sim::parse_fault("stall@1%").select(3, 1);
    EXPECT_EQ(std::count(one.begin(), one.end(), true), 1);
}

TEST(FaultGrammar, CombinesFaultsPerInstance) {
    std::vector<tw::sim::fault_spec> specs{tw::sim::parse_fault("latency:10ms@0"), tw::sim::parse_fault("latency:5ms"),
                                           tw::sim::parse_fault("scpi/stall"), tw::sim::parse_fault("slow:100@1")};
    auto f = tw::sim::resolve_faults(specs, tw::sim::service::tuber, 2, 1, 1ms, 0ms);
    EXPECT_EQ(f[0].latency, 16ms);
    EXPECT_EQ(f[1].latency, 6ms);
    EXPECT_FALSE(f[0].stall);
    EXPECT_EQ(f[1].bytes_per_s, 100);
    auto s = tw::sim::resolve_faults(specs, tw::sim::service::scpi, 1, 1);
    EXPECT_TRUE(s[0].stall);
}

TEST(Duration, ParsesUnitsAndBareSeconds) {
    EXPECT_EQ(tw::parse_duration("200us"), 200us);
    EXPECT_EQ(tw::parse_duration("1.5s"), 1500ms);
    EXPECT_EQ(tw::parse_duration("3"), 3s);
    EXPECT_EQ(tw::parse_duration("0.25"), 250ms);
    EXPECT_EQ(tw::parse_duration("7ns"), 7ns);
    EXPECT_EQ(tw::parse_duration("20ms"), 20ms);
    EXPECT_EQ(tw::parse_duration("2m"), 120s);
    EXPECT_EQ(tw::parse_duration("1h"), 3600s);
    EXPECT_EQ(tw::parse_duration("0"), 0s);
}

TEST(Duration, RejectsWhatIsNotADuration) {
    for (const char* bad : {"", "s", "fast", "10 parsecs", "-1s", "1e30h", "5x", "1.5.2s"})
        EXPECT_THROW(tw::parse_duration(bad), std::invalid_argument) << bad;
    try {
        tw::parse_duration("5x");
    } catch (const std::invalid_argument& e) {
        EXPECT_THAT(e.what(), HasSubstr("'5x'"));
        EXPECT_THAT(e.what(), HasSubstr("200us"));
    }
}

TEST(Duration, FormatsReadably) {
    EXPECT_EQ(tw::format_duration(0s), "0s");
    EXPECT_EQ(tw::format_duration(1500ms), "1.5s");
    EXPECT_EQ(tw::format_duration(200us), "200us");
    EXPECT_EQ(tw::format_duration(2s), "2s");
    EXPECT_EQ(tw::parse_duration(tw::format_duration(1234567ns)), 1234567ns);
}
