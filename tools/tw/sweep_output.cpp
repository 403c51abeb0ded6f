// Sweep output: CSV and SVG (see sweep_output.hpp). The SVG is written by
// hand: no plotting library is available, and a plot of one curve with a few
// hundred markers needs only polyline, path, line and text elements.

#include "sweep_output.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>

#include <fmt/core.h>
#include <fmt/format.h>

namespace tw::cli {

namespace {

namespace alg = tw::algorithms;

// Canvas and plot area, in SVG user units (pixels).
constexpr double k_width = 960, k_height = 540;
constexpr double k_left = 80, k_right = k_width - 20, k_top = 50, k_bottom = k_height - 60;
constexpr double k_plot_width = k_right - k_left, k_plot_height = k_bottom - k_top;
// |S21| below this is drawn at its dB value (-200 dB): log10(0) has no place on a plot.
constexpr double k_min_magnitude = 1e-10;

constexpr const char* k_curve_colour = "#222222";
constexpr const char* k_resonance_colour = "#d62728";
constexpr const char* k_carrier_colour = "#1f77b4";

double to_db(double magnitude) { return 20 * std::log10(std::max(magnitude, k_min_magnitude)); }

// 1, 2 or 5 times a power of ten, giving about `target` intervals over `span`.
double nice_step(double span, double target) {
    const double raw = span / target;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double norm = raw / mag;
    return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

// Decimals that show a tick step exactly (0.2 -> 1, 5 -> 0, 0.05 -> 2).
int decimals_for(double step) { return std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9))); }

struct axis {
    double lo = 0, hi = 1;  // data range mapped onto the plot
    double step = 1;        // between ticks
};

// Ticks at the multiples of `step` inside [lo, hi], rounded to the step's decimals.
std::vector<double> ticks(const axis& a) {
    std::vector<double> out;
    const double first = std::ceil(a.lo / a.step - 1e-9) * a.step;
    for (int k = 0;; ++k) {
        const double v = first + k * a.step;
        if (v > a.hi + a.step * 1e-9 || k > 1000) break;
        out.push_back(std::abs(v) < a.step * 1e-9 ? 0.0 : v);
    }
    return out;
}

class plot_writer {
public:
    plot_writer(const alg::sweep_data& s, const plot_marks& m) : s_(s), m_(m) {}

    std::string write() {
        scale();
        header();
        frame_and_grid();
        if (s_.points.empty()) {
            fmt::format_to(out(), R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" fill="#888888">no sweep points</text>)"
                                  "\n",
                           (k_left + k_right) / 2, (k_top + k_bottom) / 2);
        } else {
            curve();
            resonances();
            carriers();
        }
        legend();
        text_ += "</svg>\n";
        return std::move(text_);
    }

private:
    std::back_insert_iterator<std::string> out() { return std::back_inserter(text_); }

    double x_of(double hz) const { return k_left + (hz / 1e6 - x_.lo) / (x_.hi - x_.lo) * k_plot_width; }
    double y_of(double db) const { return k_bottom - (db - y_.lo) / (y_.hi - y_.lo) * k_plot_height; }

    void scale() {
        if (s_.points.empty()) {
            x_ = {0, 1, 0.2};
            y_ = {-10, 0, 2};
            return;
        }
        double flo = s_.points.front().frequency / 1e6, fhi = s_.points.back().frequency / 1e6;
        if (!(fhi > flo)) {  // one point: a band of 1 kHz around it
            flo -= 5e-4;
            fhi += 5e-4;
        }
        x_ = {flo, fhi, nice_step(fhi - flo, 8)};

        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        for (const auto& p : s_.points) {
            const double db = to_db(p.magnitude);
            if (!std::isfinite(db)) continue;
            lo = std::min(lo, db);
            hi = std::max(hi, db);
        }
        // The top is 0 dB: |S21| is a transmission, at most 1 off resonance;
        // what noise or a gain above 1 puts over it is drawn at the top edge
        // rather than shown as a gain the device does not have.
        if (!(hi >= lo)) lo = -10;
        lo = std::min(lo, -1.0);
        // Room below the deepest dip for its resonance marker and the legend.
        lo -= 0.45 * -lo;
        const double step = nice_step(-lo, 6);
        y_ = {std::floor(lo / step) * step, 0, step};
    }

