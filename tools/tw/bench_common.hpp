#pragma once
// Small helpers shared by the `tw bench` subcommands (bench.cpp, bench_fanout.cpp).

#include <string>

namespace tw::cli {

// "CPU model, N cores, kernel": the "machine" of every benchmark report.
std::string machine_string();

}  // namespace tw::cli
