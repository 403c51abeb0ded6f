#include <tw/sim/simulator.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <stdexcept>

#include <boost/json.hpp>
#include <fmt/core.h>

#include <tw/deadline.hpp>
#include <tw/duration.hpp>
#include <tw/run.hpp>
#include <tw/runtime.hpp>
#include <tw/task.hpp>

#include "board.hpp"
#include "net.hpp"
#include "servers.hpp"

namespace tw::sim {

using detail::tcp;

void validate(const config& c) {
    auto bad = [](const std::string& m) { throw std::invalid_argument(m); };
    if (c.channels > k_max_resonators)
        bad(fmt::format("--channels {}: at most {} channels (resonators) per board", c.channels, k_max_resonators));
    if (!(c.fmin > 0) || !(c.fmax > c.fmin)) bad("the board band needs 0 < FMIN < FMAX");
    if (c.scpi_ports > 0 && c.scpi_ports > c.scpi)
        bad(fmt::format("--scpi-ports {} is more than the {} SCPI instruments to serve", c.scpi_ports, c.scpi));
    // Counts are capped before anything adds or multiplies them (the port
    // ranges below, the descriptor arithmetic of fit_fd_limit): a count of
    // SIZE_MAX (a "-1" that wrapped somewhere) must be an error, not a sum
    // that overflows into something small.
    auto check_count = [&](const char* what, std::size_t n) {
        if (n > k_max_instruments) bad(fmt::format("{} {}: at most {} per simulator", what, n, k_max_instruments));
    };
    check_count("--boards", c.boards);
    check_count("--scpi", c.scpi);
    check_count("--modbus", c.modbus);
    auto check_range = [&](const char* what, std::uint16_t base, std::size_t n) {
        if (base != 0 && n > 0 && n > std::size_t{65536} - base)
            bad(fmt::format("{} {}+{} runs past port 65535", what, base, n));
    };
    check_range("--port", c.port, c.boards);
    check_range("--scpi-port", c.scpi_port, c.scpi_ports ? c.scpi_ports : c.scpi);
    check_range("--modbus-port", c.modbus_port, c.modbus);
    if (c.tau.count() <= 0) bad("--tau must be greater than 0");
    if (c.idle_timeout.count() < 0) bad("--idle-timeout must not be negative (0: never)");
    if (c.request_timeout.count() < 0) bad("--request-timeout must not be negative (0: no limit)");
    boost::system::error_code ec;
    boost::asio::ip::make_address(c.bind, ec);
    if (ec) bad(fmt::format("--bind '{}' is not an IP address", c.bind));
    for (const auto& f : c.faults) {
        std::size_t n = f.target == service::tuber ? c.boards : f.target == service::scpi ? c.scpi : c.modbus;
        (void)f.select(n, c.seed);  // throws for an index out of range
    }
}

namespace {

// Descriptors this process may still open: raises the soft limit to the hard
// one, then subtracts what is open and a small reserve.
std::size_t available_fds() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return SIZE_MAX;
    if (rl.rlim_cur < rl.rlim_max) {
        rlimit raised = rl;
        raised.rlim_cur = rl.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    if (rl.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
    std::size_t open = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec))
        ++open;
    const std::size_t reserve = 32;
    return rl.rlim_cur > open + reserve ? static_cast<std::size_t>(rl.rlim_cur) - open - reserve : 0;
}

std::string plural(std::size_t n, const char* one, const char* many) { return fmt::format("{} {}", n, n == 1 ? one : many); }

}  // namespace

struct simulator::impl {
    config cfg;
    tw::runtime& rt;
    boost::asio::ip::address address;
    std::vector<board_truth> truth;
    std::vector<std::string> warnings;
    detail::server_options opts;

    std::vector<std::unique_ptr<detail::board>> boards;
    std::vector<std::unique_ptr<detail::temperature_controller>> controllers;
    std::vector<std::unique_ptr<detail::compressor>> compressors;
    std::deque<detail::fault_state> tuber_faults, scpi_faults, modbus_faults;
    std::vector<instance_faults> scpi_instance_faults;  // pooled SCPI: per instrument index
    // Pooled SCPI (scpi_ports > 0): which instrument slots of each port are taken.
    struct slot_pool {
        std::vector<std::size_t> indices;  // instrument indices this port serves
        std::vector<bool> busy;
    };
    std::deque<slot_pool> pools;