    // The trace's dB at `hz`: what the polyline draws there (linear between
    // the two sweep points around it, clipped to the plot like the curve).
    double trace_db(double hz) const {
        const auto& pts = s_.points;
        const auto it = std::lower_bound(pts.begin(), pts.end(), hz,
                                         [](const alg::sweep_point& p, double f) { return p.frequency < f; });
        if (it == pts.begin()) return clip_db(to_db(pts.front().magnitude));
        if (it == pts.end()) return clip_db(to_db(pts.back().magnitude));
        const auto& b = *it;
        const auto& a = *(it - 1);
        const double t = b.frequency > a.frequency ? (hz - a.frequency) / (b.frequency - a.frequency) : 0;
        return clip_db(to_db(a.magnitude) + t * (to_db(b.magnitude) - to_db(a.magnitude)));
    }
    double clip_db(double db) const { return std::clamp(db, y_.lo, y_.hi); }

    void header() {
        fmt::format_to(out(),
                       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" )"
                       R"(font-family="sans-serif" font-size="12">)"
                       "\n<title>{2}</title>\n"
                       R"(<rect width="{0}" height="{1}" fill="white"/>)"
                       "\n"
                       R"(<text class="title" x="{3:.1f}" y="28" text-anchor="middle" font-size="15">{2}</text>)"
                       "\n",
                       k_width, k_height, xml_escape(m_.title), k_width / 2);
    }

    void frame_and_grid() {
        text_ += R"(<g class="grid" stroke="#e4e4e4" stroke-width="1">)"
                 "\n";
        const auto xt = ticks(x_), yt = ticks(y_);
        for (double v : xt)
            fmt::format_to(out(), R"(<line x1="{0:.2f}" y1="{1:.2f}" x2="{0:.2f}" y2="{2:.2f}"/>)"
                                  "\n",
                           k_left + (v - x_.lo) / (x_.hi - x_.lo) * k_plot_width, k_top, k_bottom);
        for (double v : yt)
            fmt::format_to(out(), R"(<line x1="{1:.2f}" y1="{0:.2f}" x2="{2:.2f}" y2="{0:.2f}"/>)"
                                  "\n",
                           y_of(v), k_left, k_right);
        text_ += "</g>\n";

        fmt::format_to(out(), R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#444444"/>)"
                              "\n",
                       k_left, k_top, k_plot_width, k_plot_height);
        text_ += R"(<g class="x-axis" text-anchor="middle">)"
                 "\n";
        const int xd = decimals_for(x_.step);
        for (double v : xt) {
            const double x = k_left + (v - x_.lo) / (x_.hi - x_.lo) * k_plot_width;
            fmt::format_to(out(), R"(<line x1="{0:.2f}" y1="{1}" x2="{0:.2f}" y2="{2}" stroke="#444444"/>)"
                                  R"(<text x="{0:.2f}" y="{3}">{4:.{5}f}</text>)"
                                  "\n",
                           x, k_bottom, k_bottom + 5, k_bottom + 19, v, xd);
        }
        fmt::format_to(out(), R"(<text x="{:.1f}" y="{}">frequency (MHz)</text>)"
                              "\n</g>\n",
                       (k_left + k_right) / 2, k_height - 18);

        text_ += R"(<g class="y-axis" text-anchor="end">)"
                 "\n";
        const int yd = decimals_for(y_.step);
        for (double v : yt) {
            const double y = y_of(v);
            fmt::format_to(out(), R"(<line x1="{1}" y1="{0:.2f}" x2="{2}" y2="{0:.2f}" stroke="#444444"/>)"
                                  R"(<text x="{3}" y="{4:.2f}">{5:.{6}f}</text>)"
                                  "\n",
                           y, k_left - 5, k_left, k_left - 8, y + 4, v, yd);
        }
        fmt::format_to(out(), R"svg(<text x="22" y="{0:.1f}" text-anchor="middle" transform="rotate(-90 22 {0:.1f})">|S21| (dB)</text>)svg"
                              "\n</g>\n",
                       (k_top + k_bottom) / 2);
    }

