#pragma once
// Sweep output shared by `tw sweep` and `tw tune --plot`: a network-analysis
// sweep (tw::algorithms::sweep_data) as CSV, and as a self-contained SVG plot
// of |S21| in dB against frequency in MHz, with the found resonances and the
// tuned carriers marked.
//
//   sweep_csv   "frequency_hz,magnitude,phase_rad", then one row per point;
//               numbers in the shortest form that reads back to the same double.
//   sweep_svg   axes with tick labels, grid, title, legend; the dB axis
//               ends at 0 dB at the top (a point above it is drawn on the top
//               edge); resonances as red triangles under the dip
//               (class="resonance"), carriers as blue diamonds on the trace at
//               their frequency (class="carrier"), each with a <title>
//               tooltip giving its frequency (and Q, or the trace's dB). Sweeps
//               with more points than the plot has pixel columns are drawn as
//               the min and max of each column, so a one-point dip stays visible.
//
// Pure functions of their arguments; safe from any thread.
// Errors: write_text_file throws std::runtime_error naming the file.
//
// Example:
//   auto s = tw::algorithms::network_analysis(board, 4e6, 6e6, 8001, 0.5);
//   auto found = tw::algorithms::find_resonances(s);
//   tw::cli::plot_marks marks{.title = "board 0", .resonances = found};
//   tw::cli::write_text_file("sweep.svg", tw::cli::sweep_svg(s, marks), "plot");

#include <string>
#include <string_view>
#include <vector>

#include <tw/algorithms/tuning.hpp>

namespace tw::cli {

struct plot_marks {
    std::string title;
    std::vector<algorithms::resonance> resonances;  // found dips
    std::vector<double> carriers;                   // tuned carrier frequencies, Hz
};

std::string sweep_csv(const algorithms::sweep_data& s);
std::string sweep_svg(const algorithms::sweep_data& s, const plot_marks& marks);

// Text with &, <, >, " and ' replaced by entities (for XML text and attributes).
std::string xml_escape(std::string_view text);

// Writes (replaces) `path`, or stdout for '-'; `what` ("plot", "CSV") names
// the file in the error.
void write_text_file(const std::string& path, const std::string& text, const std::string& what);

}  // namespace tw::cli
