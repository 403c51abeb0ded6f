// Client side: the bytes of an HTTP reply, as tw::http_connection::post()
// reads them (Boost.Beast's parser with our limits, then http_reply).
#include <tw/drivers/errors.hpp>
#include <tw/drivers/http.hpp>

#include "fuzz_common.hpp"

namespace {
// Small limits, so that the fuzzer reaches them.
constexpr std::size_t k_max_header = 2048;
constexpr std::size_t k_max_body = 1024;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto r = tw::parse_http_reply("fuzz:1", tw::fuzz::text(data, size), k_max_header, k_max_body);
        tw::fuzz::require(r.body.size() <= k_max_body, "reply body over max_body accepted");
        tw::fuzz::require(r.status <= 999, "status beyond three digits");
    } catch (const tw::protocol_error&) {
    } catch (const tw::connection_error&) {
    }
    return 0;
}