    // The curve: every point, or the min and max of each pixel column (in
    // sweep order) when there are more points than columns.
    void curve() {
        const auto& pts = s_.points;
        const auto columns = static_cast<std::size_t>(k_plot_width);
        std::vector<std::size_t> keep;
        if (pts.size() <= 2 * columns) {
            keep.resize(pts.size());
            for (std::size_t i = 0; i < pts.size(); ++i) keep[i] = i;
        } else {
            std::size_t i = 0;
            while (i < pts.size()) {
                const auto col = static_cast<long>(std::floor(x_of(pts[i].frequency) - k_left));
                std::size_t lo = i, hi = i, j = i;
                for (; j < pts.size() && static_cast<long>(std::floor(x_of(pts[j].frequency) - k_left)) == col; ++j) {
                    if (pts[j].magnitude < pts[lo].magnitude) lo = j;
                    if (pts[j].magnitude > pts[hi].magnitude) hi = j;
                }
                keep.push_back(std::min(lo, hi));
                if (lo != hi) keep.push_back(std::max(lo, hi));
                i = j;
            }
        }
        fmt::format_to(out(), R"(<polyline class="s21" fill="none" stroke="{}" stroke-width="1" stroke-linejoin="round" points=")",
                       k_curve_colour);
        bool first = true;
        for (auto i : keep) {
            const double db = to_db(pts[i].magnitude);
            if (!std::isfinite(db)) continue;
            fmt::format_to(out(), "{}{:.2f},{:.2f}", first ? "" : " ", x_of(pts[i].frequency), y_of(clip_db(db)));
            first = false;
        }
        text_ += "\"/>\n";
    }

    // |S21| in dB at the resonance: the sweep point it was found at.
    double resonance_db(const alg::resonance& r) const {
        if (r.index < s_.points.size()) return to_db(s_.points[r.index].magnitude);
        const auto it = std::lower_bound(s_.points.begin(), s_.points.end(), r.frequency,
                                         [](const alg::sweep_point& p, double f) { return p.frequency < f; });
        return to_db((it == s_.points.end() ? s_.points.back() : *it).magnitude);
    }

    void resonances() {
        if (m_.resonances.empty()) return;
        fmt::format_to(out(), R"(<g class="resonances" fill="{}">)"
                              "\n",
                       k_resonance_colour);
        for (const auto& r : m_.resonances) {
            // Under the dip, clear of a carrier's diamond on the trace (±5).
            const double x = x_of(r.frequency), y = y_of(clip_db(resonance_db(r)));
            const std::string q = r.q > 0 ? fmt::format(", Q {:.0f}", r.q) : "";
            fmt::format_to(out(),
                           R"(<path class="resonance" d="M{0:.2f},{1:.2f} L{2:.2f},{3:.2f} L{4:.2f},{3:.2f} Z">)"
                           R"(<title>resonance {5:.6f} MHz, depth {6:.3f}{7}</title></path>)"
                           "\n",
                           x, y + 7, x - 4, y + 15, x + 4, r.frequency / 1e6, r.depth, q);
        }
        text_ += "</g>\n";
    }

    void carriers() {
        if (m_.carriers.empty()) return;
        fmt::format_to(out(), R"(<g class="carriers" fill="{}">)"
                              "\n",
                       k_carrier_colour);
        // On the trace, where the carrier's tone sees the device: a carrier
        // at the bottom of its dip shows at once, one beside it shows on the slope.
        for (double f : m_.carriers) {
            const double x = x_of(f), db = trace_db(f), y = y_of(db);
            fmt::format_to(out(),
                           R"(<path class="carrier" d="M{0:.2f},{1:.2f} L{2:.2f},{3:.2f} L{0:.2f},{4:.2f} L{5:.2f},{3:.2f} Z">)"
                           R"(<title>carrier {6:.6f} MHz, {7:.2f} dB</title></path>)"
                           "\n",
                           x, y - 5, x + 4, y, y + 5, x - 4, f / 1e6, db);
        }
        text_ += "</g>\n";
    }

    void legend() {
        struct entry {
            std::string kind;
            std::string label;
        };
        std::vector<entry> entries{{"curve", "|S21|"}};
        if (!m_.resonances.empty())
            entries.push_back({"resonance", fmt::format("resonance ({})", m_.resonances.size())});
        if (!m_.carriers.empty()) entries.push_back({"carrier", fmt::format("tuned carrier ({})", m_.carriers.size())});
        const double w = 150, h = 10 + 18 * static_cast<double>(entries.size());
        // Bottom right: the room kept below the deepest dip (scale()).
        const double x0 = k_right - w - 10, y0 = k_bottom - h - 10;
        fmt::format_to(out(), R"(<g class="legend">)"
                              "\n"
                              R"(<rect x="{:.1f}" y="{:.1f}" width="{}" height="{}" fill="white" fill-opacity="0.9" stroke="#999999"/>)"
                              "\n",
                       x0, y0, w, h);
        for (std::size_t k = 0; k < entries.size(); ++k) {
            const double cy = y0 + 14 + 18 * static_cast<double>(k), cx = x0 + 18;
            const auto& e = entries[k];
            if (e.kind == "curve")
                fmt::format_to(out(), R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="1.5"/>)",
                               cx - 10, cy, cx + 10, cy, k_curve_colour);
            else if (e.kind == "resonance")
                fmt::format_to(out(), R"(<path d="M{0:.1f},{1:.1f} L{2:.1f},{3:.1f} L{4:.1f},{3:.1f} Z" fill="{5}"/>)", cx,
                               cy - 4, cx - 4, cy + 4, cx + 4, k_resonance_colour);
            else
                fmt::format_to(out(), R"(<path d="M{0:.1f},{1:.1f} L{2:.1f},{3:.1f} L{0:.1f},{4:.1f} L{5:.1f},{3:.1f} Z" fill="{6}"/>)",
                               cx, cy - 5, cx + 4, cy, cy + 5, cx - 4, k_carrier_colour);
            fmt::format_to(out(), R"(<text x="{:.1f}" y="{:.1f}">{}</text>)"
                                  "\n",
                           cx + 18, cy + 4, xml_escape(e.label));
        }
        text_ += "</g>\n";
    }

    const alg::sweep_data& s_;
    const plot_marks& m_;
    axis x_, y_;
    std::string text_;
};

}  // namespace

std::string xml_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default:
                // XML 1.0 has no way to write other control characters, even escaped.
                if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r')
                    out += '?';
                else
                    out += c;
        }
    }
    return out;
}

std::string sweep_csv(const alg::sweep_data& s) {
    std::string out = "frequency_hz,magnitude,phase_rad\n";
    out.reserve(out.size() + s.points.size() * 64);
    // fmt's "{}" is the shortest text that reads back to the same double.
    for (const auto& p : s.points) fmt::format_to(std::back_inserter(out), "{},{},{}\n", p.frequency, p.magnitude, p.phase);
    return out;
}

std::string sweep_svg(const alg::sweep_data& s, const plot_marks& marks) { return plot_writer(s, marks).write(); }

void write_text_file(const std::string& path, const std::string& text, const std::string& what) {
    if (path == "-") {
        if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
            throw std::runtime_error(fmt::format("cannot write the {} to stdout: {}", what, std::strerror(errno)));
        return;
    }
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error(fmt::format("cannot write the {} to '{}': {}", what, path, std::strerror(errno)));
    f << text;
    f.close();
    if (!f) throw std::runtime_error(fmt::format("cannot write the {} to '{}'", what, path));
}

}  // namespace tw::cli
