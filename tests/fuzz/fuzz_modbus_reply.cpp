// Client side: a stream of Modbus TCP reply frames, read as
// tw::modbus::client reads them — the MBAP header, the PDU for the function
// asked (or an exception reply), then the bits or registers of a read and the
// floats they hold. Input: one byte choosing the function asked and one the
// count asked, then the frames.
#include <tw/drivers/errors.hpp>
#include <tw/drivers/modbus/client.hpp>

#include <array>
#include <string>

#include "fuzz_common.hpp"

namespace modbus = tw::modbus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = tw::fuzz::text(data, size);
    static constexpr std::array<std::uint8_t, 8> k_functions = {1, 2, 3, 4, 5, 6, 15, 16};
    const auto fn = k_functions[tw::fuzz::take_byte(in) % k_functions.size()];
    const std::uint16_t count = tw::fuzz::take_byte(in);
    const std::string address = "fuzz:502";
    while (in.size() >= 7) {
        modbus::frame_header h;
        try {
            h = modbus::parse_frame_header(address, in.substr(0, 7));
        } catch (const tw::protocol_error&) {
            return 0;  // the client closes the connection
        }
        tw::fuzz::require(h.length >= 2 && h.length <= 254, "frame length out of 2..254 accepted");
        if (in.size() < 6u + h.length) return 0;  // the rest never came
        const auto pdu = in.substr(7, h.length - 1u);
        in.remove_prefix(6u + h.length);
        try {
            const auto reply = modbus::parse_reply_pdu(address, fn, pdu);
            if (fn == 1 || fn == 2) {
                const auto bits = modbus::parse_bits(address, fn, count, reply);
                tw::fuzz::require(bits.size() == count, "wrong number of bits");
            } else if (fn == 3 || fn == 4) {
                const auto regs = modbus::parse_registers(address, fn, count, reply);
                tw::fuzz::require(regs.size() == count, "wrong number of registers");
                if (regs.size() % 2 == 0) (void)modbus::to_floats(regs);
            }
        } catch (const tw::protocol_error&) {
        }
    }
    return 0;
}
