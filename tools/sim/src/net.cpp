#include "net.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <list>
#include <utility>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include <tw/deadline.hpp>
#include <tw/errors.hpp>
#include <tw/run.hpp>
#include <tw/sim/physics.hpp>
#include <tw/yield.hpp>

namespace tw::sim::detail {

namespace asio = boost::asio;

void owned_fd::reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

std::string format_host(const asio::ip::address& a) { return a.is_v6() ? "[" + a.to_string() + "]" : a.to_string(); }

std::string format_endpoint(const tcp::endpoint& ep) { return format_host(ep.address()) + ":" + std::to_string(ep.port()); }

owned_fd bind_socket(const tcp::endpoint& ep, port_use use) {
    auto fail = [&](const char* what) {
        const std::error_code code(errno, std::system_category());  // before anything else can touch errno
        throw tw::io_error(code, std::string(what) + " " + format_endpoint(ep));
    };
    owned_fd fd(::socket(ep.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) fail("cannot create a socket for");
    int one = 1;
    if (use != port_use::flap_hold) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (use == port_use::flap_listen || use == port_use::flap_hold)
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (ep.address().is_v6()) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd.get(), ep.data(), static_cast<socklen_t>(ep.size())) != 0) fail("cannot bind");
    const bool listen = use == port_use::listen || use == port_use::flap_listen;
    if (listen && ::listen(fd.get(), SOMAXCONN) != 0) fail("cannot listen on");
    return fd;
}

