#pragma once
// JSON for people: what `tw call`, `tw rpc`, `tw run` and the shell print
// unless asked for --json. The same syntax (a script can still parse it), but
// numbers the way a person writes them: 46.87453603, not Boost.JSON's exact
// 4.6874536029135214E1; 4500000, not 4.5E6.
//
//   human_json(boost::json::parse("[4.6874536029135214E1, 4.5E6, \"x\"]"))  // [46.87453603,4500000,"x"]
//
// Numbers keep 10 significant digits (a frequency in Hz to the mHz up to
// 10 MHz, to the Hz up to 10 GHz); --json prints the exact value.
#include <string>

#include <boost/json/value.hpp>

namespace tw::cli {

// A double in at most 10 significant digits, without trailing zeros, and in
// plain notation from 1e-5 to 1e15 ("46.87453603", "4500000", "1e-09").
std::string human_number(double v);

std::string human_json(const boost::json::value& v);

}  // namespace tw::cli
