// A saved `tw tune --report` file as `tw apply` and `tw tune --only-failed`
// read it: every field they use checked.
#include <stdexcept>

#include "fuzz_common.hpp"
#include "tune_report.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto r = tw::cli::parse_tune_report(tw::fuzz::text(data, size), "report.json");
        for (const auto& b : r.boards) {
            tw::fuzz::require(!b.address.empty(), "a board without an address accepted");
            for (const auto& c : b.channels)
                tw::fuzz::require(c.channel >= 0 && c.frequency > 0 && c.amplitude >= 0 && c.amplitude <= 1,
                                  "a channel out of range accepted");
        }
    } catch (const std::invalid_argument&) {
    }
    return 0;
}
