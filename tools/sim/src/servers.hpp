#pragma once
// tw::sim::detail servers: the instrument models behind the SCPI and Modbus
// ports, and the per-connection loops of all three protocols. Each loop runs
// on its connection's fiber as plain blocking code (tw::yield) and returns
// when the peer closes, keeps the server waiting too long (server_options:
// idle between requests or while a reply is written, slow within a request),
// or the input breaks the protocol's bounds.
//
// Thread safety: an instrument and its connections live on one worker thread
// (see net.hpp); a model is touched only between suspensions.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "board.hpp"
#include "net.hpp"

namespace tw::sim::detail {

using sim_clock = std::chrono::steady_clock;

// Bounds on input (docs/WIRE_FORMATS.md, Tuber and SCPI temperature controller).
inline constexpr std::size_t k_max_http_header = 16 * 1024;
inline constexpr std::size_t k_max_http_body = 4 * 1024 * 1024;
inline constexpr std::size_t k_max_scpi_line = 4096;

// A number as the temperature controller writes it: SCPI NR3, five digits,
// correctly rounded, "+1.2345E+01" (as printf's "%+.4E").
std::string format_nr3(double v);

void serve_tuber_connection(tcp::socket& s, board& b, fault_state& f, const server_options& o);
// The bytes of HTTP requests -> the bytes serve_tuber_connection answers them
// with (the same parser, limits and replies; no faults, timeouts or 100
// Continue), up to the first reply that closes the connection. The end of
// `requests` is the end of the stream. Pure: for tests and fuzzing.
std::string serve_http_bytes(board& b, std::string_view requests);

// ---- SCPI temperature controller (docs/WIRE_FORMATS.md) --------------------------

class temperature_controller {
public:
    temperature_controller(std::size_t index, std::uint64_t seed, std::chrono::nanoseconds tau, sim_clock::time_point now);

    // Executes one line (commands separated by ';'); returns the reply line
    // (without "\n") if the line held queries and no error.
    std::optional<std::string> execute(std::string_view line, sim_clock::time_point now);
    std::string serial() const;

private:
    struct loop {
        double target = 4.0;     // SETP
        double effective = 4.0;  // ramped setpoint
        bool ramp = false;
        double rate = 0;         // K/min
        double temp = 4.0;       // sensor following this loop
    };
    void advance(sim_clock::time_point now);
    void push_error(int code, const char* message);
    double noisy(double kelvin);
    std::optional<std::string> command(std::string_view cmd, bool& failed);

    std::size_t index_;
    std::uint64_t seed_;
    double tau_s_;
    sim_clock::time_point last_;
    std::array<loop, 2> loops_;
    std::deque<std::pair<int, std::string>> errors_;
    std::uint64_t reads_ = 0;
};

void serve_scpi_connection(tcp::socket& s, temperature_controller& tc, fault_state& f, const server_options& o);

// ---- Modbus TCP compressor (docs/WIRE_FORMATS.md) --------------------------------

class compressor {
public:
    compressor(std::size_t index, std::uint64_t seed, alarm_kind alarm, std::chrono::nanoseconds start_time,
               std::chrono::nanoseconds stop_time, sim_clock::time_point now);

    // One request PDU (function code + data) → the response PDU.
    std::string handle(std::string_view pdu, sim_clock::time_point now);
    std::array<std::uint16_t, 20> input_registers(sim_clock::time_point now);
    int state() const noexcept { return state_; }

private:
    void advance(sim_clock::time_point now);
    void command(std::uint16_t value, sim_clock::time_point now);

    std::size_t index_;
    std::uint64_t seed_;
    alarm_kind alarm_;
    double start_s_, stop_s_, tau_s_;
    sim_clock::time_point last_, since_;
    int state_ = 0;
    std::uint16_t command_ = 0;
    double hours_;
    std::uint64_t reads_ = 0;
    // coolant in, coolant out, oil, helium, high pressure, low pressure, current
    std::array<double, 7> values_;
};

void serve_modbus_connection(tcp::socket& s, compressor& c, fault_state& f, const server_options& o);
// Framing, as serve_modbus_connection reads requests (pure: tests and fuzzing).
// The length field of a request's 7-byte MBAP header (unit id + PDU), or
// nullopt when the header is not Modbus TCP (protocol id 0, length 2..254).
std::optional<std::uint16_t> request_length(std::string_view header);
// A whole request frame (its header's length checked by request_length) ->
// the reply frame: the same transaction id, the compressor's reply PDU.
std::string reply_frame(compressor& c, std::string_view frame, sim_clock::time_point now);

}  // namespace tw::sim::detail
