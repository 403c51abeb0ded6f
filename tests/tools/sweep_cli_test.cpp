// tw sweep end to end against a simulator served by this test process (CSV
// rows whose dips sit at the ground-truth resonators, a well-formed SVG with
// one marker per resonance, usage errors, an unreachable board), and the
// CSV/SVG writer itself (compiled in from tools/tw/sweep_output.cpp):
// round-trip precision, decimation that keeps a one-point dip, escaping, a
// dB axis that ends at 0 dB, carriers drawn on the trace.
#include "../../tools/tw/sweep_output.hpp"

#include <tw/sim/physics.hpp>
#include <tw/sim/simulator.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../sim/sim_test_util.hpp"
#include "cli_test_util.hpp"

using tw_test::command_result;
using tw_test::count_of;
using tw_test::k_hang_guarded;
using tw_test::read_file;
using tw_test::run_tw;
using tw_test::temp_path;

namespace {

namespace alg = tw::algorithms;

struct csv_row {
    double frequency, magnitude, phase;
};

// Every row must have three numbers; a bad row fails the test.
std::vector<csv_row> parse_csv(const std::string& text) {
    std::vector<csv_row> rows;
    std::istringstream in(text);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "frequency_hz,magnitude,phase_rad");
    while (std::getline(in, line)) {
        csv_row r{};
        char c1 = 0, c2 = 0;
        std::istringstream l(line);
        l >> r.frequency >> c1 >> r.magnitude >> c2 >> r.phase;
        EXPECT_TRUE(l && c1 == ',' && c2 == ',' && l.peek() == EOF) << "bad row '" << line << "'";
        rows.push_back(r);
    }
    return rows;
}

// "  3  4.5123456 MHz  depth 0.812  Q 21000" lines of the summary -> Hz.
std::vector<double> printed_resonances(const std::string& output) {
    std::vector<double> out;
    const std::regex line(R"(\n\s+\d+\s+([0-9.]+) MHz\s+depth [0-9.]+)");
    for (auto it = std::sregex_iterator(output.begin(), output.end(), line); it != std::sregex_iterator(); ++it)
        out.push_back(std::stod((*it)[1].str()) * 1e6);
    return out;
}

// How close a found dip must be to the true centre: half a linewidth, and
// never tighter than the point spacing.
double tolerance(const tw::sim::resonator& r, double step) { return std::max(step, 0.5 * r.linewidth()); }

void expect_matches_truth(const std::vector<double>& found, const std::vector<tw::sim::resonator>& truth, double step) {
    ASSERT_EQ(found.size(), truth.size());
    for (std::size_t k = 0; k < truth.size(); ++k)  // both ascending in frequency
        EXPECT_NEAR(found[k], truth[k].f, tolerance(truth[k], step)) << "resonance " << k;
}

// The sweep against the physics: every row's |S21| is the model's at that
// frequency (the noise at amplitude 0.5 and 256 samples is σ ≈ 2.5e-4), and
// for each true resonator the lowest row within three linewidths sits at its
// centre.
void expect_rows_follow_model(const std::vector<csv_row>& rows, const std::vector<tw::sim::resonator>& truth) {
    std::size_t off = 0;
    for (const auto& row : rows)
        if (std::abs(row.magnitude - std::abs(tw::sim::s21(truth, row.frequency))) > 0.005 && ++off <= 5)
            ADD_FAILURE() << "|S21| " << row.magnitude << " at " << row.frequency << " Hz, the model says "
                          << std::abs(tw::sim::s21(truth, row.frequency));
    EXPECT_EQ(off, 0u);
}

void expect_dips_at_truth(const std::vector<csv_row>& rows, const std::vector<tw::sim::resonator>& truth, double step) {
    expect_rows_follow_model(rows, truth);
    for (const auto& r : truth) {
        const csv_row* lowest = nullptr;
        for (const auto& row : rows)
            if (std::abs(row.frequency - r.f) <= 3 * r.linewidth() && (!lowest || row.magnitude < lowest->magnitude))
                lowest = &row;
        ASSERT_NE(lowest, nullptr) << "no rows near " << r.f;
        EXPECT_NEAR(lowest->frequency, r.f, tolerance(r, step));
        EXPECT_LT(lowest->magnitude, 0.95) << "no dip at " << r.f;
    }
}

