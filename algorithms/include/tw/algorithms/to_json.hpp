#pragma once
// JSON forms of the tuning results (tuning.hpp), as `tw run`, the shell and
// reports print them. Field names follow the report schema (tw tune --report).
//
// Example:
//   auto r = tw::algorithms::tune_board(b);
//   fmt::print("{}\n", boost::json::serialize(tw::algorithms::to_json(r)));

#include <boost/json/value.hpp>

#include <tw/algorithms/tuning.hpp>

namespace tw::algorithms {

// {"frequency", "depth"}
boost::json::value to_json(const resonance& r);
// {"channel", "frequency", "amplitude", "s21", "verified"}
boost::json::value to_json(const channel_result& c);
// {"channel", "amplitude", "samples", "frequency": [...], "magnitude": [...], "phase": [...]}
boost::json::value to_json(const sweep_data& s);
// {"address", "serial", "resonators_found", "channels_tuned", "channels_verified",
//  "resonances": [...], "channels": [...]} (the sweep only if with_sweep)
boost::json::value to_json(const board_result& b, bool with_sweep = false);

}  // namespace tw::algorithms
