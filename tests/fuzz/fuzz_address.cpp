// Addresses as people and peers write them: tw::parse_address (HOST:PORT,
// [IPv6]:PORT) and the JSON-RPC client's URL parser.
#include <tw/drivers/address.hpp>
#include <tw/drivers/jsonrpc/client.hpp>

#include <optional>
#include <stdexcept>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = tw::fuzz::text(data, size);
    try {
        const auto a = tw::parse_address(text);
        tw::fuzz::require(a.port != 0, "port 0 accepted");
        tw::fuzz::require(!a.host.empty(), "empty host accepted");
    } catch (const std::invalid_argument&) {
    }
    std::optional<tw::jsonrpc::url_parts> u;
    try {
        u = tw::jsonrpc::parse_url(text);
    } catch (const std::invalid_argument&) {
        return 0;
    }
    tw::fuzz::require(!u->target.empty() && u->target.front() == '/', "URL target not starting with '/'");
    try {
        (void)tw::parse_address(u->address);
    } catch (const std::invalid_argument&) {
        tw::fuzz::fail("parse_url returned an address that parse_address refuses");
    }
    return 0;
}
