// Client side: what tw::jsonrpc::client and batch make of a server's reply —
// the HTTP status and body, a call's response checked against its id, error
// objects (code checked as an int), and a batch matched by ids. Input: one
// byte for the HTTP status, then the body.
#include <tw/drivers/errors.hpp>
#include <tw/drivers/jsonrpc/client.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

namespace json = boost::json;
namespace rpc = tw::jsonrpc;

namespace {

const std::string k_address = "fuzz:1";

void use_result(const rpc::result& r) {
    if (r.ok())
        (void)r.value();
    else
        (void)r.error_message();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = tw::fuzz::text(data, size);
    const auto s = tw::fuzz::take_byte(in);
    const tw::http_reply reply{.status = s < 128 ? 200u : 100u + s, .reason = "Reason", .content_type = "application/json",
                               .body = std::string(in)};
    json::value v;
    try {
        v = rpc::parse_reply(k_address, reply);
    } catch (const tw::protocol_error&) {
        return 0;
    }
    use_result(rpc::parse_response(k_address, "Board.get_temperature", v));
    try {
        use_result(rpc::parse_call_reply(k_address, "Board.get_temperature", 1, v));
    } catch (const tw::protocol_error&) {
    }
    const std::vector<std::int64_t> ids{1, 2, 3};
    const std::vector<std::string> methods{"Board.get_frequency", "Board.get_amplitude", "Board.reset"};
    try {
        const auto rs = rpc::parse_batch_reply(k_address, ids, methods, v);
        tw::fuzz::require(rs.size() == ids.size(), "a batch reply with the wrong number of results");
        for (const auto& r : rs) use_result(r);
    } catch (const tw::protocol_error&) {
    }
    return 0;
}
