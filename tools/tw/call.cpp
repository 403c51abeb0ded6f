// tw call: one Tuber call, property read or description, printed as JSON.
//
//   tw call HOST:PORT OBJECT.METHOD [ARG...] [NAME=VALUE...]
//   tw call --property HOST:PORT OBJECT.NAME
//   tw call --resolve HOST:PORT [OBJECT]
//
// Arguments are JSON values (text that is not JSON is a string). Warnings the
// board attaches go to stderr.

#include "human_json.hpp"
#include "commands.hpp"
#include "verb_util.hpp"

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <boost/json/serialize.hpp>
#include <fmt/core.h>

#include <tw/drivers/tuber/client.hpp>
#include <tw/run.hpp>

namespace tw::cli {

namespace {

struct call_options {
    std::string address, target;
    std::vector<std::string> args;
    bool property = false, resolve = false, json = false;
    std::string timeout = "5s";
};

// "Board.set_frequency" -> {"Board", "set_frequency"}
std::pair<std::string, std::string> split_target(const std::string& t) {
    const auto dot = t.rfind('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == t.size())
        throw CLI::ValidationError("OBJECT.NAME", "expected OBJECT.METHOD (or OBJECT.NAME), got '" + t + "'");
    return {t.substr(0, dot), t.substr(dot + 1)};
}

void run_call(const call_options& o) {
    if (o.property && o.resolve) throw CLI::ValidationError("--property and --resolve exclude each other");
    const auto timeout = timeout_option(o.timeout);
    if (!o.resolve && o.target.empty()) throw CLI::ValidationError("OBJECT.METHOD", "missing (see tw call --help)");
    if ((o.property || o.resolve) && !o.args.empty())
        throw CLI::ValidationError("ARG", std::string("no arguments with ") + (o.property ? "--property" : "--resolve"));

    boost::json::array args;
    boost::json::object kwargs;
    for (const auto& a : o.args) {
        std::string_view name, value;
        if (is_keyword_argument(a, &name, &value))
            kwargs[name] = json_argument(value);
        else if (!kwargs.empty())
            throw CLI::ValidationError("ARG", "positional argument '" + a + "' after a NAME=VALUE argument");
        else
            args.push_back(json_argument(a));
    }
    std::pair<std::string, std::string> target;
    if (!o.resolve) target = split_target(o.target);

    auto out = tw::run([&] {
        tw::tuber::client c(o.address, {.timeout = timeout,
                                        .log = verb_log(),
                                        .on_warning = [](const std::string& addr, const std::string& call, const std::string& w) {
                                            fmt::print(stderr, "tw: warning from {}: {}: {}\n", addr, call, w);
                                        }});
        if (o.property) return c.property(target.first, target.second);
        if (o.resolve) {
            boost::json::object req;
            if (!o.target.empty()) {
                req["object"] = o.target;
                req["resolve"] = true;
            }
            auto r = c.request(req);
            if (r.is_object()) {
                if (auto* e = r.get_object().if_contains("error"))
                    throw tw::protocol_error(o.address, "resolve: " + boost::json::serialize(*e));
                if (auto* v = r.get_object().if_contains("result")) return *v;
            }
            throw tw::protocol_error(o.address, "resolve: unexpected reply " + boost::json::serialize(r));
        }
        return c.call(target.first, target.second, std::move(args), std::move(kwargs));
    });
    std::cout << (o.json ? boost::json::serialize(out) : human_json(out)) << '\n';
}

}  // namespace

void add_call_command(CLI::App& app) {
    auto o = std::make_shared<call_options>();
    auto* cmd = app.add_subcommand("call", "Call a method of a readout board (Tuber) and print the result as JSON");
    cmd->add_option("address", o->address, "Board address HOST:PORT")->required()->check(address_check());
    cmd->add_option("target", o->target, "OBJECT.METHOD, OBJECT.NAME with --property, OBJECT with --resolve");
    cmd->add_option("args", o->args, "Arguments: JSON values, NAME=VALUE for keyword arguments");
    cmd->add_flag("--property", o->property, "Read the property OBJECT.NAME");
    cmd->add_flag("--resolve", o->resolve, "Describe OBJECT (or list the objects)");
    cmd->add_flag("--json", o->json, "Exact JSON (numbers to the last bit) instead of 10 significant digits");
    cmd->add_option("--timeout", o->timeout, "Deadline of the call, e.g. 500ms, 2s")->capture_default_str();
    cmd->callback([o] { run_call(*o); });
}

}  // namespace tw::cli
