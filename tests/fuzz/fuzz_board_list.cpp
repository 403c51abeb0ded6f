// Board lists as the tw program reads them (--boards): the text of a
// board-list file (ADDRESS, RANGE or NAME ADDRESS a line, # comments) or an
// inline comma-separated list. Input: one byte (its low bit: file or inline),
// then the text.
#include <stdexcept>
#include <string>
#include <vector>

#include <tw/drivers/address.hpp>

#include "board_list.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = tw::fuzz::text(data, size);
    const bool file = tw::fuzz::take_byte(in) & 1;
    std::vector<tw::cli::board_entry> boards;
    try {
        boards = file ? tw::cli::parse_board_file(in, "boards.txt") : tw::cli::parse_board_spec(in);
    } catch (const std::invalid_argument&) {
        return 0;
    }
    tw::fuzz::require(!boards.empty(), "an empty board list accepted");
    tw::fuzz::require(boards.size() <= tw::cli::k_max_boards, "a board list over k_max_boards accepted");
    for (const auto& b : boards) {
        try {
            (void)tw::parse_address(b.address);
        } catch (const std::invalid_argument&) {
            tw::fuzz::fail("a board list entry that is not a valid address");
        }
    }
    return 0;
}
