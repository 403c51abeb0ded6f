#pragma once
// tw subcommands: each one lives in its own file (tools/tw/<name>.cpp) and
// exposes a single registration function declared here, which main.cpp calls.
//
// A registration function adds a subcommand to the app, declares its options,
// and sets the subcommand's callback, which does the work. The callback reports
// failure by throwing: any std::exception (tw::error, ...) makes tw print its
// what() as one line on stderr and exit 1; throw CLI::ValidationError (or
// another CLI::ParseError) for a usage error (exit 2). Results go to stdout,
// diagnostics through spdlog (configured by --log-level/--log-file before any
// callback runs). Numbers, output files and addresses are declared with the
// checking helpers of verb_util.hpp (count_option, real_option, output_option,
// address_check), so a bad value is a usage error before any work starts.
//
// Example (tools/tw/bench.cpp, plus a line in main.cpp and tools/CMakeLists.txt):
//   void add_bench_command(CLI::App& app) {
//       auto opts = std::make_shared<bench_options>();
//       auto* cmd = app.add_subcommand("bench", "Measure fiber and I/O overheads");
//       count_option(*cmd, "--fibers", opts->fibers, "Fibers to run", 1, 1'000'000)->capture_default_str();
//       cmd->callback([opts] { run_bench(*opts); });
//   }

#include <string>

#include <CLI/CLI.hpp>

namespace tw::cli {

// Declare one registration function per subcommand.
void add_apply_command(CLI::App& app);   // apply.cpp: tw apply (restore a tune report)
void add_bench_command(CLI::App& app);   // bench.cpp: tw bench micro (and fanout, below)
void add_bench_fanout_command(CLI::App& bench);  // bench.cpp (tools/bench/fanout.cpp): tw bench fanout
void add_call_command(CLI::App& app);    // call.cpp: tw call (Tuber)
void add_completion_command(CLI::App& app);  // completion.cpp: tw completion bash|zsh (needs every other verb added first)
void add_cooldown_command(CLI::App& app);  // cooldown.cpp: tw cooldown (compressor + temperature controller)
void add_health_command(CLI::App& app);  // health.cpp: tw health
void add_modbus_command(CLI::App& app);  // modbus.cpp: tw modbus
void add_rpc_command(CLI::App& app);     // rpc.cpp: tw rpc (JSON-RPC 2.0)
void add_run_command(CLI::App& app);     // run.cpp: tw run NAME (registered algorithms, plugins)
void add_scpi_command(CLI::App& app);    // scpi.cpp: tw scpi
void add_shell_command(CLI::App& app);   // shell.cpp: tw shell (interactive; shell_session.cpp)
void add_sim_command(CLI::App& app);     // sim.cpp: tw sim
void add_sweep_command(CLI::App& app);   // sweep.cpp: tw sweep (one board, CSV/SVG)
void add_tune_command(CLI::App& app);    // tune.cpp: tw tune

// Every verb above, in one call: main.cpp's app, and the shell, which runs the
// verbs it has no command of its own for as `tw VERB ...`.
void add_all_commands(CLI::App& app);

// The command line as typed (main.cpp records it), for reports.
const std::string& command_line();

}  // namespace tw::cli
