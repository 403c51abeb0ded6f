// Simulator side: a stream of Modbus TCP request frames sent to a simulated
// compressor, framed as serve_modbus_connection frames them (a malformed
// header closes the connection) and answered 100 ms apart. Each reply must be
// a well-formed frame for the same transaction. Input: one byte choosing the
// compressor's alarm (none, overheat, pressure), then the frames.
#include <chrono>

#include "fuzz_common.hpp"
#include "servers.hpp"

using namespace std::chrono_literals;
namespace detail = tw::sim::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = tw::fuzz::text(data, size);
    const auto alarm = static_cast<tw::sim::alarm_kind>(tw::fuzz::take_byte(in) % 3);
    auto now = detail::sim_clock::time_point{} + 1h;
    detail::compressor c(0, 1, alarm, 1s, 1s, now);
    while (in.size() >= 7) {
        const auto length = detail::request_length(in.substr(0, 7));
        if (!length) return 0;                   // closed
        if (in.size() < 6u + *length) return 0;  // the rest never came
        const auto frame = in.substr(0, 6u + *length);
        in.remove_prefix(frame.size());
        now += 100ms;
        const auto reply = detail::reply_frame(c, frame, now);
        tw::fuzz::require(reply.size() >= 9 && reply.size() <= 7 + 253, "a reply frame of impossible size");
        tw::fuzz::require(reply.compare(0, 4, frame.substr(0, 4)) == 0, "a reply for another transaction");
        const auto len = static_cast<std::size_t>((static_cast<unsigned char>(reply[4]) << 8) | static_cast<unsigned char>(reply[5]));
        tw::fuzz::require(len + 6 == reply.size(), "a reply whose length field is wrong");
    }
    return 0;
}
