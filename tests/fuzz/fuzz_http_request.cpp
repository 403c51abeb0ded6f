// Simulator side: the bytes a client sends to a simulated board's HTTP port
// (POST /tuber, POST /rpc, keep-alive, HTTP/1.0, bad paths and methods,
// oversized or malformed requests), answered as serve_tuber_connection answers
// them. Every reply must be a complete HTTP reply the drivers can read back.
#include <tw/drivers/errors.hpp>
#include <tw/drivers/http.hpp>

#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "servers.hpp"
#include "sim_board.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto b = tw::fuzz::make_board();
    const auto out = tw::sim::detail::serve_http_bytes(*b, tw::fuzz::text(data, size));
    // The first reply, if any, as a client reads it.
    if (out.empty()) return 0;
    try {
        const auto r = tw::parse_http_reply("fuzz:1", out);
        tw::fuzz::require(r.status >= 200 && r.status < 600, "a reply with a status outside 200..599");
    } catch (const tw::error&) {
        tw::fuzz::fail("the simulator's reply is not a valid HTTP reply");
    }
    return 0;
}
