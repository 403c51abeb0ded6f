// Simulator side: lines a client sends to a simulated SCPI temperature
// controller, split and bounded as serve_scpi_connection does (lines end in
// "\n", an optional "\r" before it is dropped, a line over k_max_scpi_line
// closes the connection), each executed 100 ms after the one before. A reply
// must be one line of ASCII text.
#include <algorithm>
#include <chrono>

#include "fuzz_common.hpp"
#include "servers.hpp"

using namespace std::chrono_literals;
namespace detail = tw::sim::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = tw::fuzz::text(data, size);
    auto now = detail::sim_clock::time_point{} + 1h;
    detail::temperature_controller tc(0, 1, 1s, now);
    for (;;) {
        const auto nl = in.find('\n');
        if (nl == std::string_view::npos || nl + 1 > detail::k_max_scpi_line) return 0;  // never ends, or too long
        auto line = in.substr(0, nl);
        in.remove_prefix(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        now += 100ms;
        if (auto reply = tc.execute(line, now)) {
            tw::fuzz::require(std::all_of(reply->begin(), reply->end(),
                                          [](char c) { return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f; }),
                              "an SCPI reply that is not one line of printable ASCII");
        }
    }
}
