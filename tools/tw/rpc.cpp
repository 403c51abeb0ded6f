// tw rpc: JSON-RPC 2.0 over HTTP — one call, a notification, or a batch — the
// results printed as JSON.
//
//   tw rpc URL METHOD [ARG...]      positional params (JSON values)
//   tw rpc URL METHOD NAME=VALUE... named params
//   tw rpc --notify URL METHOD ...  a notification (prints nothing)
//   tw rpc URL --batch 'METHOD ARG...' 'METHOD NAME=VALUE...' ...
//                                   several calls in one request (one JSON-RPC batch)
//   tw rpc URL --batch-file FILE|-  a JSON-RPC batch array from a file or stdin:
//                                   [{"method": M, "params": P, "id": I}, ...]; an
//                                   element without "id" is a notification
//
// A batch prints one line per call, in order: the result, or
// "error CODE: MESSAGE"; exit status 1 if any call failed. --json prints the
// exact results as one JSON array, a failed call as {"error": {"code", "message"[, "data"]}}.

#include "human_json.hpp"
#include "commands.hpp"
#include "verb_util.hpp"

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/core.h>

#include <tw/drivers/jsonrpc/client.hpp>
#include <tw/run.hpp>

namespace tw::cli {

namespace {

struct rpc_options {
    std::string url, method;
    std::vector<std::string> args;
    bool notify = false, json = false, batch = false;
    std::string batch_file;
    std::string timeout = "5s";
};

struct call_spec {
    std::string method;
    boost::json::value params;
    bool notification = false;
};

// ARG... as typed: JSON values (positional params) or NAME=VALUE (named).
boost::json::value params_of(const std::vector<std::string>& args) {
    auto [positional, named] = split_arguments(args);
    if (!positional.empty() && !named.empty())
        throw CLI::ValidationError("ARG", "JSON-RPC takes positional or named params, not both");
    if (!positional.empty()) return positional;
    if (!named.empty()) return named;
    return nullptr;
}

// One --batch call, 'METHOD ARG...': words separated by blanks, except within
// a JSON string, array or object ('Board.set_name "a b"', 'M {"a": 1}').
std::vector<std::string> split_call(const std::string& text) {
    std::vector<std::string> words;
    std::string word;
    int depth = 0;
    bool in_string = false, escaped = false, any = false;
    for (char c : text) {
        if (in_string) {
            word += c;
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if ((c == ' ' || c == '\t' || c == '\n') && depth == 0) {
            if (any) words.push_back(std::move(word));
            word.clear();
            any = false;
            continue;
        }
        any = true;
        word += c;
        if (c == '"') in_string = true;
        if (c == '[' || c == '{') ++depth;
        if ((c == ']' || c == '}') && depth > 0) --depth;
    }
    if (any) words.push_back(std::move(word));
    return words;
}

std::vector<call_spec> calls_from_arguments(const std::vector<std::string>& calls) {
    std::vector<call_spec> out;
    for (const auto& text : calls) {
        auto words = split_call(text);
        if (words.empty()) throw CLI::ValidationError("--batch", "an empty call ('')");
        const std::vector<std::string> args(words.begin() + 1, words.end());
        out.push_back({words[0], params_of(args)});
    }
    return out;
}

std::vector<call_spec> calls_from_file(const std::string& path) {
    std::string text;
    if (path == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw CLI::ValidationError("--batch-file", "cannot read '" + path + "'");
        std::ostringstream ss;
        ss << in.rdbuf();
        text = ss.str();
    }
    const std::string name = path == "-" ? "stdin" : "'" + path + "'";
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    if (ec) throw CLI::ValidationError("--batch-file", name + " is not JSON (" + ec.message() + ")");
    if (!v.is_array() || v.get_array().empty())
        throw CLI::ValidationError("--batch-file", name + " must hold a non-empty JSON array of requests");
    std::vector<call_spec> out;
    std::size_t i = 0;
    for (const auto& r : v.get_array()) {
        const std::string where = fmt::format("{} element {}", name, i++);
        const auto* o = r.if_object();
        const auto* m = o ? o->if_contains("method") : nullptr;
        if (!m || !m->is_string() || m->get_string().empty())
            throw CLI::ValidationError("--batch-file", where + ": a request needs a \"method\" string");
        call_spec c{std::string(m->get_string()), nullptr, !o->contains("id")};
        if (const auto* p = o->if_contains("params")) {
            if (!p->is_array() && !p->is_object() && !p->is_null())
                throw CLI::ValidationError("--batch-file", where + ": \"params\" must be an array or an object");
            c.params = *p;
        }
        out.push_back(std::move(c));
    }
    return out;
}

void run_batch(const rpc_options& o, std::chrono::nanoseconds timeout) {
    if (o.notify) throw CLI::ValidationError("--notify", "not with a batch (in --batch-file, a request without \"id\" is a notification)");
    std::vector<call_spec> calls;
    if (o.batch) {
        if (o.method.empty()) throw CLI::ValidationError("--batch", "give one or more calls, e.g. 'Board.get_frequency 0'");
        std::vector<std::string> texts{o.method};
        texts.insert(texts.end(), o.args.begin(), o.args.end());
        calls = calls_from_arguments(texts);
    } else {
        if (!o.method.empty()) throw CLI::ValidationError("--batch-file", "the calls come from the file; no METHOD or ARG too");
        calls = calls_from_file(o.batch_file);
    }

    auto results = tw::run([&] {
        tw::jsonrpc::client c(o.url, {.timeout = timeout, .log = verb_log()});
        tw::jsonrpc::batch b(c);
        for (const auto& call : calls) {
            if (call.notification)
                b.notify(call.method, call.params);
            else
                b.call(call.method, call.params);
        }
        return b.execute();
    });

    std::size_t failed = 0;
    boost::json::array exact;
    std::string lines;
    for (const auto& r : results) {
        if (r.ok()) {
            exact.push_back(r.value());
            lines += human_json(r.value()) + '\n';
            continue;
        }
        ++failed;
        boost::json::object error;
        std::string line;
        try {
            std::rethrow_exception(r.error());
        } catch (const tw::protocol_error& e) {
            const std::string message = e.peer_message().empty() ? e.what() : e.peer_message();
            error["code"] = e.code();
            error["message"] = message;
            line = fmt::format("error {}: {}", e.code(), message);
            if (!e.data().empty()) {
                boost::system::error_code ec;
                auto data = boost::json::parse(e.data(), ec);
                error["data"] = ec ? boost::json::value(e.data()) : data;
                line += " (data: " + (ec ? e.data() : human_json(data)) + ")";
            }
        } catch (const std::exception& e) {
            error["code"] = 0;
            error["message"] = e.what();
            line = std::string("error: ") + e.what();
        }
        exact.push_back(boost::json::object{{"error", std::move(error)}});
        lines += line + '\n';
    }
    std::cout << (o.json ? boost::json::serialize(exact) + '\n' : lines) << std::flush;
    if (failed > 0) throw std::runtime_error(fmt::format("{} of {} call{} failed", failed, results.size(), results.size() == 1 ? "" : "s"));
}

void run_rpc(const rpc_options& o) {
    const auto timeout = timeout_option(o.timeout);
    try {
        tw::jsonrpc::parse_url(o.url);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError("URL", e.what());
    }
    if (o.batch || !o.batch_file.empty()) {
        run_batch(o, timeout);
        return;
    }
    if (o.method.empty()) throw CLI::ValidationError("METHOD", "a method is required (or --batch, --batch-file)");
    boost::json::value params = params_of(o.args);

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
    auto* cmd = app.add_subcommand("rpc", "Call a JSON-RPC 2.0 method (or a batch) over HTTP and print the result as JSON");
    cmd->add_option("url", o->url, "http://HOST:PORT/PATH")->required();
    cmd->add_option("method", o->method, "Method name (with --batch: the first call)");
    cmd->add_option("args", o->args, "Params: JSON values (positional) or NAME=VALUE (named); with --batch: more calls");
    cmd->add_flag("--notify", o->notify, "Send a notification (no reply expected)");
    auto* batch = cmd->add_flag("--batch", o->batch, "Each argument after URL is one call 'METHOD ARG...', sent as one batch");
    cmd->add_option("--batch-file", o->batch_file, "Send the JSON-RPC batch array in FILE ('-': stdin)")
        ->type_name("FILE")
        ->excludes(batch);
    cmd->add_flag("--json", o->json, "Exact JSON (numbers to the last bit) instead of 10 significant digits");
    cmd->add_option("--timeout", o->timeout, "Deadline of the call, e.g. 500ms, 2s")->capture_default_str();
    cmd->footer(
        "Batches: one request, one line per call in order (the result, or \"error CODE: MESSAGE\"); exit status 1 if "
        "any call failed.\n"
        "  tw rpc http://127.0.0.1:9000/rpc --batch 'Board.get_frequency 0' 'Board.get_amplitude channel=1'\n"
        "  echo '[{\"jsonrpc\":\"2.0\",\"method\":\"Board.get_frequency\",\"params\":[0],\"id\":1}]' | "
        "tw rpc http://127.0.0.1:9000/rpc --batch-file -\n"
        "In a --batch call, words are separated by blanks except within JSON strings, arrays and objects. In a\n"
        "--batch-file, a request without \"id\" is a notification (no line); ids are renumbered. --json prints one\n"
        "JSON array of the results, a failed call as {\"error\": {\"code\": C, \"message\": M}}.\n");
    cmd->callback([o] { run_rpc(*o); });
}

}  // namespace tw::cli