    std::deque<detail::port_plan> tuber_ports, scpi_ports, modbus_ports;
    std::vector<tw::task<void>> servers;
    bool stopped = false;

    impl(config c, tw::runtime& r) : cfg(std::move(c)), rt(r) {}

    tcp::endpoint endpoint(std::uint16_t base, std::size_t i) const {
        return {address, static_cast<std::uint16_t>(base ? base + i : 0)};
    }

    // The fault state of one instrument; a deque, so the address stays valid
    // for the servers that point at it.
    detail::fault_state& add_fault_state(std::deque<detail::fault_state>& list, instance_faults f, service kind, std::size_t i) {
        auto& fs = list.emplace_back();
        fs.faults = std::move(f);
        fs.seed = cfg.seed;
        fs.kind = kind;
        fs.instance = i;
        return fs;
    }

    detail::port_plan& bind(std::deque<detail::port_plan>& ports, std::string name, tcp::endpoint ep, const instance_faults* f,
                            std::size_t max_connections) {
        using detail::port_use;
        auto& p = ports.emplace_back();
        p.name = std::move(name);
        p.fd = detail::bind_socket(ep, f && f->refuse ? port_use::refuse : f && f->flaps() ? port_use::flap_listen : port_use::listen);
        p.endpoint = tcp::endpoint(address, detail::local_port(p.fd));
        p.faults = f;
        p.max_connections = max_connections;
        return p;
    }

    void fit_fd_limit();
    void start_tuber();
    void start_scpi();
    void start_modbus();
    void spawn_servers();
};

void simulator::impl::fit_fd_limit() {
    // One listening socket per port, one connection per instrument.
    const std::size_t scpi_fixed = cfg.scpi_ports;
    const std::size_t per_scpi = cfg.scpi_ports ? 1 : 2;
    const std::size_t need = 2 * cfg.boards + scpi_fixed + per_scpi * cfg.scpi + 2 * cfg.modbus;
    const std::size_t have = available_fds();
    if (need <= have) return;
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    const std::string why = fmt::format("the file-descriptor limit ({}) leaves room for {} of the {} descriptors needed "
                                        "(a listening socket per port and a connection per instrument)",
                                        static_cast<unsigned long long>(rl.rlim_cur), have, need);
    if (!cfg.fit_fd_limit) throw std::invalid_argument(why);
    const double scale = static_cast<double>(have > scpi_fixed ? have - scpi_fixed : 0) / static_cast<double>(need - scpi_fixed);
    auto shrink = [&](std::size_t& n, const char* what) {
        auto m = static_cast<std::size_t>(std::floor(static_cast<double>(n) * scale));
        if (m < n) warnings.push_back(fmt::format("tw sim: {}: serving {} of the {} requested", why, plural(m, what, what), n));
        n = m;
    };
    shrink(cfg.boards, "boards");
    shrink(cfg.scpi, "SCPI instruments");
    shrink(cfg.modbus, "compressors");
    if (cfg.scpi_ports > cfg.scpi) cfg.scpi_ports = cfg.scpi;
}

void simulator::impl::start_tuber() {
    auto faults = resolve_faults(cfg.faults, service::tuber, cfg.boards, cfg.seed, cfg.latency, cfg.jitter);
    const auto epoch = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < cfg.boards; ++i) {
        auto& fs = add_fault_state(tuber_faults, faults[i], service::tuber, i);
        auto& p = bind(tuber_ports, fmt::format("tuber[{}]", i), endpoint(cfg.port, i), &fs.faults, cfg.max_connections);
        detail::board_params bp;
        bp.index = i;
        bp.seed = cfg.seed;
        bp.channels = cfg.channels;
        bp.fmin = cfg.fmin;
        bp.fmax = cfg.fmax;
        bp.serial = fmt::format("TWB-{:05}", i);
        bp.epoch = epoch;
        auto res = make_resonators(cfg.seed, i, cfg.channels, cfg.fmin, cfg.fmax);
        truth.push_back({detail::format_endpoint(p.endpoint), p.endpoint.port(), bp.serial, res});
        boards.push_back(std::make_unique<detail::board>(std::move(bp), std::move(res)));
    }
}

