// tw call: one Tuber call, property read or description, printed as JSON.
//
//   tw call HOST:PORT [OBJECT.]METHOD [ARG...] [NAME=VALUE...]
//   tw call --property HOST:PORT [OBJECT.]NAME
//   tw call --resolve HOST:PORT [OBJECT]
//
// The words after the address are the shell's `call` too: see call.hpp.

#include "call.hpp"

#include "commands.hpp"
#include "human_json.hpp"
#include "verb_util.hpp"

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <boost/json/serialize.hpp>
#include <fmt/core.h>

#include <tw/errors.hpp>
#include <tw/run.hpp>

namespace tw::cli {

namespace {

namespace json = boost::json;

struct call_options {
    std::string address;
    call_words words;
    std::string timeout = "5s";
};

// "set_frequency" -> {"Board", "set_frequency"}; "Board.set_frequency" -> the same.
std::pair<std::string, std::string> split_target(const std::string& t) {
    const auto dot = t.rfind('.');
    if (dot == std::string::npos) return {"Board", t};
    if (dot == 0 || dot + 1 == t.size())
        throw CLI::ValidationError("[OBJECT.]NAME", "expected NAME or OBJECT.NAME, got '" + t + "'");
    return {t.substr(0, dot), t.substr(dot + 1)};
}

json::value resolve_target(tuber::client& c, const std::string& target) {
    json::object req;
    if (!target.empty()) {
        req["object"] = target;
        req["resolve"] = true;
    }
    auto r = c.request(req);
    if (r.is_object()) {
        if (auto* e = r.get_object().if_contains("error")) throw tw::protocol_error(c.address(), "resolve: " + json::serialize(*e));
        if (auto* v = r.get_object().if_contains("result")) return *v;
    }
    throw tw::protocol_error(c.address(), "resolve: unexpected reply " + json::serialize(r));
}

void run_call(const call_options& o) {
    const auto timeout = timeout_option(o.timeout);
    check_call_words(o.words);
    auto out = tw::run([&] {
        tw::tuber::client c(o.address, {.timeout = timeout, .log = verb_log()});
        return perform_call(c, o.words);
    });
    std::cout << call_result_text(out, o.words.json) << '\n';
}

}  // namespace

void add_call_words(CLI::App& cmd, call_words& w) {
    cmd.add_option("target", w.target, "[OBJECT.]METHOD (OBJECT: Board unless given), [OBJECT.]NAME with --property, OBJECT with --resolve");
    cmd.add_option("args", w.args, "Arguments: JSON values, NAME=VALUE for keyword arguments");
    cmd.add_flag("--property", w.property, "Read the property [OBJECT.]NAME");
    cmd.add_flag("--resolve", w.resolve, "Describe OBJECT (or list the objects)");
    cmd.add_flag("--json", w.json, "Exact JSON (numbers to the last bit) instead of 10 significant digits");
}

void check_call_words(const call_words& w) {
    if (w.property && w.resolve) throw CLI::ValidationError("--property and --resolve exclude each other");
    if (!w.resolve && w.target.empty()) throw CLI::ValidationError("[OBJECT.]METHOD", "missing");
    if ((w.property || w.resolve) && !w.args.empty())
        throw CLI::ValidationError("ARG", std::string("no arguments with ") + (w.property ? "--property" : "--resolve"));
    (void)split_arguments(w.args);
    if (!w.resolve) split_target(w.target);
}

json::value perform_call(tuber::client& c, const call_words& w) {
    if (w.resolve) return resolve_target(c, w.target);
    const auto [object, name] = split_target(w.target);
    if (w.property) return c.property(object, name);
    auto [args, kwargs] = split_arguments(w.args);
    try {
        auto r = c.call_with_warnings(object, name, std::move(args), std::move(kwargs));
        for (const auto& warning : r.warnings) fmt::print(stderr, "tw: warning from {}: {}.{}: {}\n", c.address(), object, name, warning);
        return std::move(r.value);
    } catch (const tw::protocol_error&) {
        // `call SERIAL`: not a method, but the board lists it as a property of
        // the object. One more round trip, and only when the call failed.
        if (!w.args.empty()) throw;
        bool is_property = false;
        try {
            is_property = c.resolve(object).properties.contains(name);
        } catch (const tw::protocol_error&) {
        }
        if (!is_property) throw;
        return c.property(object, name);
    }
}

std::string call_result_text(const json::value& v, bool json) { return json ? json::serialize(v) : human_json(v); }

void add_call_command(CLI::App& app) {
    auto o = std::make_shared<call_options>();
    auto* cmd = app.add_subcommand("call", "Call a method of a readout board (Tuber) and print the result as JSON");
    cmd->add_option("address", o->address, "Board address HOST:PORT")->required()->check(address_check());
    add_call_words(*cmd, o->words);
    cmd->add_option("--timeout", o->timeout, "Deadline of the call, e.g. 500ms, 2s")->capture_default_str();
    cmd->callback([o] { run_call(*o); });
}

}  // namespace tw::cli
