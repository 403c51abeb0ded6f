// tw modbus: read or write coils, discrete inputs and registers of a Modbus TCP
// device; values read are printed space-separated on one line (--json: a JSON
// array).
//
//   tw modbus HOST:PORT read-coils      ADDR COUNT             fn 1, COUNT 1..2000
//   tw modbus HOST:PORT read-discrete   ADDR COUNT             fn 2, COUNT 1..2000
//   tw modbus HOST:PORT read-holding    ADDR COUNT [--float]   fn 3, COUNT 1..125 (floats 1..62)
//   tw modbus HOST:PORT read-input      ADDR COUNT [--float]   fn 4, COUNT 1..125 (floats 1..62)
//   tw modbus HOST:PORT write-coil      ADDR 0|1|on|off        fn 5
//   tw modbus HOST:PORT write           ADDR VALUE [--float]   fn 6 (--float: fn 16, two registers)
//   tw modbus HOST:PORT write-coils     ADDR V...              fn 15, 1..1968 values 0|1|on|off
//   tw modbus HOST:PORT write-registers ADDR V... [--float]    fn 16, 1..123 registers (floats 1..61)
//
// With --float, COUNT counts floats (two registers each, high word first) and
// each VALUE is written as a float to two registers. Every number is checked
// (ranges, the Modbus limits per request, ADDR plus COUNT within 0..65535)
// before connecting: a usage error (exit 2). An exception reply from the device
// is exit 1 with the exception's code and name and what it means for the
// request, e.g. "exception 2 (illegal data address): the device has no holding
// register 0..3".

#include "commands.hpp"
#include "verb_util.hpp"

#include <charconv>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fmt/core.h>
#include <fmt/format.h>

#include <tw/drivers/errors.hpp>
#include <tw/drivers/modbus/client.hpp>
#include <tw/run.hpp>