class SweepCli : public ::testing::Test {
protected:
    tw_sim_test::sim_runtime rt_;
    // Board 1 refuses connections.
    tw::sim::simulator sim_{{.boards = 2, .channels = 8, .scpi = 0, .modbus = 0, .seed = 7,
                             .faults = {tw::sim::parse_fault("refuse@1")}},
                            rt_};
};

}  // namespace

TEST_F(SweepCli, FindsTheTrueResonatorsAndWritesCsvAndSvg) {
    const auto csv = temp_path("sweep", "board.csv"), svg = temp_path("sweep", "board.svg");
    const auto& board = sim_.boards()[0];
    auto r = run_tw("sweep --board " + board.address + " --csv " + csv + " --plot " + svg, k_hang_guarded);
    ASSERT_EQ(r.status, 0) << r.output;

    // Defaults: the board's 4–6 MHz at one point per 250 Hz.
    EXPECT_NE(r.output.find("serial " + board.serial), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("points 8001 (4.000000 to 6.000000 MHz, step 250.0 Hz)"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("resonances 8\n"), std::string::npos) << r.output;
    expect_matches_truth(printed_resonances(r.output), board.resonators, 250);
    // Each line's Q against the resonator's: find_resonances measures it to
    // ~1 % at this noise (tests/algorithms); 5 % leaves room for 250 Hz steps.
    const std::regex q_line(R"(MHz\s+depth [0-9.]+\s+Q ([0-9]+)\n)");
    std::size_t k = 0;
    for (auto it = std::sregex_iterator(r.output.begin(), r.output.end(), q_line); it != std::sregex_iterator(); ++it, ++k) {
        ASSERT_LT(k, board.resonators.size());
        EXPECT_NEAR(std::stod((*it)[1].str()), board.resonators[k].q, 0.05 * board.resonators[k].q) << k;
    }
    EXPECT_EQ(k, board.resonators.size()) << r.output;

    const auto rows = parse_csv(read_file(csv));
    ASSERT_EQ(rows.size(), 8001u);
    EXPECT_EQ(rows.front().frequency, 4e6);
    EXPECT_EQ(rows.back().frequency, 6e6);
    for (std::size_t i = 1; i < rows.size(); ++i) ASSERT_LT(rows[i - 1].frequency, rows[i].frequency) << i;
    expect_dips_at_truth(rows, board.resonators, 250);

    auto x = tw_test::well_formed_xml(svg);
    EXPECT_EQ(x.status, 0) << x.output;
    const auto text = read_file(svg);
    EXPECT_EQ(count_of(text, "class=\"resonance\""), 8u);
    EXPECT_EQ(count_of(text, "class=\"carrier\""), 0u);
    EXPECT_EQ(count_of(text, "<polyline class=\"s21\""), 1u);
    EXPECT_NE(text.find(board.address), std::string::npos);
    EXPECT_NE(text.find("frequency (MHz)"), std::string::npos);
    EXPECT_NE(text.find("resonance (8)"), std::string::npos);  // legend
    std::remove(csv.c_str());
    std::remove(svg.c_str());
}

TEST_F(SweepCli, NarrowBandOnAnotherChannel) {
    const auto& board = sim_.boards()[0];
    // The band around the second resonator only: halfway to each neighbour
    // (at least 10 linewidths apart), so 801 points are ~40 Hz apart.
    const auto& res = board.resonators[1];
    const double lo = (board.resonators[0].f + res.f) / 2, hi = (res.f + board.resonators[2].f) / 2;
    const auto csv = temp_path("sweep", "narrow.csv");
    auto r = run_tw("sweep --board " + board.address + " --channel 5 --amplitude 0.05 --points 801 --fmin " +
                    std::to_string(lo) + " --fmax " + std::to_string(hi) + " --csv " + csv, k_hang_guarded);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("channel 5 amplitude 0.05"), std::string::npos) << r.output;
    const auto rows = parse_csv(read_file(csv));
    ASSERT_EQ(rows.size(), 801u);
    EXPECT_NEAR(rows.front().frequency, lo, 1e-6);
    EXPECT_NEAR(rows.back().frequency, hi, 1e-6);
    expect_rows_follow_model(rows, board.resonators);
    const auto found = printed_resonances(r.output);
    ASSERT_EQ(found.size(), 1u) << r.output;
    EXPECT_NEAR(found[0], res.f, 0.5 * res.linewidth());
    std::remove(csv.c_str());
}

