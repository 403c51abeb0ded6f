#pragma once
// tw::scpi::client: SCPI over a raw TCP socket (port 5025 convention),
// commands and replies one line each, for plain blocking code on tw fibers.
//
// Deadlines: each call's exchange runs under min(options.timeout, the
// caller's deadline); the wait for the client behind other fibers' calls is
// bounded by the caller's deadline only.
// A query that gets no reply in time is how an SCPI instrument says "error"
// (it stays silent and queues the error): the client then asks `SYST:ERR?`
// within the same deadline (it keeps options.error_query_timeout of it for
// that) and throws protocol_error with the instrument's code and message —
// or timeout_error if the instrument has no error to report or stays silent.
// Either way the connection is left in step (a late reply is drained) or
// closed, so the next caller never reads half or someone else's reply.
// Reconnects: a broken or closed connection is reopened on the next call
// (options.reconnect), so an instrument that power-cycles is reachable again.
//
// Thread safety: one client may be shared by fibers of any thread; calls are
// serialised in arrival order (tw::device_lock), one exchange at a time.
// Errors: timeout_error, cancelled_error, connection_error, protocol_error
// (instrument error, unparsable or non-ASCII reply, line over max_line).
//
// Example:
//   tw::scpi::client tc("127.0.0.1:5025");
//   std::string idn = tc.query("*IDN?");
//   tc.write("SETP 1,4.5");
//   double k = tc.query_double("KRDG? 1");
//   tc.wait_complete();                       // *OPC?

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tw/drivers/command_log.hpp>
#include <tw/drivers/errors.hpp>
#include <tw/drivers/tcp_stream.hpp>
#include <tw/sync.hpp>

namespace tw::scpi {

using namespace std::chrono_literals;

struct options {
    std::chrono::nanoseconds timeout = 5s;               // per exchange (not the wait for the client), under the caller's deadline
    std::chrono::nanoseconds error_query_timeout = 1s;   // kept for SYST:ERR? after a silent query (at most half the time)
    bool check_errors = false;                           // after every write(), ask SYST:ERR? and throw on an error
    reconnect_policy reconnect{};
    std::size_t max_line = tcp_stream::k_default_max_line;
    command_log log{};
};

// One entry of the instrument's error queue: `0,"No error"`, `-113,"Undefined header"`.
struct error_entry {
    int code = 0;
    std::string message;
};

// Parses `CODE,"MESSAGE"`; nullopt if the line is not in that form.
std::optional<error_entry> parse_error_entry(std::string_view line);
// Parses one number as SCPI writes it ("+4.0000E+00", "1", " 12.5 ").
std::optional<double> parse_number(std::string_view text);
// The replies of query_int and query_doubles, parsed as those do (pure
// functions, for tests and fuzzing): protocol_error naming `address` and the
// query when the line is not an integer (in ±2^53) or a list of numbers.
long long parse_int_reply(const std::string& address, std::string_view query, std::string_view line);
std::vector<double> parse_doubles_reply(const std::string& address, std::string_view query, std::string_view line);

class client {
public:
    explicit client(std::string address, options opts = {});
    client(const client&) = delete;
    client& operator=(const client&) = delete;
    ~client();

    // Sends a command that has no reply (with check_errors: then SYST:ERR?).
    void write(std::string_view command);
    // write() then SYST:ERR? in one exchange (no other caller in between):
    // throws protocol_error with the instrument's error, if any.
    void write_checked(std::string_view command);
    // Sends a query and returns its reply line (without "\n").
    std::string query(std::string_view query);
    double query_double(std::string_view query);
    long long query_int(std::string_view query);
    // A comma-separated list of numbers.
    std::vector<double> query_doubles(std::string_view query);
    // *OPC?: returns once the instrument has finished earlier commands.
    void wait_complete();
    // SYST:ERR?: the oldest entry of the error queue (code 0: none).
    error_entry next_error();
    // Throws protocol_error with the oldest queued error, if any.
    void check_error();

    void close();
    const std::string& address() const noexcept { return address_; }
    const options& opts() const noexcept { return opts_; }

private:
    tcp_stream& stream();
    void send_line(std::string_view line);
    std::string query_locked(std::string_view q);
    std::string query_locked(std::string_view q, clock::time_point now, clock::time_point until);
    std::string recover_missing_reply(std::string_view q, clock::time_point until);
    [[gnu::noinline]] std::string reply_failed(std::string_view q, clock::time_point until, bool can_ask);
    [[noreturn, gnu::noinline]] void throw_not_text(std::string_view q) const;
    void check_error_locked(std::string_view after);

    std::string address_;
    options opts_;
    tw::device_lock lock_;
    std::optional<tcp_stream> stream_;
};

}  // namespace tw::scpi