namespace tw::cli {

namespace {

// Modbus limits per request (the protocol's, not this device's).
constexpr unsigned long k_max_read_bits = 2000;
constexpr unsigned long k_max_read_registers = 125;
constexpr unsigned long k_max_write_coils = 1968;
constexpr unsigned long k_max_write_registers = 123;

struct modbus_options {
    std::string address, action;
    std::vector<std::string> args;
    bool as_float = false, json = false;
    unsigned unit = 1;
    std::string timeout = "5s";
};

struct action_info {
    const char* name;
    std::uint8_t function;
    const char* kind;  // "coil", "holding register", ...: for messages
    bool bits, write;
};

constexpr action_info k_actions[] = {
    {"read-coils", tw::modbus::read_coils_fn, "coil", true, false},
    {"read-discrete", tw::modbus::read_discrete_inputs_fn, "discrete input", true, false},
    {"read-holding", tw::modbus::read_holding_registers_fn, "holding register", false, false},
    {"read-input", tw::modbus::read_input_registers_fn, "input register", false, false},
    {"write-coil", tw::modbus::write_single_coil_fn, "coil", true, true},
    {"write", tw::modbus::write_single_register_fn, "holding register", false, true},
    {"write-coils", tw::modbus::write_multiple_coils_fn, "coil", true, true},
    {"write-registers", tw::modbus::write_multiple_registers_fn, "holding register", false, true},
};
constexpr const char* k_action_list =
    "read-coils, read-discrete, read-holding, read-input, write-coil, write, write-coils or write-registers";

const char* function_name(std::uint8_t fn) {
    switch (fn) {
        case 1: return "read coils";
        case 2: return "read discrete inputs";
        case 3: return "read holding registers";
        case 4: return "read input registers";
        case 5: return "write single coil";
        case 6: return "write single register";
        case 15: return "write multiple coils";
        case 16: return "write multiple registers";
        default: return "?";
    }
}

// A whole number in [lo, hi]: plain decimal digits only (no sign, so "-1"
// cannot wrap), else a usage error naming the argument and `why` (the limit).
unsigned long number_argument(const std::string& what, const std::string& text, unsigned long lo, unsigned long hi,
                              const std::string& why = {}) {
    unsigned long v = 0;
    const auto* end = text.data() + text.size();
    auto [stop, ec] = std::from_chars(text.data(), end, v);
    const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || ec != std::errc() || stop != end || v < lo || v > hi) {
        const std::string range = lo == 0 ? fmt::format("a whole number, at most {}", hi)
                                          : fmt::format("a whole number, at least {} and at most {}", lo, hi);
        throw CLI::ValidationError(what, "must be " + range + (why.empty() ? "" : " (" + why + ")") + ", got '" + text + "'");
    }
    return v;
}

bool coil_argument(const std::string& text) {
    if (text == "1" || text == "on") return true;
    if (text == "0" || text == "off") return false;
    throw CLI::ValidationError("VALUE", "a coil is 0, 1, on or off, got '" + text + "'");
}

float float_argument(const std::string& text) {
    float v = 0;
    const auto* end = text.data() + text.size();
    auto [stop, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec != std::errc() || stop != end || !std::isfinite(v))
        throw CLI::ValidationError("VALUE", "expected a finite float32 number, got '" + text + "'");
    return v;
}

// ADDR and the number of registers or bits from it: the last one must exist
// in Modbus' 16-bit address space.
void check_span(const action_info& a, std::uint16_t addr, std::size_t n) {
    if (addr + n - 1 > 65535)
        throw CLI::ValidationError("ADDR", fmt::format("{} {}..{} runs past address 65535", a.kind, addr, addr + n - 1));
}

// An exception reply, said with what it means for this request.
[[noreturn]] void explain(const tw::protocol_error& e, const std::string& address, const action_info& a, std::uint16_t addr,
                          std::size_t n) {
    if (e.code() == 0) throw;  // not an exception reply: garbage, a wrong echo
    std::string said = fmt::format("function {} ({}): exception {} ({})", a.function, function_name(a.function), e.code(),
                                   tw::modbus::exception_name(e.code()));
    const std::string plural = n == 1 ? fmt::format("{} {}", a.kind, addr) : fmt::format("{} {}..{}", a.kind, addr, addr + n - 1);
    if (e.code() == 1) said += fmt::format(": the device does not implement function {}", a.function);
    if (e.code() == 2) said += ": the device has no " + plural;
    if (e.code() == 3) said += ": the device refused the value or quantity for " + plural;
    throw tw::protocol_error(address, said, e.code(), e.peer_message());
}

std::string bits_line(const std::vector<bool>& v, bool json) {
    if (json) {
        boost::json::array a;
        for (bool b : v) a.emplace_back(b);
        return boost::json::serialize(a);
    }
    std::string s;
    for (bool b : v) s += s.empty() ? (b ? "1" : "0") : (b ? " 1" : " 0");
    return s;
}

template <class T> std::string values_line(const std::vector<T>& v, bool json) {
    if (json) {
        boost::json::array a;
        for (auto x : v) {
            if constexpr (std::is_floating_point_v<T>)
                a.emplace_back(static_cast<double>(x));  // the float's exact value
            else
                a.emplace_back(static_cast<std::uint64_t>(x));
        }
        return boost::json::serialize(a);
    }
    return fmt::format("{}", fmt::join(v, " "));
}

void run_modbus(const modbus_options& o) {
    const auto timeout = timeout_option(o.timeout);
    const action_info* found = nullptr;
    for (const auto& a : k_actions)
        if (o.action == a.name) found = &a;
    if (!found) throw CLI::ValidationError("ACTION", std::string("expected ") + k_action_list + ", got '" + o.action + "'");
    const auto& a = *found;
    if (a.bits && o.as_float) throw CLI::ValidationError("--float", "applies to registers, not to " + o.action);
    if (a.write && o.json) throw CLI::ValidationError("--json", "applies to reads, not to " + o.action);

    const bool many = o.action == "write-coils" || o.action == "write-registers";
    if (many ? o.args.size() < 2 : o.args.size() != 2) {
        const std::string takes = !a.write ? "ADDR COUNT" : many ? "ADDR VALUE..." : "ADDR VALUE";
        throw CLI::ValidationError("ACTION", o.action + " takes " + takes);
    }
    const auto addr = static_cast<std::uint16_t>(number_argument("ADDR", o.args[0], 0, 65535));
    const std::vector<std::string> values(o.args.begin() + 1, o.args.end());
    auto connect = [&] {
        return std::make_unique<tw::modbus::client>(
            o.address, tw::modbus::options{.timeout = timeout, .unit = static_cast<std::uint8_t>(o.unit), .log = verb_log()});
    };

    if (a.write) {
        std::vector<bool> bits;
        std::vector<std::uint16_t> regs;
        std::vector<float> floats;
        for (const auto& v : values) {
            if (a.bits)
                bits.push_back(coil_argument(v));
            else if (o.as_float)
                floats.push_back(float_argument(v));
            else
                regs.push_back(static_cast<std::uint16_t>(number_argument("VALUE", v, 0, 65535)));
        }
        const std::size_t n = a.bits ? bits.size() : o.as_float ? 2 * floats.size() : regs.size();
        if (a.bits && n > k_max_write_coils)
            throw CLI::ValidationError("VALUE", fmt::format("{} coils: Modbus writes at most {} at once", n, k_max_write_coils));
        if (!a.bits && n > k_max_write_registers)
            throw CLI::ValidationError("VALUE", fmt::format("{} registers: Modbus writes at most {} at once ({} floats)", n,
                                                            k_max_write_registers, k_max_write_registers / 2));
        check_span(a, addr, n);
        // `write --float` has always been function 16 (a float needs two registers).
        const action_info& sent = o.as_float && a.function == tw::modbus::write_single_register_fn ? k_actions[7] : a;
        tw::run([&] {
            auto c = connect();
            try {
                if (a.bits && a.function == tw::modbus::write_single_coil_fn)
                    c->write_coil(addr, bits[0]);
                else if (a.bits)
                    c->write_coils(addr, bits);
                else if (o.as_float)
                    c->write_floats(addr, floats);
                else if (a.function == tw::modbus::write_single_register_fn)
                    c->write_register(addr, regs[0]);
                else
                    c->write_registers(addr, regs);
            } catch (const tw::protocol_error& e) {
                explain(e, o.address, sent, addr, n);
            }
        });
        return;
    }

    const unsigned long max = a.bits ? k_max_read_bits : o.as_float ? k_max_read_registers / 2 : k_max_read_registers;
    const auto count = static_cast<std::uint16_t>(
        number_argument("COUNT", values[0], 1, max,
                        a.bits ? "Modbus reads at most 2000 bits at once"
                               : o.as_float ? "62 floats are 124 registers; Modbus reads at most 125 at once"
                                            : "Modbus reads at most 125 registers at once"));
    const std::size_t n = o.as_float ? 2u * count : count;
    check_span(a, addr, n);
    auto line = tw::run([&]() -> std::string {
        auto c = connect();
        try {
            switch (a.function) {
                case tw::modbus::read_coils_fn: return bits_line(c->read_coils(addr, count), o.json);
                case tw::modbus::read_discrete_inputs_fn: return bits_line(c->read_discrete_inputs(addr, count), o.json);
                case tw::modbus::read_holding_registers_fn:
                    return o.as_float ? values_line(c->read_holding_floats(addr, count), o.json)
                                      : values_line(c->read_holding_registers(addr, count), o.json);
                default:
                    return o.as_float ? values_line(c->read_input_floats(addr, count), o.json)
                                      : values_line(c->read_input_registers(addr, count), o.json);
            }
        } catch (const tw::protocol_error& e) {
            explain(e, o.address, a, addr, n);
        }
    });
    std::cout << line << '\n';
}

}  // namespace

