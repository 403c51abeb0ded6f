// Client side: what tw::tuber::client and batch make of a board's reply — the
// HTTP status and JSON body, a call's result or error, a batch of results, a
// resolve description (signatures in both forms), and the typed board's
// checked numbers. Input: one byte for the HTTP status, then the body.
#include <tw/drivers/checked.hpp>
#include <tw/drivers/errors.hpp>
#include <tw/drivers/tuber/board.hpp>
#include <tw/drivers/tuber/client.hpp>

#include <string>
#include <vector>

#include "fuzz_common.hpp"

namespace json = boost::json;
namespace tuber = tw::tuber;

namespace {

const std::string k_address = "fuzz:1";

void use_value(const json::value& v) {
    try {
        (void)tuber::board::to_complex(v, k_address, "Board.get_samples");
    } catch (const tw::protocol_error&) {
    }
    try {
        (void)tw::checked<int>(k_address, "Board.NCHANNELS", v, 1, tuber::k_max_channels);
    } catch (const tw::protocol_error&) {
    }
    try {
        (void)tw::checked<double>(k_address, "Board.FMAX", v, 0.0, tuber::k_max_frequency);
    } catch (const tw::protocol_error&) {
    }
    auto params = tuber::parse_signature(v);
    (void)tuber::format_signature(params);
}

void use_result(const tuber::result& r) {
    if (r.ok())
        use_value(r.value());
    else
        (void)r.error_message();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = tw::fuzz::text(data, size);
    const auto s = tw::fuzz::take_byte(in);
    tw::http_reply reply{.status = s < 128 ? 200u : 100u + s, .reason = "Reason", .content_type = "application/json",
                         .body = std::string(in)};
    json::value v;
    try {
        v = tuber::parse_reply(k_address, reply);
    } catch (const tw::protocol_error&) {
        return 0;
    }
    tw::fuzz::require(reply.status == 200, "a reply with a status other than 200 was accepted");

    // One call's reply.
    const auto one = tuber::parse_result(k_address, "Board.get_samples", v);
    use_result(one);
    // A batch: as many names as the reply has entries, and one too many.
    const std::size_t n = v.is_array() ? v.get_array().size() : 1;
    for (std::size_t calls : {n, n + 1}) {
        try {
            const auto rs = tuber::parse_batch_reply(k_address, std::vector<std::string>(calls, "Board.get_frequency"), v);
            tw::fuzz::require(rs.size() == calls, "a batch reply with the wrong number of results");
            for (const auto& r : rs) use_result(r);
        } catch (const tw::protocol_error&) {
        }
    }
    // A resolve reply.
    try {
        const auto info = tuber::parse_description(k_address, "Board", one.ok() ? one.value() : v);
        for (const auto& [name, m] : info.methods) (void)m.signature.size();
    } catch (const tw::protocol_error&) {
    }
    return 0;
}
