// Simulator side: the body of POST /tuber — a call object or a batch —
// handled by a simulated board. The reply must always be JSON. Input: one
// byte (its low bit: X-Tuber-Options: continue-on-error), then the body.
#include <boost/json/parse.hpp>

#include "fuzz_common.hpp"
#include "sim_board.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = tw::fuzz::text(data, size);
    const bool continue_on_error = tw::fuzz::take_byte(in) & 1;
    auto b = tw::fuzz::make_board();
    const auto reply = b->tuber(in, continue_on_error);
    boost::system::error_code ec;
    (void)boost::json::parse(reply, ec);
    tw::fuzz::require(!ec, "a Tuber reply that is not JSON");
    return 0;
}