void add_modbus_command(CLI::App& app) {
    auto o = std::make_shared<modbus_options>();
    auto* cmd = app.add_subcommand("modbus", "Read or write coils, discrete inputs and registers of a Modbus TCP device");
    cmd->add_option("address", o->address, "Device address HOST:PORT")->required()->check(address_check());
    cmd->add_option("action", o->action, k_action_list)->required();
    cmd->add_option("args", o->args, "ADDR COUNT (reads), ADDR VALUE (write, write-coil) or ADDR VALUE... (write-coils, "
                                     "write-registers)");
    cmd->add_flag("--float", o->as_float, "Register values are float32 pairs (high word first)");
    cmd->add_flag("--json", o->json, "Print what is read as a JSON array (coils and inputs as true/false, floats exact)");
    count_option(*cmd, "--unit", o->unit, "Unit identifier", 0, 255)->capture_default_str();
    cmd->add_option("--timeout", o->timeout, "Deadline of the request, e.g. 500ms, 2s")->capture_default_str();
    cmd->footer(
        "Actions (function code; how many per request):\n"
        "  read-coils ADDR COUNT           1  read coils (COUNT 1..2000)\n"
        "  read-discrete ADDR COUNT        2  read discrete inputs (COUNT 1..2000)\n"
        "  read-holding ADDR COUNT         3  read holding registers (COUNT 1..125, with --float 1..62)\n"
        "  read-input ADDR COUNT           4  read input registers (COUNT 1..125, with --float 1..62)\n"
        "  write-coil ADDR 0|1|on|off      5  write one coil\n"
        "  write ADDR VALUE                6  write one holding register (0..65535; with --float: fn 16, two registers)\n"
        "  write-coils ADDR V...          15  write coils (1..1968 values 0|1|on|off)\n"
        "  write-registers ADDR V...      16  write holding registers (1..123 values, with --float 1..61 floats)\n"
        "ADDR is 0..65535 (0-based, as on the wire). Reads print the values space-separated (coils and inputs as 0/1);\n"
        "--json prints a JSON array. Exit status 1 for an exception reply from the device, e.g.\n"
        "  tw: 127.0.0.1:1502: function 3 (read holding registers): exception 2 (illegal data address): "
        "the device has no holding register 0..3\n"
        "2 for a usage error (an action, number or value out of range), found before connecting.\n");
    cmd->callback([o] { run_modbus(*o); });
}

}  // namespace tw::cli
