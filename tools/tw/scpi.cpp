// tw scpi: send SCPI commands to an instrument, in order, on one connection;
// print the reply of each query, one per line (or, with --json, one JSON
// document at the end).
//
//   tw scpi HOST:PORT 'CMD' ['CMD'...]
//
// A query is a command whose header ends in '?'. With --check, every set
// command is followed by SYST:ERR? and an instrument error fails the run;
// errors already queued before the first command (left by an earlier session)
// are read off first and shown on stderr, so they are not blamed on this one.

#include "commands.hpp"
#include "verb_util.hpp"

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/core.h>

#include <tw/deadline.hpp>
#include <tw/errors.hpp>
#include <tw/drivers/scpi/client.hpp>
#include <tw/run.hpp>

namespace tw::cli {

namespace {

struct scpi_options {
    std::string address;
    std::vector<std::string> commands;
    bool check = false;
    bool json = false;
    std::string timeout = "5s";
};

bool is_query(const std::string& cmd) {
    auto head = cmd.substr(0, cmd.find(' '));
    // "*IDN?", "KRDG? 1", "MEAS?;*OPC?" (several on one line: any query)
    return head.find('?') != std::string::npos || cmd.find("?;") != std::string::npos;
}

// Reads the instrument's error queue until it says 0 (no error), printing
// what it held. Bounded: an instrument that never says 0 is broken, not busy.
void clear_error_queue(tw::scpi::client& c) {
    constexpr int k_max_queued = 100;  // SCPI queues hold a few dozen at most
    for (int i = 0; i < k_max_queued; ++i) {
        const auto e = c.next_error();
        if (e.code == 0) return;
        fmt::print(stderr, "scpi: {}: cleared an earlier error from the queue: {},\"{}\"\n", c.address(), e.code, e.message);
    }
    throw tw::protocol_error(c.address(), fmt::format("the error queue did not empty after {} SYST:ERR? queries", k_max_queued));
}

void run_scpi(const scpi_options& o) {
    const auto timeout = timeout_option(o.timeout);
    tw::run([&] {
        tw::scpi::client c(o.address, {.timeout = timeout, .check_errors = o.check, .log = verb_log()});
        if (o.check) clear_error_queue(c);
        boost::json::array replies;
        for (const auto& cmd : o.commands) {
            if (!is_query(cmd)) {
                c.write(cmd);
                continue;
            }
            auto reply = c.query(cmd);
            if (o.json)
                replies.push_back(boost::json::object{{"command", cmd}, {"reply", reply}});
            else
                std::cout << reply << '\n' << std::flush;
        }
        // Commands without a reply: make sure they reached the instrument
        // before the connection closes.
        if (!o.commands.empty() && !is_query(o.commands.back())) c.wait_complete();
        if (o.json)
            std::cout << boost::json::serialize(boost::json::object{{"address", o.address}, {"replies", std::move(replies)}}) << '\n';
    });
}

}  // namespace

void add_scpi_command(CLI::App& app) {
    auto o = std::make_shared<scpi_options>();
    auto* cmd = app.add_subcommand("scpi", "Send SCPI commands to an instrument and print each query's reply");
    cmd->add_option("address", o->address, "Instrument address HOST:PORT")->required()->check(address_check());
    cmd->add_option("commands", o->commands, "Commands, e.g. '*IDN?' 'SETP 1,4.5'")->required();
    cmd->add_flag("--check", o->check, "Empty the error queue first, then ask SYST:ERR? after every set command; an error fails the run");
    cmd->add_flag("--json", o->json, "Print one JSON document at the end: {address, replies: [{command, reply}]}");
    cmd->add_option("--timeout", o->timeout, "Deadline of each command, e.g. 500ms, 2s")->capture_default_str();
    cmd->callback([o] { run_scpi(*o); });
}

}  // namespace tw::cli
