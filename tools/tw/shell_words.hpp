#pragma once
// tw shell's lexer: a line as typed -> commands (split at ';') -> words
// (split at blanks). Quoting as in a POSIX shell, simplified: '...' is
// literal, "..." allows \" and \\, a backslash outside quotes escapes the next
// character; `#` at the start of a word comments out the rest of the line.
//
// Errors: std::invalid_argument for an unterminated quote or a trailing
// backslash.
//
// Example:
//   split_commands("use 1; call set_name 'a b'")   // {{"use", "1"}, {"call", "set_name", "a b"}}

#include <string>
#include <string_view>
#include <vector>

namespace tw::cli {

std::vector<std::vector<std::string>> split_commands(std::string_view line);

}  // namespace tw::cli
