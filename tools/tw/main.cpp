// tw: the tworoutine command-line program. Parses global options, configures
// logging and dispatches to a subcommand (see commands.hpp).
//
// Exit codes (README.md, The `tw` program): 0 success, 1 the operation failed, 2 usage error.
// Errors go to stderr as one line; results go to stdout.

#include "commands.hpp"
#include "suggest.hpp"
#include "verb_util.hpp"

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <iostream>
#include <string>

namespace {

constexpr int k_exit_ok = 0;
constexpr int k_exit_failed = 1;
constexpr int k_exit_usage = 2;

// Replaces spdlog's default logger: stderr (results own stdout) or a file.
void configure_logging(const std::string& level, const std::string& file) {
    auto logger = file.empty() ? spdlog::stderr_color_mt("tw") : spdlog::basic_logger_mt("tw", file);
    logger->set_level(spdlog::level::from_str(level));
    spdlog::set_default_logger(std::move(logger));
}

std::string g_command_line;

// argv joined by spaces, arguments with spaces or quotes single-quoted.
std::string join_command_line(int argc, char** argv) {
    std::string out;
    for (int i = 0; i < argc; ++i) {
        std::string a = i == 0 ? std::string("tw") : std::string(argv[i]);
        if (i) out += ' ';
        if (a.empty() || a.find_first_of(" \t'\"\\$") != std::string::npos) {
            std::string q = "'";
            for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
            out += q + "'";
        } else {
            out += a;
        }
    }
    return out;
}

}  // namespace

const std::string& tw::cli::command_line() { return g_command_line; }

void tw::cli::add_all_commands(CLI::App& app) {
    add_apply_command(app);
    add_bench_command(app);
    add_call_command(app);
    add_cooldown_command(app);
    add_health_command(app);
    add_modbus_command(app);
    add_rpc_command(app);
    add_run_command(app);
    add_scpi_command(app);
    add_shell_command(app);
    add_sim_command(app);
    add_sweep_command(app);
    add_tune_command(app);
    add_completion_command(app);  // last: it lists the others
}

int main(int argc, char** argv) {
    g_command_line = join_command_line(argc, argv);
    CLI::App app{"tw — tworoutine: control readout boards and instruments with plain blocking code on fibers", "tw"};
    app.set_version_flag("--version", "tw " TW_VERSION);
    app.require_subcommand(0, 1);
    // Global flags also after the verb: `tw tune --sim 4 --log-level debug`.
    app.fallthrough();

    std::string log_level = "warn";
    std::string log_file;
    app.add_option("--log-level", log_level, "Log level")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
        ->capture_default_str();
    tw::cli::output_option(app, "--log-file", log_file, "Write the log to FILE instead of stderr", false);

    // The main app's parse-complete callback runs after all options are parsed
    // and before any subcommand callback, so subcommands always log through the
    // configured logger.
    app.parse_complete_callback([&] { configure_logging(log_level, log_file); });

    // Subcommands, one file each (commands.hpp).
    tw::cli::add_all_commands(app);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success))
            return app.exit(e);  // --help / --version: printed to stdout, exit 0
        // Point at the help of the verb that was given, and guess a mistyped verb.
        std::string hint = "tw --help";
        for (const auto* sub : app.get_subcommands()) hint = "tw " + sub->get_name() + " --help";
        std::string guess;
        if (app.get_subcommands().empty() && argc > 1 && argv[1][0] != '-') {
            std::vector<std::string> verbs;
            for (const auto* sub : app.get_subcommands({})) verbs.push_back(sub->get_name());
            if (const auto near = tw::cli::did_you_mean(argv[1], verbs))
                guess = fmt::format(": '{}' is not a command; did you mean '{}'?", argv[1], *near);
        }
        if (!guess.empty())
            fmt::print(stderr, "tw{} (see {})\n", guess, hint);
        else
            fmt::print(stderr, "tw: {} (see {})\n", e.what(), hint);
        return k_exit_usage;
    } catch (const std::exception& e) {
        fmt::print(stderr, "tw: {}\n", e.what());
        return k_exit_failed;
    }

    if (app.get_subcommands().empty()) {
        std::cout << app.help();
        return k_exit_ok;
    }
    return k_exit_ok;
}