void simulator::impl::start_scpi() {
    auto faults = resolve_faults(cfg.faults, service::scpi, cfg.scpi, cfg.seed, cfg.latency, cfg.jitter);
    const auto now = std::chrono::steady_clock::now();
    if (cfg.scpi_ports == 0) {
        for (std::size_t i = 0; i < cfg.scpi; ++i) {
            auto& fs = add_fault_state(scpi_faults, faults[i], service::scpi, i);
            bind(scpi_ports, fmt::format("scpi[{}]", i), endpoint(cfg.scpi_port, i), &fs.faults, cfg.max_connections);
            controllers.push_back(std::make_unique<detail::temperature_controller>(i, cfg.seed, cfg.tau, now));
        }
        return;
    }
    // N instruments on K ports: port k serves instruments k, k+K, k+2K, ...;
    // every connection is a fresh instrument of its own. Port-level faults
    // (refuse, flap) follow the port's first instrument.
    scpi_instance_faults = std::move(faults);
    for (std::size_t k = 0; k < cfg.scpi_ports; ++k) {
        auto& pool = pools.emplace_back();
        for (std::size_t i = k; i < cfg.scpi; i += cfg.scpi_ports) pool.indices.push_back(i);
        pool.busy.assign(pool.indices.size(), false);
        // As many connections as the port has instruments: each is one.
        bind(scpi_ports, fmt::format("scpi port {}", k), endpoint(cfg.scpi_port, k), &scpi_instance_faults[k], pool.indices.size());
    }
}

void simulator::impl::start_modbus() {
    auto faults = resolve_faults(cfg.faults, service::modbus, cfg.modbus, cfg.seed, cfg.latency, cfg.jitter);
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < cfg.modbus; ++i) {
        auto& fs = add_fault_state(modbus_faults, faults[i], service::modbus, i);
        bind(modbus_ports, fmt::format("modbus[{}]", i), endpoint(cfg.modbus_port, i), &fs.faults, cfg.max_connections);
        compressors.push_back(std::make_unique<detail::compressor>(i, cfg.seed, fs.faults.alarm, cfg.compressor_start,
                                                                   cfg.compressor_stop, now));
    }
}

void simulator::impl::spawn_servers() {
    // Root fibers (child = false): they serve until stop(), whatever the
    // deadline or cancellation of the fiber that constructed the simulator.
    auto start = [this](detail::port_plan& p, std::function<void(tcp::socket&)> handler) {
        servers.push_back(rt.spawn(tw::spawn_options{.name = p.name + " accept", .child = false},
                                   [&p, handler = std::move(handler)] { detail::serve_port(p, handler); }));
    };
    for (std::size_t i = 0; i < tuber_ports.size(); ++i)
        start(tuber_ports[i], [this, i](tcp::socket& s) { detail::serve_tuber_connection(s, *boards[i], tuber_faults[i], opts); });
    if (cfg.scpi_ports == 0) {
        for (std::size_t i = 0; i < scpi_ports.size(); ++i)
            start(scpi_ports[i], [this, i](tcp::socket& s) { detail::serve_scpi_connection(s, *controllers[i], scpi_faults[i], opts); });
    } else {
        for (std::size_t k = 0; k < scpi_ports.size(); ++k)
            start(scpi_ports[k], [this, k](tcp::socket& s) {
                auto& pool = pools[k];
                auto free = std::find(pool.busy.begin(), pool.busy.end(), false);
                if (free == pool.busy.end()) return;  // every instrument of this port is connected: close
                *free = true;
                const auto slot = static_cast<std::size_t>(free - pool.busy.begin());
                struct release {
                    std::vector<bool>& busy;
                    std::size_t slot;
                    ~release() { busy[slot] = false; }
                } guard{pool.busy, slot};
                const std::size_t index = pool.indices[slot];
                detail::temperature_controller tc(index, cfg.seed, cfg.tau, std::chrono::steady_clock::now());
                detail::fault_state fs;
                fs.faults = scpi_instance_faults[index];
                fs.seed = cfg.seed;
                fs.kind = service::scpi;
                fs.instance = index;
                detail::serve_scpi_connection(s, tc, fs, opts);
            });
    }
    for (std::size_t i = 0; i < modbus_ports.size(); ++i)
        start(modbus_ports[i], [this, i](tcp::socket& s) { detail::serve_modbus_connection(s, *compressors[i], modbus_faults[i], opts); });
}