std::uint16_t local_port(const owned_fd& fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        throw tw::io_error(std::error_code(errno, std::system_category()), "getsockname");
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

bool wait_for_request(tcp::socket& s, const server_options& o) {
    boost::system::error_code ec;
    try {
        tw::deadline_scope d(or_forever(o.idle_timeout));
        s.async_wait(tcp::socket::wait_read, tw::yield[ec]);
    } catch (const tw::timeout_error&) {
        return false;
    }
    return !ec;
}

bool write_bounded(tcp::socket& s, std::string_view bytes, const server_options& o) {
    // A reply almost always fits the socket's send buffer: sent at once, the
    // fiber does not suspend (an Asio write that completes at once still
    // parks it until its handler runs from the queue). What the socket does
    // not take goes through the bounded asynchronous write below.
    // Through syscall(2): send(2) is a cancellation point, which glibc wraps
    // in two atomic updates per call in a process with threads.
    const long sent = ::syscall(SYS_sendto, s.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL, nullptr, 0);
    if (sent > 0) bytes.remove_prefix(static_cast<std::size_t>(sent));
    if (bytes.empty()) return true;
    boost::system::error_code ec;
    bool timed_out = false;
    try {
        tw::deadline_scope d(or_forever(o.idle_timeout));
        asio::async_write(s, asio::buffer(bytes.data(), bytes.size()), tw::yield[ec]);
    } catch (const tw::timeout_error&) {
        timed_out = true;
    }
    if (!timed_out && !ec) return true;
    s.close(ec);  // with the unread reply: a reset, which is what such a peer gets
    return false;
}

namespace {

bool write_all(tcp::socket& s, std::string_view bytes, double bytes_per_s, const server_options& o) {
    if (bytes_per_s <= 0) return write_bounded(s, bytes, o);
    // About 20 writes per second, each followed by the pause the rate asks for.
    // The idle timeout applies to each write, not to our own pauses.
    const auto chunk = static_cast<std::size_t>(std::max(1.0, bytes_per_s / 20));
    for (std::size_t at = 0; at < bytes.size(); at += chunk) {
        auto n = std::min(chunk, bytes.size() - at);
        if (!write_bounded(s, bytes.substr(at, n), o)) return false;
        tw::sleep_for(std::chrono::duration<double>(static_cast<double>(n) / bytes_per_s));
    }
    return true;
}

}  // namespace

bool send_reply(tcp::socket& s, std::string_view bytes, fault_state& st, framing how, const server_options& o) {
    const auto& f = st.faults;
    const std::uint64_t k = st.replies++;
    const auto key = [&](stream what) {
        return counter_hash({st.seed, static_cast<std::uint64_t>(what), static_cast<std::uint64_t>(st.kind), st.instance, k});
    };
    auto delay = f.latency;
    if (f.jitter.count() > 0)
        delay += std::chrono::nanoseconds(static_cast<std::int64_t>(unit_interval(key(stream::jitter)) * static_cast<double>(f.jitter.count())));
    if (delay.count() > 0) tw::sleep_for(delay);
    if (f.stall) return true;  // read, never answered
    std::string garbage;
    if (f.garbage) {
        // Bytes with the high bit set: not ASCII, not UTF-8, not a frame.
        garbage.resize(std::max<std::size_t>(bytes.size(), 8));
        const auto g = key(stream::garbage);
        for (std::size_t i = 0; i < garbage.size(); ++i)
            garbage[i] = static_cast<char>(0x80 | (counter_hash({g, i}) & 0x7f));
        if (how == framing::line) garbage.back() = '\n';
        bytes = garbage;
    }
    if (f.disconnect) {
        if (write_all(s, bytes.substr(0, bytes.size() / 2), f.bytes_per_s, o)) {
            boost::system::error_code ec;
            s.shutdown(tcp::socket::shutdown_both, ec);
            s.close(ec);
        }
        return false;
    }
    if (!write_all(s, bytes, f.bytes_per_s, o)) return false;
    return !(f.garbage && how != framing::line);
}

void drain_and_close(tcp::socket& s, std::chrono::milliseconds limit, std::size_t max_bytes) {
    boost::system::error_code ec;
    s.shutdown(tcp::socket::shutdown_send, ec);
    std::array<char, 16384> buf;
    std::size_t total = 0;
    bool timed_out = false;
    {
        tw::deadline_scope d(limit);
        while (total < max_bytes) {
            std::size_t n = 0;
            try {
                n = s.async_read_some(asio::buffer(buf), tw::yield[ec]);
            } catch (const tw::timeout_error&) {
                timed_out = true;
            }
            if (timed_out || ec) break;
            total += n;
        }
    }
    s.close(ec);
}

namespace {

// One connection in port_plan::open, from the accept until this (or the
// object it was moved to) is destroyed.
class open_count {
public:
    explicit open_count(std::atomic<std::size_t>& n) noexcept : n_(&n) { n.fetch_add(1, std::memory_order_relaxed); }
    open_count(open_count&& o) noexcept : n_(std::exchange(o.n_, nullptr)) {}
    open_count& operator=(open_count&&) = delete;
    ~open_count() {
        if (n_) n_->fetch_sub(1, std::memory_order_relaxed);
    }

private:
    std::atomic<std::size_t>* n_;
};

}  // namespace

void serve_port(port_plan& p, const std::function<void(tcp::socket&)>& on_connection) {
    const instance_faults none;
    const instance_faults& f = p.faults ? *p.faults : none;
    auto ex = tw::this_fiber::executor();
    if (f.refuse) {
        // The bound, non-listening socket refuses connections and keeps the
        // port ours; nothing to do until cancelled.
        for (;;) tw::sleep_for(std::chrono::hours(24));
    }
    // Connection fibers are children of this one: cancelling this fiber
    // cancels them, and the list's destructor (a task handle's) waits for them.
    std::list<tw::task<void>> conns;
    std::size_t accepted = 0, pruned_at = 64;
    bool emfile_logged = false, rebind_logged = false;
    for (;;) {
        tcp::acceptor acc(ex);
        acc.assign(p.endpoint.protocol(), p.fd.release());
        const auto up_until = f.flaps() ? tw::clock::now() + f.flap_up : tw::clock::time_point::max();
        for (;;) {
            tcp::socket s(ex);
            boost::system::error_code ec;
            bool down = false;
            {
                tw::deadline_scope d(up_until);
                try {
                    acc.async_accept(s, tw::yield[ec]);
                } catch (const tw::timeout_error&) {
                    down = true;
                }
            }
            if (down) break;
            if (ec) {
                // Out of descriptors (or a transient error): back off instead
                // of spinning; the pending connection waits in the backlog.
                if (!emfile_logged) spdlog::warn("tw sim: {}: accept failed: {}", p.name, ec.message());
                emfile_logged = true;
                tw::sleep_for(std::chrono::milliseconds(50));
                continue;
            }
            if (p.max_connections > 0 && p.open.load(std::memory_order_relaxed) >= p.max_connections) {
                // Over the cap: closed at once, so idle or hostile clients
                // cannot take every descriptor of the process.
                s.close(ec);
                continue;
            }
            // Replies go out when written, as an instrument's do: no Nagle delay
            // for a reply written in parts (slow faults, multi-part frames).
            s.set_option(tcp::no_delay(true), ec);
            if (conns.size() >= pruned_at) {
                conns.remove_if([](const tw::task<void>& t) { return t.done(); });
                pruned_at = std::max<std::size_t>(64, 2 * conns.size());
            }
            // The count is owned by the fiber's function, not by its body: a
            // fiber cancelled before it starts (the board going down right
            // after this accept) never runs its body, and its count must
            // still drop (a soak of flapping boards saw it stay up).
            open_count counted(p.open);
            conns.push_back(tw::spawn(tw::spawn_options{.name = p.name + " connection " + std::to_string(++accepted)},
                                      [&on_connection, counted = std::move(counted), s = std::move(s)]() mutable {
                                          // Locals, so that both end with the fiber, not when its task
                                          // handle is pruned; the count first, so that it drops only
                                          // after the socket is closed.
                                          const open_count count = std::move(counted);
                                          tcp::socket sock = std::move(s);
                                          try {
                                              on_connection(sock);
                                          } catch (const tw::cancelled_error&) {
                                          } catch (const std::exception& e) {
                                              spdlog::debug("tw sim: connection ended: {}", e.what());
                                          }
                                      }));
        }
        // Down (flap): the instrument "loses power": every connection drops
        // and connecting is refused until it comes back. The port stays bound
        // throughout — a second socket takes it before the listener closes and
        // lets go only once the next listener is bound. While a port is not
        // bound at all, any connection made on this host may get it as its
        // ephemeral source port, and the board could then never listen again
        // (a soak of 50 flapping boards lost 3 that way).
        owned_fd held;
        try {
            held = bind_socket(p.endpoint, port_use::flap_hold);
        } catch (const tw::io_error& e) {
            spdlog::warn("tw sim: {}: cannot hold the port while down: {}", p.name, e.what());
        }
        acc.close();
        conns.clear();
        tw::sleep_for(f.flap_down);
        // Up again. Should binding fail anyway, stay down (refusing) and
        // retry for as long as it takes: the fault says the board comes back.
        for (;;) {
            try {
                p.fd = bind_socket(p.endpoint, port_use::flap_listen);
                break;
            } catch (const tw::io_error& e) {
                if (!rebind_logged) spdlog::warn("tw sim: {}: {}; retrying", p.name, e.what());
                rebind_logged = true;
            }
            tw::sleep_for(std::chrono::milliseconds(20));
        }
    }
}

}  // namespace tw::sim::detail
