#pragma once
// The words of a Tuber call, one definition for `tw call HOST:PORT WORDS...`
// and the shell's `call WORDS...` (on the board in use): the same options,
// the same meaning, the same output.
//
//   [OBJECT.]NAME [ARG...] [NAME=VALUE...]  call a method (OBJECT: Board unless
//                                           given); with no arguments, a NAME the
//                                           board lists as a property is read
//   --property [OBJECT.]NAME                read a property
//   --resolve [OBJECT]                      describe OBJECT (or list the objects)
//   --json                                  exact JSON, not 10 significant digits
//
// Arguments are JSON values (text that is not JSON is a string). Warnings the
// board attaches go to stderr.
//
// Errors: check_call_words() throws CLI::ValidationError for a usage mistake,
// before anything is sent; perform_call() throws tw::error subclasses for the
// board's failures.
//
// Example:
//   call_words w;
//   add_call_words(*cmd, w);                       // declares target, args, --property, ...
//   check_call_words(w);
//   fmt::print("{}\n", call_result_text(perform_call(client, w), w.json));

#include <string>
#include <vector>

#include <boost/json/value.hpp>
#include <CLI/CLI.hpp>

#include <tw/drivers/tuber/client.hpp>

namespace tw::cli {

struct call_words {
    std::string target;  // [OBJECT.]NAME; with --resolve an OBJECT or nothing
    std::vector<std::string> args;
    bool property = false, resolve = false, json = false;
};

// Declares the positional target and arguments and the flags on `cmd`.
void add_call_words(CLI::App& cmd, call_words& w);

// Usage errors (CLI::ValidationError): flags that exclude each other, a
// missing target, arguments where none are taken, a positional argument after
// a keyword one, a malformed OBJECT.NAME.
void check_call_words(const call_words& w);

// Runs the call on the current fiber (a blocking call: it suspends the fiber).
boost::json::value perform_call(tuber::client& c, const call_words& w);

// The result as printed: 10 significant digits, or exact JSON with --json.
std::string call_result_text(const boost::json::value& v, bool json);

}  // namespace tw::cli