TEST(SweepCliSim, SimulatedBoardNeedsNoHardware) {
    const auto csv = temp_path("sweep", "sim.csv");
    auto r = run_tw("sweep --sim --seed 3 --channels 4 --points 4001 --csv " + csv, k_hang_guarded);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("(simulated, seed 3)"), std::string::npos) << r.output;
    const auto truth = tw::sim::make_resonators(3, 0, 4, 4.0e6, 6.0e6);
    expect_matches_truth(printed_resonances(r.output), truth, 500);
    expect_dips_at_truth(parse_csv(read_file(csv)), truth, 500);
    // `--sim 1` is the same request spelled as the `--sim N` of the other verbs.
    r = run_tw("sweep --sim 1 --channels 2 --points 201", k_hang_guarded);
    EXPECT_EQ(r.status, 0) << r.output;
    std::remove(csv.c_str());
}

TEST_F(SweepCli, UsageErrorsExitTwoWithOneLine) {
    const auto& a = sim_.boards()[0].address;
    for (const std::string& args : {std::string("sweep"), "sweep --board " + a + " --sim", std::string("sweep --sim 2"),
                                   "sweep --board " + a + " --amplitude 0", "sweep --board " + a + " --points 1",
                                   "sweep --board " + a + " --fmin 1e6", "sweep --board " + a + " --fmax 9e6",
                                   "sweep --board " + a + " --fmin 5e6 --fmax 4.5e6", "sweep --board " + a + " --channel 8",
                                   "sweep --board " + a + " --timeout soon", "sweep --board " + a + " --seed 2"}) {
        auto r = run_tw(args, k_hang_guarded);
        EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
        EXPECT_EQ(r.output.rfind("tw: ", 0), 0u) << args << "\n" << r.output;
        EXPECT_EQ(count_of(r.output, "\n"), 1u) << args << "\n" << r.output;
    }
    auto r = run_tw("sweep --board " + a + " --fmin 1e6", k_hang_guarded);
    EXPECT_NE(r.output.find("outside the board's FMIN..FMAX"), std::string::npos) << r.output;
}

TEST_F(SweepCli, UnreachableBoardExitsOne) {
    const auto csv = temp_path("sweep", "unreachable.csv");
    auto r = run_tw("sweep --board " + sim_.boards()[1].address + " --timeout 2s --csv " + csv, k_hang_guarded);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_EQ(r.output.rfind("tw: ", 0), 0u) << r.output;
    EXPECT_EQ(count_of(r.output, "\n"), 1u) << r.output;
    EXPECT_FALSE(std::ifstream(csv).good());  // nothing written for a failed sweep
}

// ---- the writer ------------------------------------------------------------

