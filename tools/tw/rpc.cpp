// tw rpc: one JSON-RPC 2.0 call over HTTP, the result printed as JSON.
//
//   tw rpc URL METHOD [ARG...]      positional params (JSON values)
//   tw rpc URL METHOD NAME=VALUE... named params
//   tw rpc --notify URL METHOD ...  a notification (prints nothing)

#include "human_json.hpp"
#include "commands.hpp"
#include "verb_util.hpp"

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <boost/json/serialize.hpp>

#include <tw/drivers/jsonrpc/client.hpp>
#include <tw/run.hpp>

namespace tw::cli {

namespace {

struct rpc_options {
    std::string url, method;
    std::vector<std::string> args;
    bool notify = false, json = false;
    std::string timeout = "5s";
};

void run_rpc(const rpc_options& o) {
    const auto timeout = timeout_option(o.timeout);
    try {
        tw::jsonrpc::parse_url(o.url);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError("URL", e.what());
    }
    boost::json::array positional;
    boost::json::object named;
    for (const auto& a : o.args) {
        std::string_view name, value;
        if (is_keyword_argument(a, &name, &value))
            named[name] = json_argument(value);
        else
            positional.push_back(json_argument(a));
    }
    if (!positional.empty() && !named.empty())
        throw CLI::ValidationError("ARG", "JSON-RPC takes positional or named params, not both");
    boost::json::value params = nullptr;
    if (!positional.empty()) params = std::move(positional);
    if (!named.empty()) params = std::move(named);

    auto out = tw::run([&]() -> boost::json::value {
        tw::jsonrpc::client c(o.url, {.timeout = timeout, .log = verb_log()});
        if (o.notify) {
            c.notify(o.method, std::move(params));
            return nullptr;
        }
        return c.call(o.method, std::move(params));
    });
    if (!o.notify) std::cout << (o.json ? boost::json::serialize(out) : human_json(out)) << '\n';
}

}  // namespace

void add_rpc_command(CLI::App& app) {
    auto o = std::make_shared<rpc_options>();
    auto* cmd = app.add_subcommand("rpc", "Call a JSON-RPC 2.0 method over HTTP and print the result as JSON");
    cmd->add_option("url", o->url, "http://HOST:PORT/PATH")->required();
    cmd->add_option("method", o->method, "Method name")->required();
    cmd->add_option("args", o->args, "Params: JSON values (positional) or NAME=VALUE (named)");
    cmd->add_flag("--notify", o->notify, "Send a notification (no reply expected)");
    cmd->add_flag("--json", o->json, "Exact JSON (numbers to the last bit) instead of 10 significant digits");
    cmd->add_option("--timeout", o->timeout, "Deadline of the call, e.g. 500ms, 2s")->capture_default_str();
    cmd->callback([o] { run_rpc(*o); });
}

}  // namespace tw::cli
