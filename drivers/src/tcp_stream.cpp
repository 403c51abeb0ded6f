#include <tw/drivers/tcp_stream.hpp>

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <boost/asio/connect.hpp>

#include <tw/deadline.hpp>
#include <tw/duration.hpp>
#include <tw/drivers/errors.hpp>
#include <tw/yield.hpp>

namespace tw {

namespace {
constexpr std::size_t k_read_chunk = 8192;
constexpr std::size_t k_first_chunk = 256;
constexpr std::size_t k_compact_at = 64 * 1024;
}  // namespace

tcp_stream tcp_stream::connect(const std::string& address, command_log log) {
    namespace asio = boost::asio;
    using tcp = asio::ip::tcp;
    address_parts parts;
    try {
        parts = parse_address(address);
    } catch (const std::invalid_argument& e) {
        throw connection_error(address, std::make_error_code(std::errc::invalid_argument), e.what());
    }
    tcp::socket sock(tw::this_fiber::executor());
    boost::system::error_code ec;
    boost::system::error_code parse_ec;
    auto ip = asio::ip::make_address(parts.host, parse_ec);
    try {
        if (!parse_ec) {
            sock.async_connect(tcp::endpoint(ip, parts.port), tw::yield[ec]);
        } else {
            tcp::resolver resolver(tw::this_fiber::executor());
            auto results = resolver.async_resolve(parts.host, std::to_string(parts.port), tw::yield[ec]);
            if (ec) throw connection_error(address, ec, "cannot resolve '" + parts.host + "'");
            asio::async_connect(sock, results, tw::yield[ec]);
        }
    } catch (const tw::timeout_error&) {
        throw tw::timeout_error(address + ": connecting timed out");
    }
    if (ec) throw connection_error(address, ec, "cannot connect");
    sock.set_option(tcp::no_delay(true), ec);
    log.event(address, "connected");
    return tcp_stream(std::move(sock), address, std::move(log));
}

tcp_stream tcp_stream::connect(const std::string& address, const reconnect_policy& policy, command_log log) {
    auto pause = policy.backoff;
    const unsigned attempts = std::max(1u, policy.attempts);
    for (unsigned i = 1;; ++i) {
        try {
            return connect(address, log);
        } catch (const connection_error& e) {
            // A malformed address (or one the system calls invalid) fails the
            // same way every time: say why at once instead of retrying and
            // then reporting only "Invalid argument".
            if (e.code() == std::errc::invalid_argument) throw;
            if (i >= attempts) {
                if (attempts == 1) throw;
                throw connection_error(address, e.code(), "cannot connect (" + std::to_string(attempts) + " attempts)");
            }
            // Don't sleep past the deadline: report the connection error now.
            if (clock::now() + pause >= tw::current_deadline()) throw;
            log.event(address, std::string("connect failed (") + e.code().message() + "), retrying in " +
                                   format_duration(pause));
        }
        tw::sleep_for(pause);
        pause = std::min(pause * 2, policy.max_backoff);
    }
}

tcp_stream::tcp_stream(boost::asio::ip::tcp::socket socket, std::string address, command_log log)
    : socket_(std::move(socket)), address_(std::move(address)), log_(std::move(log)) {}

tcp_stream::~tcp_stream() { close(); }

void tcp_stream::close(std::string_view why) noexcept {
    if (!socket_.is_open()) return;
    boost::system::error_code ignored;
    socket_.close(ignored);
    // The text is built only for a log that is on: closing is on the path of
    // every board's teardown, and an unused string is a malloc and a free.
    if (log_) {
        try {
            log_.event(address_, std::string("closed: ") + std::string(why));
        } catch (...) {
        }
    }
    // The buffer stays allocated: a read into it may still be completing (a
    // Modbus connection is closed by whoever hits an error). Reads of a closed
    // stream throw before they look at it.
}

void tcp_stream::write(std::string_view data) { write_parts(data, {}); }

void tcp_stream::write_line(std::string_view line) { write_parts(line, "\n"); }

namespace {

// Sends what the socket takes at once, never waiting (MSG_DONTWAIT, whatever
// the socket's mode; MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE).
// Returns the bytes sent: 0 with `ec` clear when the send buffer is full.
// Through syscall(2), not send(2)/sendmsg(2): those are cancellation points,
// and in a process with threads glibc wraps each in two atomic updates of the
// thread's cancellation state, which a send that never blocks does not need.
std::size_t send_now(int fd, std::string_view first, std::string_view second, boost::system::error_code& ec) {
    for (;;) {
        long n;
        if (second.empty()) {
            n = ::syscall(SYS_sendto, fd, first.data(), first.size(), MSG_DONTWAIT | MSG_NOSIGNAL, nullptr, 0);
        } else {
            iovec iov[2] = {{const_cast<char*>(first.data()), first.size()}, {const_cast<char*>(second.data()), second.size()}};
            msghdr m{};
            m.msg_iov = iov;
            m.msg_iovlen = 2;
            n = ::syscall(SYS_sendmsg, fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        if (n >= 0) return static_cast<std::size_t>(n);
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) ec.assign(errno, boost::asio::error::get_system_category());
        return 0;
    }
}

}  // namespace

// A request almost always fits the socket's send buffer, so each part is sent
// at once (send_now) and the fiber never suspends for it: an asynchronous
// write that completes at once still parks the fiber until Asio runs its
// handler from the queue — two fiber switches and a trip through the
// scheduler for every query. Only what the socket does not take at once goes
// through async_write_some, which waits for room under the fiber's deadline.
// A loop of async_write_some, not boost::asio::async_write: the composed
// operation puts a cancellation_state into the fiber's cancellation slot, a
// handler of another size than a plain read's, so Asio could not reuse the
// slot's memory and every query paid an aligned malloc and a free for it
// (~250 instructions, docs/BENCHMARKS.md).
void tcp_stream::write_parts(std::string_view first, std::string_view second) {
    if (!socket_.is_open()) fail_not_open();
    // Every write is a cancellation point, also one that does not wait.
    tw::check_cancelled();
    while (!first.empty() || !second.empty()) {
        boost::system::error_code ec;
        std::size_t n = first.empty() ? send_now(socket_.native_handle(), second, {}, ec)
                                      : send_now(socket_.native_handle(), first, second, ec);
        if (!ec && n == 0) {
            const std::array<boost::asio::const_buffer, 2> bufs{boost::asio::buffer(first.data(), first.size()),
                                                                boost::asio::buffer(second.data(), second.size())};
            n = second.empty() ? socket_.async_write_some(bufs[0], tw::yield[ec]) : socket_.async_write_some(bufs, tw::yield[ec]);
            // No progress without an error cannot happen for a non-empty send;
            // treat it as a failure rather than loop (async_write gives up too).
            if (!ec && n == 0) ec = boost::asio::error::broken_pipe;
        }
        if (ec) fail(ec, "write failed");
        sent_ = true;
        const std::size_t from_first = std::min(n, first.size());
        first.remove_prefix(from_first);
        second.remove_prefix(n - from_first);
    }
}

std::size_t tcp_stream::fill() {
    if (!socket_.is_open()) fail_not_open();
    if (pos_ == size_) {
        pos_ = size_ = 0;
    } else if (pos_ >= k_compact_at || (pos_ > 0 && size_ == cap_)) {
        std::memmove(buf_.get(), buf_.get() + pos_, size_ - pos_);
        size_ -= pos_;
        pos_ = 0;
    }
    if (size_ == cap_) {
        // Start small (most replies are one short line) and double up to what
        // the caller's limits allow; those limits bound it, not this.
        const std::size_t cap = cap_ ? cap_ * 2 : k_first_chunk;
        auto bigger = std::make_unique_for_overwrite<char[]>(cap);
        if (size_) std::memcpy(bigger.get(), buf_.get(), size_);
        buf_ = std::move(bigger);
        cap_ = cap;
    }
    const std::size_t room = std::min(cap_ - size_, k_read_chunk);
    boost::system::error_code ec;
    // On timeout or cancellation nothing was added: what was buffered stays.
    // Right after a request was sent, its reply is rarely there yet: a read
    // started at once would first try the socket and find nothing (a failed
    // system call per exchange); started after the worker's queued work, it
    // usually finds the reply (docs/BENCHMARKS.md, "Sixth run").
    const auto token = std::exchange(sent_, false) ? tw::yield[ec].queued() : tw::yield[ec];
    const std::size_t n = socket_.async_read_some(boost::asio::buffer(buf_.get() + size_, room), token);
    size_ += n;
    if (ec) fail(ec, ec == boost::asio::error::eof ? "connection closed by the peer" : "read failed");
    return n;
}

// Out of line, like the other failure paths below: the error's temporaries
// would otherwise enlarge the stack frame of every read and write, and with
// thousands of fibers each byte of it is a cache miss per call.
void tcp_stream::fail(const boost::system::error_code& ec, const char* what) {
    close(ec.message());
    throw connection_error(address_, ec, what);
}

void tcp_stream::fail_not_open() const {
    throw connection_error(address_, std::make_error_code(std::errc::not_connected), "not connected");
}

void tcp_stream::fail_line_too_long(std::size_t max_line) {
    close("line too long");
    throw protocol_error(address_, "reply line longer than " + std::to_string(max_line) + " bytes; connection closed");
}

void tcp_stream::fill_to(std::size_t n) {
    require_open();
    while (size_ - pos_ < n) fill();
}

void tcp_stream::consume(std::size_t n) noexcept { pos_ = std::min(size_, pos_ + n); }

void tcp_stream::require_open() const {
    if (!socket_.is_open()) fail_not_open();
}

std::size_t tcp_stream::read_some(std::span<char> out) {
    require_open();
    if (out.empty()) return 0;
    if (pos_ == size_) fill();
    const auto n = std::min(out.size(), size_ - pos_);
    std::memcpy(out.data(), buf_.get() + pos_, n);
    pos_ += n;
    return n;
}

std::string tcp_stream::read_line(std::size_t max_line) {
    require_open();
    std::size_t scanned = 0;
    for (;;) {
        const auto data = buffered_data();
        const auto nl = data.find('\n', scanned);
        if (nl != std::string_view::npos && nl <= max_line) {
            auto end = nl;
            if (end > 0 && data[end - 1] == '\r') --end;
            std::string line(data.substr(0, end));
            consume(nl + 1);
            return line;
        }
        if (data.size() > max_line) fail_line_too_long(max_line);
        scanned = data.size();
        fill();
    }
}

std::string tcp_stream::read_exactly(std::size_t n) {
    fill_to(n);
    std::string out(buffered_data().substr(0, n));
    consume(n);
    return out;
}

}  // namespace tw
