#pragma once
// Driver errors, on top of the runtime's tw::error hierarchy (errors.hpp):
//
//   tw::error
//   ├─ timeout_error, cancelled_error     (runtime) deadline passed / cancelled
//   ├─ io_error                           (runtime) an I/O operation failed
//   │  └─ connection_error                the connection could not be made or broke
//   └─ protocol_error                     the peer said no, or said something we
//                                         cannot understand
//
// connection_error keeps the std::error_code (refused, reset, end of stream)
// and the address. protocol_error keeps what the peer said: its error code
// (SCPI -113, a Modbus exception code, a JSON-RPC code; 0 when the peer gave
// none, e.g. for garbage or an oversized reply), its message, and, for
// JSON-RPC, the error's `data` as JSON text.
//
// Thread safety: plain values.
//
// Example:
//   try { tc.query("BOGUS?"); }
//   catch (const tw::protocol_error& e) { fmt::print("{} {}\n", e.code(), e.peer_message()); }  // -113 Undefined header

#include <string>
#include <system_error>

#include <tw/errors.hpp>

namespace tw {

class connection_error : public io_error {
public:
    // what(): "<address>: <what>: <code's message>"
    connection_error(std::string address, std::error_code code, const std::string& what);
    const std::string& address() const noexcept { return address_; }

private:
    std::string address_;
};

class protocol_error : public error {
public:
    // what(): "<address>: <what>" — callers put the peer's code and message into `what`.
    protocol_error(std::string address, const std::string& what, int code = 0, std::string peer_message = {},
                   std::string data = {});
    const std::string& address() const noexcept { return address_; }
    // The peer's error code; 0 when the peer gave none.
    int code() const noexcept { return code_; }
    // The peer's own message (empty when the error is ours, e.g. garbage).
    const std::string& peer_message() const noexcept { return peer_message_; }
    // Extra data as JSON text (JSON-RPC's error.data), or empty.
    const std::string& data() const noexcept { return data_; }

private:
    std::string address_;
    int code_;
    std::string peer_message_;
    std::string data_;
};

}  // namespace tw
