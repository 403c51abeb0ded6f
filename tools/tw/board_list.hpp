#pragma once
// Board lists as docs/WIRE_FORMATS.md writes them (Addresses, ports, start-up
// lines): a comma-separated list of
// addresses (HOST:PORT, [::1]:PORT) and ranges (HOST:PORT+N: N ports from
// PORT), or the path of a file with one entry per line — ADDRESS, RANGE or
// NAME ADDRESS; `#` starts a comment. An argument naming an existing file is
// read as a file.
//
// Errors: std::invalid_argument quoting the bad entry and saying what is
// wrong ("missing port", "bad port", more than k_max_boards boards, ...;
// callers map it to a usage error, exit 2).
//
// Example:
//   auto boards = tw::cli::parse_board_list("127.0.0.1:9000+4,10.0.0.7:9000");
//   // 5 entries; boards[1].address == "127.0.0.1:9001", names empty

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tw::cli {

struct board_entry {
    std::string name;  // "" unless the file names it
    std::string address;
};

// Boards one list may name: ranges expand (4 KiB of "HOST:1+65535," would
// otherwise ask for 26 million entries, gigabytes before any check).
inline constexpr std::size_t k_max_boards = 65536;

// The text of a board-list file (one ADDRESS, RANGE or NAME ADDRESS a line)
// -> its boards; `path` is for messages. Pure (tests and fuzzing).
std::vector<board_entry> parse_board_file(std::string_view text, const std::string& path);

// A comma-separated list of addresses and ranges -> its boards. Pure.
std::vector<board_entry> parse_board_spec(std::string_view spec);

// --boards SPEC as typed: the path of an existing file is read as a board-list
// file, anything else is a spec.
std::vector<board_entry> parse_board_list(const std::string& spec);

}  // namespace tw::cli
