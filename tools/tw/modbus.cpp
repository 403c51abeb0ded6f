// tw modbus: read or write registers of a Modbus TCP device; values printed
// space-separated on one line.
//
//   tw modbus HOST:PORT read-input   ADDR COUNT [--float]
//   tw modbus HOST:PORT read-holding ADDR COUNT [--float]
//   tw modbus HOST:PORT write        ADDR VALUE [--float]
//
// With --float, COUNT counts floats (two registers each, high word first) and
// VALUE is written as a float to ADDR and ADDR+1.

#include "commands.hpp"
#include "verb_util.hpp"

#include <charconv>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <fmt/format.h>

#include <tw/drivers/modbus/client.hpp>
#include <tw/run.hpp>

namespace tw::cli {

namespace {

struct modbus_options {
    std::string address, action;
    std::vector<std::string> args;
    bool as_float = false;
    unsigned unit = 1;
    std::string timeout = "5s";
};

unsigned long number_argument(const std::string& what, const std::string& text, unsigned long max) {
    unsigned long v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty() || v > max)
        throw CLI::ValidationError(what, "expected an integer 0.." + std::to_string(max) + ", got '" + text + "'");
    return v;
}

void run_modbus(const modbus_options& o) {
    const auto timeout = timeout_option(o.timeout);
    if (o.action != "read-input" && o.action != "read-holding" && o.action != "write")
        throw CLI::ValidationError("ACTION", "expected read-input, read-holding or write, got '" + o.action + "'");
    if (o.args.size() != 2)
        throw CLI::ValidationError("ACTION", o.action == "write" ? "write takes ADDR VALUE" : o.action + " takes ADDR COUNT");
    const auto addr = static_cast<std::uint16_t>(number_argument("ADDR", o.args[0], 65535));

    if (o.action == "write") {
        float fvalue = 0;
        std::uint16_t ivalue = 0;
        if (o.as_float) {
            try {
                std::size_t used = 0;
                fvalue = std::stof(o.args[1], &used);
                if (used != o.args[1].size()) throw std::invalid_argument("trailing");
            } catch (const std::exception&) {
                throw CLI::ValidationError("VALUE", "expected a number, got '" + o.args[1] + "'");
            }
        } else {
            ivalue = static_cast<std::uint16_t>(number_argument("VALUE", o.args[1], 65535));
        }
        tw::run([&] {
            tw::modbus::client c(o.address, {.timeout = timeout, .unit = static_cast<std::uint8_t>(o.unit), .log = verb_log()});
            if (o.as_float)
                c.write_floats(addr, std::vector<float>{fvalue});
            else
                c.write_register(addr, ivalue);
        });
        return;
    }

    const auto count = static_cast<std::uint16_t>(number_argument("COUNT", o.args[1], o.as_float ? 62 : 125));
    if (count == 0) throw CLI::ValidationError("COUNT", "must be at least 1");
    const bool input = o.action == "read-input";
    auto line = tw::run([&]() -> std::string {
        tw::modbus::client c(o.address, {.timeout = timeout, .unit = static_cast<std::uint8_t>(o.unit), .log = verb_log()});
        if (o.as_float) {
            auto v = input ? c.read_input_floats(addr, count) : c.read_holding_floats(addr, count);
            return fmt::format("{}", fmt::join(v, " "));
        }
        auto v = input ? c.read_input_registers(addr, count) : c.read_holding_registers(addr, count);
        return fmt::format("{}", fmt::join(v, " "));
    });
    std::cout << line << '\n';
}

}  // namespace

void add_modbus_command(CLI::App& app) {
    auto o = std::make_shared<modbus_options>();
    auto* cmd = app.add_subcommand("modbus", "Read or write registers of a Modbus TCP device");
    cmd->add_option("address", o->address, "Device address HOST:PORT")->required()->check(address_check());
    cmd->add_option("action", o->action, "read-input, read-holding or write")->required();
    cmd->add_option("args", o->args, "ADDR COUNT (reads) or ADDR VALUE (write)");
    cmd->add_flag("--float", o->as_float, "Values are float32 register pairs (high word first)");
    count_option(*cmd, "--unit", o->unit, "Unit identifier", 0, 255)->capture_default_str();
    cmd->add_option("--timeout", o->timeout, "Deadline of the request, e.g. 500ms, 2s")->capture_default_str();
    cmd->callback([o] { run_modbus(*o); });
}

}  // namespace tw::cli