simulator::simulator(config cfg, tw::runtime& rt) {
    validate(cfg);
    auto p = std::make_unique<impl>(std::move(cfg), rt);
    p->address = boost::asio::ip::make_address(p->cfg.bind);
    p->opts.idle_timeout = p->cfg.idle_timeout;
    p->opts.request_timeout = p->cfg.request_timeout;
    p->fit_fd_limit();
    p->start_tuber();
    p->start_scpi();
    p->start_modbus();
    p->spawn_servers();
    impl_ = std::move(p);
}

simulator::~simulator() { stop(); }

void simulator::stop() {
    if (!impl_ || impl_->stopped) return;
    impl_->stopped = true;
    for (auto& t : impl_->servers) t.cancel("simulator stopped");
    tw::cancellation_shield shield;  // on a fiber: finish waiting even if it is being cancelled
    for (auto& t : impl_->servers) try {
            t.wait();
        } catch (...) {
        }
    impl_->servers.clear();
    impl_->tuber_ports.clear();
    impl_->scpi_ports.clear();
    impl_->modbus_ports.clear();
}

const config& simulator::options() const noexcept { return impl_->cfg; }
const std::vector<board_truth>& simulator::boards() const noexcept { return impl_->truth; }
const std::vector<std::string>& simulator::warnings() const noexcept { return impl_->warnings; }

std::size_t simulator::open_connections() const noexcept {
    std::size_t n = 0;
    for (const auto* ports : {&impl_->tuber_ports, &impl_->scpi_ports, &impl_->modbus_ports})
        for (const auto& p : *ports) n += p.open.load(std::memory_order_relaxed);
    return n;
}

namespace {
std::vector<std::string> addresses(const std::deque<detail::port_plan>& ports) {
    std::vector<std::string> out;
    for (const auto& p : ports) out.push_back(detail::format_endpoint(p.endpoint));
    return out;
}
}  // namespace

std::vector<std::string> simulator::tuber_addresses() const {
    std::vector<std::string> out;
    for (const auto& b : impl_->truth) out.push_back(b.address);
    return out;
}

std::vector<std::string> simulator::scpi_addresses() const { return addresses(impl_->scpi_ports); }
std::vector<std::string> simulator::modbus_addresses() const { return addresses(impl_->modbus_ports); }

std::vector<std::string> simulator::startup_lines() const {
    std::vector<std::string> out;
    const auto host = detail::format_host(impl_->address);
    auto line = [&](const char* kind, std::uint16_t base, const std::vector<std::string>& addrs) {
        if (addrs.empty()) return;
        if (base != 0) {
            out.push_back(fmt::format("{} {}:{}+{}", kind, host, base, addrs.size()));
            return;
        }
        std::string s = kind;
        s += ' ';
        for (std::size_t i = 0; i < addrs.size(); ++i) {
            if (i) s += ',';
            s += addrs[i];
        }
        out.push_back(std::move(s));
    };
    line("tuber", impl_->cfg.port, tuber_addresses());
    line("scpi", impl_->cfg.scpi_port, scpi_addresses());
    line("modbus", impl_->cfg.modbus_port, modbus_addresses());
    return out;
}

std::string simulator::truth_json() const {
    namespace json = boost::json;
    json::array boards;
    for (const auto& b : impl_->truth) {
        json::array res;
        for (const auto& r : b.resonators) res.push_back(json::object{{"f", r.f}, {"q", r.q}, {"depth", r.depth}});
        boards.push_back(json::object{{"address", b.address}, {"serial", b.serial}, {"resonators", std::move(res)}});
    }
    return json::serialize(json::object{{"seed", impl_->cfg.seed}, {"boards", std::move(boards)}});
}

}  // namespace tw::sim
