// Simulator side: the body of POST /rpc — a JSON-RPC 2.0 request,
// notification or batch — handled by a simulated board. The reply must be
// empty (notifications only) or JSON.
#include <boost/json/parse.hpp>

#include "fuzz_common.hpp"
#include "sim_board.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto b = tw::fuzz::make_board();
    const auto reply = b->jsonrpc(tw::fuzz::text(data, size));
    if (reply.empty()) return 0;
    boost::system::error_code ec;
    (void)boost::json::parse(reply, ec);
    tw::fuzz::require(!ec, "a JSON-RPC reply that is not JSON");
    return 0;
}
