#pragma once
// tw::sim::detail networking: bound sockets, the accept loop of one port (one
// fiber per connection, a cap on open connections; refuse and flap faults),
// the waits that bound a peer in time (idle and request timeouts), and the
// reply writer that applies an instrument's faults (latency, jitter, stall,
// disconnect, garbage, slow) to the bytes of one reply and drops a peer that
// does not take them.
//
// Thread safety: a port and its instrument(s) belong to the worker thread of
// the port's accept fiber; every connection fiber is that fiber's child and
// runs on the same thread.
// Errors: bind_socket throws tw::io_error naming the address; the serving
// functions end quietly when the peer goes away and rethrow cancellation.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

#include <tw/sim/fault.hpp>

namespace tw::sim::detail {

using tcp = boost::asio::ip::tcp;

// A socket file descriptor, closed on destruction unless released.
class owned_fd {
public:
    owned_fd() = default;
    explicit owned_fd(int fd) noexcept : fd_(fd) {}
    owned_fd(owned_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    owned_fd& operator=(owned_fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~owned_fd() { reset(); }
    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }
    void reset() noexcept;
    explicit operator bool() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

// What a bound socket is for.
//   listen       a listening port (SO_REUSEADDR: restarts despite TIME_WAIT)
//   refuse       bound, not listening: connecting is refused (SO_REUSEADDR)
//   flap_listen  a listening port that flaps: also SO_REUSEPORT, so that a
//   flap_hold    socket (SO_REUSEPORT only, not listening) can keep the port
//                while it is down; without SO_REUSEADDR so that nobody else
//                can bind the port meanwhile.
enum class port_use { listen, refuse, flap_listen, flap_hold };

// Binds a TCP socket to ep for `use`.
owned_fd bind_socket(const tcp::endpoint& ep, port_use use);
std::uint16_t local_port(const owned_fd& fd);
// "127.0.0.1:9000", "[::1]:9000"
std::string format_endpoint(const tcp::endpoint& ep);
std::string format_host(const boost::asio::ip::address& a);

// The fault state of one instrument: its faults and a counter of replies
// (which keys the jitter and garbage draws).
struct fault_state {
    instance_faults faults;
    std::uint64_t seed = 1;
    service kind = service::tuber;
    std::uint64_t instance = 0;
    std::uint64_t replies = 0;
};

enum class framing { http, line, modbus };

// How long the servers wait for a peer; 0 means forever (see tw::sim::config).
struct server_options {
    std::chrono::nanoseconds idle_timeout{0};     // for a request's first byte; for the peer to take a reply
    std::chrono::nanoseconds request_timeout{0};  // from a request's first byte to its last
};

// A duration for tw::deadline_scope: 0 (or less) means no limit.
inline std::chrono::nanoseconds or_forever(std::chrono::nanoseconds d) {
    return d.count() > 0 ? d : std::chrono::nanoseconds::max();
}

// Waits until the peer sends something (or closes), within the idle timeout.
// Returns false when the connection should be closed: idle too long, or an
// error.
bool wait_for_request(tcp::socket& s, const server_options& o);

// Writes bytes the peer must take within the idle timeout. Returns false (and
// closes the socket) when it does not, or on an error: a client that sends
// requests but never reads would otherwise hold its replies in memory forever.
bool write_bounded(tcp::socket& s, std::string_view bytes, const server_options& o);

// Sends one reply through the faults, the writes bounded as write_bounded's.
// Returns false when the connection must now be closed (disconnect, garbage on
// a stream protocol, a peer that does not read).
bool send_reply(tcp::socket& s, std::string_view bytes, fault_state& f, framing how, const server_options& o);

// One listening port: its endpoint and bound socket (listening unless the
// instrument refuses connections).
struct port_plan {
    std::string name;  // for fiber names: "tuber[3]"
    tcp::endpoint endpoint;
    owned_fd fd;
    const instance_faults* faults = nullptr;  // refuse / flap
    std::size_t max_connections = 0;          // open at once; 0: no cap
    // Connections being served; written by the port's worker, read anywhere.
    std::atomic<std::size_t> open{0};
};

// The accept loop of one port, run on its own fiber until cancelled: accepts
// connections and runs on_connection(socket) on a child fiber per connection;
// a connection beyond max_connections is closed at once; flaps and refuses as
// the port's faults say. Waits for its connection fibers before returning.
void serve_port(port_plan& p, const std::function<void(tcp::socket&)>& on_connection);

// Reads and discards what the peer still sends, for at most `limit` time and
// `max_bytes`, so that a reply written just before closing is not lost to a
// reset (lingering close).
void drain_and_close(tcp::socket& s, std::chrono::milliseconds limit, std::size_t max_bytes);

}  // namespace tw::sim::detail