namespace {

alg::sweep_data flat_sweep(std::size_t n, double fmin, double fmax) {
    alg::sweep_data s;
    s.amplitude = 0.5;
    for (std::size_t i = 0; i < n; ++i)
        s.points.push_back({fmin + (fmax - fmin) * static_cast<double>(i) / static_cast<double>(n - 1), 1.0, 0.0});
    return s;
}

// The polyline's "x,y" pairs.
std::vector<std::pair<double, double>> polyline_points(const std::string& svg) {
    std::vector<std::pair<double, double>> out;
    const auto start = svg.find("points=\"", svg.find("<polyline"));
    if (start == std::string::npos) return out;
    std::istringstream in(svg.substr(start + 8, svg.find('"', start + 8) - start - 8));
    for (std::string xy; in >> xy;) {
        const auto comma = xy.find(',');
        out.emplace_back(std::stod(xy.substr(0, comma)), std::stod(xy.substr(comma + 1)));
    }
    return out;
}

// The y-axis tick labels, dB.
std::vector<double> y_tick_labels(const std::string& svg) {
    std::vector<double> out;
    const auto start = svg.find("<g class=\"y-axis\"");
    const auto group = svg.substr(start, svg.find("</g>", start) - start);
    static const std::regex label(R"(>(-?[0-9]+(\.[0-9]+)?)</text>)");
    for (std::sregex_iterator it(group.begin(), group.end(), label), end; it != end; ++it) out.push_back(std::stod((*it)[1]));
    return out;
}

// The centres of the carrier diamonds (their path starts at the top vertex, 5 above).
std::vector<std::pair<double, double>> carrier_centres(const std::string& svg) {
    std::vector<std::pair<double, double>> out;
    static const std::regex carrier(R"(class="carrier" d="M([0-9.]+),([0-9.]+) )");
    for (std::sregex_iterator it(svg.begin(), svg.end(), carrier), end; it != end; ++it)
        out.emplace_back(std::stod((*it)[1]), std::stod((*it)[2]) + 5);
    return out;
}

// The polyline's y at frequency `hz` of sweep `s` drawn undecimated (one
// vertex per sweep point): linear between the vertices of the two points
// around it. (Not from the printed x: on a dip's flank y changes by 100 px
// per px, so x's 0.01 px rounding would blur the comparison.)
double polyline_y_at(const std::vector<std::pair<double, double>>& pts, const alg::sweep_data& s, double hz) {
    for (std::size_t i = 1; i < s.points.size() && i < pts.size(); ++i)
        if (s.points[i].frequency >= hz) {
            const double t = (hz - s.points[i - 1].frequency) / (s.points[i].frequency - s.points[i - 1].frequency);
            return pts[i - 1].second + t * (pts[i].second - pts[i - 1].second);
        }
    return NAN;
}

command_result xml_check_text(const std::string& text, const std::string& name) {
    const auto path = temp_path("sweep", name);
    tw_test::write_file(path, text);
    auto r = tw_test::well_formed_xml(path);
    std::remove(path.c_str());
    return r;
}

}  // namespace

TEST(SweepOutput, CsvReadsBackToTheSameDoubles) {
    alg::sweep_data s;
    s.points = {{4e6 + 0.1 + 0.2, 1.0 / 3.0, -std::acos(-1.0)}, {4.000000123456789e6, 0.9999999999999999, 1e-300}};
    const auto rows = parse_csv(tw::cli::sweep_csv(s));
    ASSERT_EQ(rows.size(), 2u);
    for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(rows[i].frequency, s.points[i].frequency);
        EXPECT_EQ(rows[i].magnitude, s.points[i].magnitude);
        EXPECT_EQ(rows[i].phase, s.points[i].phase);
    }
}

TEST(SweepOutput, DecimationKeepsAOnePointDip) {
    auto s = flat_sweep(100000, 4e6, 6e6);
    s.points[51234].magnitude = 0.01;  // -40 dB, one point wide
    const auto svg = tw::cli::sweep_svg(s, {});
    const auto pts = polyline_points(svg);
    ASSERT_FALSE(pts.empty());
    EXPECT_LT(pts.size(), 2000u);  // min and max of at most 860 pixel columns
    double top = 1e9, bottom = -1e9;
    for (auto [x, y] : pts) top = std::min(top, y), bottom = std::max(bottom, y);
    // 0 dB and -40 dB are far apart on a 430-pixel-high plot.
    EXPECT_GT(bottom - top, 200) << svg.substr(0, 2000);
    EXPECT_EQ(xml_check_text(svg, "decimated.svg").status, 0);
}

