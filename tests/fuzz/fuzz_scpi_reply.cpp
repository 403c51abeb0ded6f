// Client side: one reply line of an SCPI instrument, read as tw::scpi::client
// reads it — an error-queue entry, a number, an integer, a list of numbers.
#include <tw/drivers/errors.hpp>
#include <tw/drivers/scpi/client.hpp>

#include <cmath>
#include <string>

#include "fuzz_common.hpp"

namespace scpi = tw::scpi;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto line = tw::fuzz::text(data, size);
    const std::string address = "fuzz:5025";
    if (auto e = scpi::parse_error_entry(line)) tw::fuzz::require(e->message.size() <= line.size(), "error message longer than the line");
    (void)scpi::parse_number(line);
    try {
        const auto v = scpi::parse_int_reply(address, "QUERY?", line);
        (void)v;
    } catch (const tw::protocol_error&) {
    }
    try {
        const auto vs = scpi::parse_doubles_reply(address, "RAMP? 1", line);
        tw::fuzz::require(2 * vs.size() <= line.size() + 1, "more numbers than the line can hold");
    } catch (const tw::protocol_error&) {
    }
    return 0;
}
