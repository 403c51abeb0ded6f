#pragma once
// tw::tcp_stream: a TCP connection whose calls look blocking but suspend only
// the calling fiber; the thread keeps running other fibers and I/O meanwhile.
// It buffers what it reads, so a read that times out loses nothing: bytes that
// arrived stay buffered for the next read.
//
// Deadlines: every call runs under the calling fiber's deadline (an enclosing
// tw::deadline_scope); a deadline that passes throws tw::timeout_error.
// Bounded input: read_line never buffers more than `max_line` bytes; a longer
// line is a protocol_error and closes the stream.
//
// Also here: the reconnect policy (connect with bounded retries and
// exponential back-off), which drivers use to reach a board again after it
// power-cycles. Addresses are parsed by parse_address (address.hpp).
//
// Thread safety: one fiber at a time per stream (drivers serialise callers
// with a tw::device_lock); the fiber may be on any worker thread.
// Errors: connection_error (refused, reset, closed by the peer), protocol_error
// (line too long), timeout_error, cancelled_error; usage_error off a tw fiber.
//
// Example:
//   tw::deadline_scope d(2s);
//   auto s = tw::tcp_stream::connect("127.0.0.1:5025");
//   s.write("*IDN?\n");
//   std::string idn = s.read_line();

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

#include <tw/drivers/address.hpp>
#include <tw/drivers/command_log.hpp>

namespace tw {

// Bounded retries with exponential back-off, for connecting.
struct reconnect_policy {
    unsigned attempts = 3;                          // connection attempts per call (1: no retry)
    std::chrono::milliseconds backoff{50};          // first pause, doubled after each failure
    std::chrono::milliseconds max_backoff{1000};    // cap on one pause
};

class tcp_stream {
public:
    static constexpr std::size_t k_default_max_line = 64 * 1024;

    // Connects under the caller's deadline. Throws connection_error if the
    // peer refuses or cannot be reached, timeout_error if the deadline passes.
    static tcp_stream connect(const std::string& address, command_log log = {});
    // connect() with retries: up to policy.attempts attempts with back-off
    // between them (never past the deadline); connection_error after the last.
    static tcp_stream connect(const std::string& address, const reconnect_policy& policy, command_log log = {});

    tcp_stream(boost::asio::ip::tcp::socket socket, std::string address, command_log log = {});
    tcp_stream(tcp_stream&&) noexcept = default;
    tcp_stream& operator=(tcp_stream&&) noexcept = default;
    ~tcp_stream();

    // Writes all of `data`. A timeout may leave part of it sent: callers close
    // the stream then.
    void write(std::string_view data);
    // Writes `line` and then "\n", in one send when the socket takes both
    // (a gather write: the line is not copied to append the newline).
    void write_line(std::string_view line);
    // Up to out.size() bytes: buffered bytes first, else at least one new byte.
    std::size_t read_some(std::span<char> out);
    // The next line without its "\n" (and a "\r" before it).
    std::string read_line(std::size_t max_line = k_default_max_line);
    // Exactly n bytes.
    std::string read_exactly(std::size_t n);
    // Makes at least n bytes available in buffered_data() (n must be bounded by the caller).
    void fill_to(std::size_t n);
    std::string_view buffered_data() const noexcept { return std::string_view(buf_.get() + pos_, size_ - pos_); }
    void consume(std::size_t n) noexcept;

    bool is_open() const noexcept { return socket_.is_open(); }
    // Closes the socket (pending operations end with an error); idempotent.
    void close(std::string_view why = "closed by the client") noexcept;

    const std::string& address() const noexcept { return address_; }
    const command_log& log() const noexcept { return log_; }
    boost::asio::ip::tcp::socket& socket() noexcept { return socket_; }

private:
    std::size_t fill();  // reads more into the buffer; returns bytes added
    void write_parts(std::string_view first, std::string_view second);
    [[noreturn, gnu::noinline]] void fail(const boost::system::error_code& ec, const char* what);
    [[noreturn, gnu::noinline]] void fail_not_open() const;
    [[noreturn, gnu::noinline]] void fail_line_too_long(std::size_t max_line);
    void require_open() const;

    boost::asio::ip::tcp::socket socket_;
    std::string address_;
    command_log log_;
    // Received bytes not consumed yet are [pos_, size_) of buf_ (capacity
    // cap_). A plain array, not a std::string: resizing a string zero-fills
    // it, which cost ~1,000 instructions per read and touched 8 KiB per
    // connection for replies of a dozen bytes (docs/BENCHMARKS.md).
    std::unique_ptr<char[]> buf_;
    std::size_t cap_ = 0;
    std::size_t size_ = 0;
    std::size_t pos_ = 0;
    // Something was sent since the last read: the next read is most likely
    // for its reply, and starts from the worker's queue (tw::yield.queued()).
    bool sent_ = false;
};

}  // namespace tw