TEST(SweepOutput, MarkersLegendAndEscapedTitle) {
    auto s = flat_sweep(2001, 4.5e6, 4.6e6);
    s.points[1000].magnitude = 0.2;
    tw::cli::plot_marks m;
    m.title = "board <a&b> \"c\" 'd'\x01";
    m.resonances = {{s.points[1000].frequency, 0.8, 1000}, {4.52e6, 0.1, 400}};
    m.carriers = {s.points[1000].frequency + 10};
    const auto svg = tw::cli::sweep_svg(s, m);
    EXPECT_NE(svg.find("board &lt;a&amp;b&gt; &quot;c&quot; &apos;d&apos;?"), std::string::npos) << svg.substr(0, 800);
    EXPECT_EQ(svg.find("<a&b>"), std::string::npos);
    EXPECT_EQ(count_of(svg, "class=\"resonance\""), 2u);
    EXPECT_EQ(count_of(svg, "class=\"carrier\""), 1u);
    EXPECT_NE(svg.find("resonance 4.550000 MHz"), std::string::npos);
    EXPECT_NE(svg.find("tuned carrier (1)"), std::string::npos);
    EXPECT_NE(svg.find(">|S21| (dB)<"), std::string::npos);
    EXPECT_NE(svg.find(">4.56<"), std::string::npos);  // an x tick label, MHz
    auto x = xml_check_text(svg, "marks.svg");
    EXPECT_EQ(x.status, 0) << x.output;
}

TEST(SweepOutput, TheDbAxisEndsAtZeroAndCarriersSitOnTheTrace) {
    // A resonator's dip (Q 1e4: 455 Hz wide, 7 points of 62.5 Hz; fewer
    // points than two per pixel column, so none is decimated away) and one
    // point of noise above 1 (+1.6 dB), which must not lift the axis above 0 dB.
    auto s = flat_sweep(1601, 4.5e6, 4.6e6);
    const std::vector<tw::sim::resonator> truth{{4.55e6, 1e4, 0.8}};
    for (auto& p : s.points) p.magnitude = std::abs(tw::sim::s21(truth, p.frequency));
    s.points[300].magnitude = 1.2;
    tw::cli::plot_marks m;
    // At the bottom of the dip, on its slope between two sweep points, and off it.
    m.carriers = {4.55e6, 4.55e6 + 130, 4.52e6 + 25};
    const auto svg = tw::cli::sweep_svg(s, m);

    const auto labels = y_tick_labels(svg);
    ASSERT_GE(labels.size(), 3u) << svg.substr(0, 3000);
    EXPECT_EQ(*std::max_element(labels.begin(), labels.end()), 0.0);  // the top tick is 0 dB
    const auto pts = polyline_points(svg);
    ASSERT_EQ(pts.size(), s.points.size());
    double top = 1e9;
    for (auto [x, y] : pts) top = std::min(top, y);
    EXPECT_EQ(top, 50.0);  // the plot's top edge (0 dB): the +1.6 dB point is drawn there, not above

    const auto centres = carrier_centres(svg);
    ASSERT_EQ(centres.size(), 3u);
    for (std::size_t k = 0; k < centres.size(); ++k)  // on the drawn trace, to its printed 0.01 px
        EXPECT_NEAR(centres[k].second, polyline_y_at(pts, s, m.carriers[k]), 0.02) << "carrier " << k;
    EXPECT_GT(centres[0].second, centres[1].second + 50);  // the dip's bottom is far below its slope
    EXPECT_NEAR(centres[2].second, 50.0, 0.5);             // off resonance: 0 dB, the top edge
    EXPECT_NE(svg.find("<title>carrier 4.550000 MHz, -13.98 dB</title>"), std::string::npos);  // 20·log10(0.2)
    EXPECT_EQ(xml_check_text(svg, "zero-db.svg").status, 0);
}

TEST(SweepOutput, EmptySweepIsStillAWellFormedPlot) {
    const auto svg = tw::cli::sweep_svg({}, {.title = "nothing"});
    EXPECT_NE(svg.find("no sweep points"), std::string::npos);
    EXPECT_EQ(xml_check_text(svg, "empty.svg").status, 0);
    EXPECT_EQ(tw::cli::sweep_csv({}), "frequency_hz,magnitude,phase_rad\n");
}

TEST(SweepOutput, UnwritablePathThrowsNamingIt) {
    try {
        tw::cli::write_text_file("/nonexistent-dir/x.svg", "x", "plot");
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot write the plot to '/nonexistent-dir/x.svg'"), std::string::npos)
            << e.what();
    }
}
