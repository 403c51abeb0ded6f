#pragma once
// tw::modbus::client: Modbus TCP (MBAP framing) for plain blocking code on tw
// fibers — function codes 1-6, 15 and 16, and 32-bit floats stored in two
// registers, high word first (IEEE 754 big-endian), as docs/WIRE_FORMATS.md,
// Modbus TCP compressor says.
//
// Several requests in flight on one connection: each request gets its own
// transaction id; fibers write their frames one at a time, and whichever
// waiting fiber currently holds the "reader" role reads replies and hands
// each to the fiber whose transaction id it carries (a late reply to a
// request that timed out is dropped). When the reader leaves — its reply came,
// or its deadline passed — another waiting fiber takes over. No background
// fiber: an idle client owns nothing but its socket.
//
// Deadlines: each call runs under min(options.timeout, the caller's deadline);
// a call that times out leaves the connection usable for the others.
// A broken connection (closed, reset, a malformed frame) fails every request in
// flight on it; the next call reconnects (options.reconnect).
//
// Thread safety: one client may be shared by fibers (of any worker thread).
// Errors: timeout_error, cancelled_error, connection_error, protocol_error
// (exception responses carry the Modbus exception code in code(); malformed
// replies have code 0).
//
// Example:
//   tw::modbus::client c("127.0.0.1:1502");
//   auto regs = c.read_input_registers(0, 20);
//   float coolant_in = tw::modbus::to_float(regs[2], regs[3]);
//   c.write_register(0, 1);                      // start

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tw/drivers/command_log.hpp>
#include <tw/drivers/errors.hpp>
#include <tw/drivers/tcp_stream.hpp>
#include <tw/sync.hpp>

namespace tw::modbus {

using namespace std::chrono_literals;

struct options {
    std::chrono::nanoseconds timeout = 5s;  // per call, under the caller's deadline
    std::uint8_t unit = 1;                   // unit identifier sent in every request
    reconnect_policy reconnect{};
    command_log log{};                       // frames logged as hex
};

enum function_code : std::uint8_t {
    read_coils_fn = 1,
    read_discrete_inputs_fn = 2,
    read_holding_registers_fn = 3,
    read_input_registers_fn = 4,
    write_single_coil_fn = 5,
    write_single_register_fn = 6,
    write_multiple_coils_fn = 15,
    write_multiple_registers_fn = 16,
};

// "illegal data address" for 2, ...; "exception N" for codes without a name.
std::string exception_name(int code);

// Two registers (high word first) <-> one float.
float to_float(std::uint16_t high, std::uint16_t low) noexcept;
std::array<std::uint16_t, 2> from_float(float value) noexcept;
// Pairs of registers -> floats; throws std::invalid_argument for an odd count.
std::vector<float> to_floats(std::span<const std::uint16_t> registers);

// Reading replies without a connection: what the client does with the bytes
// a server sends (pure functions, for tests and fuzzing). `address` is for
// messages. Errors: protocol_error as the client's (code() the exception code
// of an exception reply, else 0).
//
// The 7-byte MBAP header of a reply (transaction id, protocol id, length,
// unit) -> its transaction id and length (unit id + PDU, 2..254 bytes).
struct frame_header {
    std::uint16_t transaction = 0;
    std::uint16_t length = 0;
};
frame_header parse_frame_header(const std::string& address, std::string_view header);
// A reply PDU (function byte + data) to a request for `function` -> its data.
std::string parse_reply_pdu(const std::string& address, std::uint8_t function, std::string_view pdu);
// The data of a read reply -> `count` bits (functions 1, 2) or registers (3, 4).
std::vector<bool> parse_bits(const std::string& address, std::uint8_t function, std::uint16_t count, std::string_view data);
std::vector<std::uint16_t> parse_registers(const std::string& address, std::uint8_t function, std::uint16_t count,
                                           std::string_view data);

class client {
public:
    explicit client(std::string address, options opts = {});
    client(const client&) = delete;
    client& operator=(const client&) = delete;
    ~client();

    std::vector<bool> read_coils(std::uint16_t address, std::uint16_t count);               // fn 1
    std::vector<bool> read_discrete_inputs(std::uint16_t address, std::uint16_t count);     // fn 2
    std::vector<std::uint16_t> read_holding_registers(std::uint16_t address, std::uint16_t count);  // fn 3
    std::vector<std::uint16_t> read_input_registers(std::uint16_t address, std::uint16_t count);    // fn 4
    void write_coil(std::uint16_t address, bool value);                                     // fn 5
    void write_register(std::uint16_t address, std::uint16_t value);                       // fn 6
    void write_coils(std::uint16_t address, const std::vector<bool>& values);               // fn 15
    void write_registers(std::uint16_t address, std::span<const std::uint16_t> values);     // fn 16

    // `count` floats from 2·count registers.
    std::vector<float> read_input_floats(std::uint16_t address, std::uint16_t count);
    std::vector<float> read_holding_floats(std::uint16_t address, std::uint16_t count);
    void write_floats(std::uint16_t address, std::span<const float> values);

    // One raw transaction: sends function + data, returns the reply's data
    // (the PDU after the function byte). Exception replies throw protocol_error.
    std::string transact(std::uint8_t function, std::string_view data);

    void close();
    const std::string& address() const noexcept { return address_; }

    struct connection;  // one TCP connection and the requests in flight on it

private:
    std::shared_ptr<connection> get_connection();
    std::string transact_once(std::uint8_t function, std::string_view data);

    std::string address_;
    options opts_;
    tw::device_lock connect_lock_;
    std::mutex conn_mtx_;  // guards conn_ (held briefly, never across a suspension)
    std::shared_ptr<connection> conn_;
    std::atomic<std::uint16_t> next_tid_{1};
};

}  // namespace tw::modbus
