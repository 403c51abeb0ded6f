#include <tw/drivers/modbus/client.hpp>
#include <tw/drivers/modbus/compressor.hpp>

#include <bit>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <fmt/core.h>

#include <tw/deadline.hpp>
#include <tw/yield.hpp>

namespace tw::modbus {

namespace {

constexpr std::size_t k_header = 7;        // MBAP: tid, protocol, length, unit
constexpr std::size_t k_max_length = 254;  // MBAP length field: unit + PDU (253)

void put16(std::string& s, std::uint16_t v) {
    s += static_cast<char>(v >> 8);
    s += static_cast<char>(v & 0xff);
}
std::uint16_t get16(std::string_view s, std::size_t at) {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(s[at]) << 8) | static_cast<unsigned char>(s[at + 1]));
}

// One request waiting for its reply; lives on the requesting fiber's stack.
struct pending {
    explicit pending(std::uint16_t t) : tid(t) {}
    std::uint16_t tid;
    tw::semaphore wake{0, "modbus reply"};
    bool done = false;           // under connection::mtx
    std::string pdu;             // the reply: function byte + data
    std::exception_ptr error;    // or why there is none
};

}  // namespace

struct client::connection {
    explicit connection(tcp_stream s) : stream(std::move(s)), write_lock(stream.address()) {}

    tcp_stream stream;
    tw::device_lock write_lock;  // one frame on the wire at a time
    std::mutex mtx;              // guards everything below (held briefly)
    std::map<std::uint16_t, pending*> in_flight;
    bool reader = false;         // a fiber is reading replies for everybody
    std::atomic<bool> broken{false};
    std::exception_ptr broken_error;

    // Another waiting fiber takes over reading. Call with mtx held.
    void hand_over_locked() {
        for (auto& [tid, p] : in_flight)
            if (!p->done) {
                p->wake.release();
                return;
            }
    }

    // Fails every request in flight with `e` and closes the socket (on its own
    // executor: the reader may be suspended in a read on it).
    void fail_all(std::exception_ptr e, std::shared_ptr<connection> self) {
        {
            std::lock_guard g(mtx);
            if (broken.exchange(true)) return;
            broken_error = e;
            for (auto& [tid, p] : in_flight) {
                if (p->done) continue;
                p->done = true;
                p->error = e;
                p->wake.release();
            }
        }
        boost::asio::post(stream.socket().get_executor(), [self = std::move(self)] { self->stream.close("broken"); });
    }
};

std::string exception_name(int code) {
    switch (code) {
        case 1: return "illegal function";
        case 2: return "illegal data address";
        case 3: return "illegal data value";
        case 4: return "server device failure";
        case 5: return "acknowledge";
        case 6: return "server device busy";
        case 8: return "memory parity error";
        case 10: return "gateway path unavailable";
        case 11: return "gateway target device failed to respond";
        default: return "exception " + std::to_string(code);
    }
}

float to_float(std::uint16_t high, std::uint16_t low) noexcept {
    return std::bit_cast<float>((static_cast<std::uint32_t>(high) << 16) | low);
}

std::array<std::uint16_t, 2> from_float(float value) noexcept {
    const auto u = std::bit_cast<std::uint32_t>(value);
    return {static_cast<std::uint16_t>(u >> 16), static_cast<std::uint16_t>(u & 0xffff)};
}

std::vector<float> to_floats(std::span<const std::uint16_t> r) {
    if (r.size() % 2) throw std::invalid_argument("to_floats: an odd number of registers (" + std::to_string(r.size()) + ")");
    std::vector<float> out;
    for (std::size_t i = 0; i < r.size(); i += 2) out.push_back(to_float(r[i], r[i + 1]));
    return out;
}

frame_header parse_frame_header(const std::string& address, std::string_view head) {
    if (head.size() < k_header)
        throw tw::protocol_error(address, fmt::format("Modbus frame header of {} bytes, expected {}", head.size(), k_header));
    const auto tid = get16(head, 0), proto = get16(head, 2), len = get16(head, 4);
    if (proto != 0 || len < 2 || len > k_max_length)
        throw tw::protocol_error(address, fmt::format("malformed Modbus frame header (protocol {}, length {})", proto, len));
    return {tid, len};
}

std::string parse_reply_pdu(const std::string& address, std::uint8_t function, std::string_view pdu) {
    if (pdu.empty()) throw tw::protocol_error(address, "empty Modbus reply");
    const auto fn = static_cast<std::uint8_t>(pdu[0]);
    if (fn == (function | 0x80)) {
        const int code = pdu.size() > 1 ? static_cast<unsigned char>(pdu[1]) : 0;
        const auto name = exception_name(code);
        throw tw::protocol_error(address, fmt::format("function {}: exception {} ({})", function, code, name), code, name);
    }
    if (fn != function)
        throw tw::protocol_error(address, fmt::format("reply for function {} to a request for function {}", fn, function));
    return std::string(pdu.substr(1));
}

std::vector<bool> parse_bits(const std::string& address, std::uint8_t fn, std::uint16_t count, std::string_view r) {
    if (r.empty() || static_cast<unsigned char>(r[0]) != (count + 7) / 8 || r.size() != 1 + std::size_t((count + 7) / 8))
        throw tw::protocol_error(address, fmt::format("function {}: reply of {} bytes for {} bits", fn, r.size(), count));
    std::vector<bool> out(count);
    for (std::size_t i = 0; i < count; ++i) out[i] = (static_cast<unsigned char>(r[1 + i / 8]) >> (i % 8)) & 1;
    return out;
}

std::vector<std::uint16_t> parse_registers(const std::string& address, std::uint8_t fn, std::uint16_t count, std::string_view r) {
    if (r.empty() || static_cast<unsigned char>(r[0]) != 2 * count || r.size() != 1 + 2 * std::size_t(count))
        throw tw::protocol_error(address, fmt::format("function {}: reply of {} bytes for {} registers", fn, r.size(), count));
    std::vector<std::uint16_t> out(count);
    for (std::size_t i = 0; i < count; ++i) out[i] = get16(r, 1 + 2 * i);
    return out;
}

client::client(std::string address, options opts)
    : address_(std::move(address)), opts_(std::move(opts)), connect_lock_(address_) {
    opts_.log = opts_.log.with_format(command_log::format::hex);
}

client::~client() {
    std::shared_ptr<connection> c;
    {
        std::lock_guard g(conn_mtx_);
        c = std::move(conn_);
    }
}

void client::close() {
    std::shared_ptr<connection> c;
    {
        std::lock_guard g(conn_mtx_);
        c = std::move(conn_);
    }
    if (c) c->fail_all(std::make_exception_ptr(tw::connection_error(address_, std::make_error_code(std::errc::not_connected), "closed by the client")), c);
}

std::shared_ptr<client::connection> client::get_connection() {
    {
        std::lock_guard g(conn_mtx_);
        if (conn_ && !conn_->broken) return conn_;
    }
    std::lock_guard connecting(connect_lock_);
    {
        std::lock_guard g(conn_mtx_);
        if (conn_ && !conn_->broken) return conn_;
    }
    auto c = std::make_shared<connection>(tcp_stream::connect(address_, opts_.reconnect, opts_.log));
    std::lock_guard g(conn_mtx_);
    conn_ = c;
    return c;
}

std::string client::transact(std::uint8_t function, std::string_view data) {
    try {
        return transact_once(function, data);
    } catch (const tw::timeout_error&) {
        throw tw::timeout_error(fmt::format("{}: function {}: no reply in time", address_, function));
    }
}

std::string client::transact_once(std::uint8_t function, std::string_view data) {
    if (data.size() + 2 > k_max_length) throw std::invalid_argument("modbus: request data too long");
    tw::deadline_scope d(opts_.timeout);
    auto conn = get_connection();

    // Register under a transaction id not in flight on this connection.
    std::optional<pending> p;
    {
        std::lock_guard g(conn->mtx);
        if (conn->broken) std::rethrow_exception(conn->broken_error);
        auto tid = next_tid_.fetch_add(1, std::memory_order_relaxed);
        while (conn->in_flight.count(tid)) tid = next_tid_.fetch_add(1, std::memory_order_relaxed);
        p.emplace(tid);
        conn->in_flight[tid] = &*p;
    }
    // Leaving early: if a hand-over went to us, pass it on.
    auto unregister = [&] {
        std::lock_guard g(conn->mtx);
        conn->in_flight.erase(p->tid);
        if (!conn->reader) conn->hand_over_locked();
    };

    std::string frame;
    put16(frame, p->tid);
    put16(frame, 0);
    put16(frame, static_cast<std::uint16_t>(data.size() + 2));
    frame += static_cast<char>(opts_.unit);
    frame += static_cast<char>(function);
    frame += data;

    try {
        std::lock_guard w(conn->write_lock);
        if (conn->broken) std::rethrow_exception(conn->broken_error);
        opts_.log.sent(address_, frame);
        boost::system::error_code ec;
        try {
            boost::asio::async_write(conn->stream.socket(), boost::asio::buffer(frame), tw::yield[ec]);
        } catch (...) {
            // Part of the frame may be on the wire: nobody can use this connection now.
            conn->fail_all(std::make_exception_ptr(tw::connection_error(
                               address_, std::make_error_code(std::errc::connection_aborted), "a request was cut short")),
                           conn);
            throw;
        }
        if (ec) {
            auto e = tw::connection_error(address_, ec, "write failed");
            conn->fail_all(std::make_exception_ptr(e), conn);
            throw e;
        }
    } catch (...) {
        unregister();
        throw;
    }

    // Wait for the reply: read replies ourselves while nobody else does.
    for (;;) {
        std::unique_lock lk(conn->mtx);
        if (p->done) break;
        if (!conn->reader) {
            conn->reader = true;
            lk.unlock();
            try {
                for (;;) {
                    {
                        std::lock_guard g(conn->mtx);
                        if (p->done) break;
                    }
                    auto& s = conn->stream;
                    s.fill_to(k_header);
                    const auto head = s.buffered_data().substr(0, k_header);
                    frame_header h;
                    try {
                        h = parse_frame_header(address_, head);
                    } catch (const tw::protocol_error&) {
                        opts_.log.received(address_, head);
                        throw;
                    }
                    const auto tid = h.transaction, len = h.length;
                    s.fill_to(6 + std::size_t(len));
                    auto whole = s.buffered_data().substr(0, 6 + std::size_t(len));
                    opts_.log.received(address_, whole);
                    std::string pdu(whole.substr(k_header));
                    s.consume(6 + std::size_t(len));
                    std::lock_guard g(conn->mtx);
                    auto it = conn->in_flight.find(tid);
                    if (it == conn->in_flight.end() || it->second->done) {
                        opts_.log.event(address_, fmt::format("dropped a reply to transaction {} nobody waits for", tid));
                        continue;
                    }
                    it->second->pdu = std::move(pdu);
                    it->second->done = true;
                    if (it->second != &*p) it->second->wake.release();
                }
            } catch (const tw::timeout_error&) {
                // What was read stays buffered in the stream: the next reader
                // continues from there.
                std::lock_guard g(conn->mtx);
                conn->reader = false;
                conn->in_flight.erase(p->tid);
                conn->hand_over_locked();
                throw;
            } catch (const tw::cancelled_error&) {
                std::lock_guard g(conn->mtx);
                conn->reader = false;
                conn->in_flight.erase(p->tid);
                conn->hand_over_locked();
                throw;
            } catch (...) {
                conn->fail_all(std::current_exception(), conn);
                std::lock_guard g(conn->mtx);
                conn->reader = false;
                conn->in_flight.erase(p->tid);
                throw;
            }
            std::lock_guard g(conn->mtx);
            conn->reader = false;
            conn->in_flight.erase(p->tid);
            conn->hand_over_locked();
            break;
        }
        lk.unlock();
        try {
            p->wake.acquire();
        } catch (...) {
            unregister();
            throw;
        }
    }
    {
        std::lock_guard g(conn->mtx);
        conn->in_flight.erase(p->tid);
    }
    if (p->error) std::rethrow_exception(p->error);

    return parse_reply_pdu(address_, function, p->pdu);
}

namespace {

std::string read_request(std::uint16_t address, std::uint16_t count) {
    std::string d;
    put16(d, address);
    put16(d, count);
    return d;
}

}  // namespace

static std::vector<bool> read_bits(client& c, std::uint8_t fn, std::uint16_t address, std::uint16_t count) {
    if (count == 0 || count > 2000) throw std::invalid_argument("modbus: 1 to 2000 coils or inputs per read");
    return parse_bits(c.address(), fn, count, c.transact(fn, read_request(address, count)));
}

static std::vector<std::uint16_t> read_registers(client& c, std::uint8_t fn, std::uint16_t address, std::uint16_t count) {
    if (count == 0 || count > 125) throw std::invalid_argument("modbus: 1 to 125 registers per read");
    return parse_registers(c.address(), fn, count, c.transact(fn, read_request(address, count)));
}

std::vector<bool> client::read_coils(std::uint16_t address, std::uint16_t count) {
    return read_bits(*this, read_coils_fn, address, count);
}
std::vector<bool> client::read_discrete_inputs(std::uint16_t address, std::uint16_t count) {
    return read_bits(*this, read_discrete_inputs_fn, address, count);
}
std::vector<std::uint16_t> client::read_holding_registers(std::uint16_t address, std::uint16_t count) {
    return read_registers(*this, read_holding_registers_fn, address, count);
}
std::vector<std::uint16_t> client::read_input_registers(std::uint16_t address, std::uint16_t count) {
    return read_registers(*this, read_input_registers_fn, address, count);
}

static void expect_echo(client& c, std::uint8_t fn, const std::string& sent, const std::string& got) {
    if (got != sent) throw tw::protocol_error(c.address(), fmt::format("function {}: the reply does not echo the request", fn));
}

void client::write_coil(std::uint16_t address, bool value) {
    std::string d;
    put16(d, address);
    put16(d, value ? 0xff00 : 0x0000);
    expect_echo(*this, write_single_coil_fn, d, transact(write_single_coil_fn, d));
}

void client::write_register(std::uint16_t address, std::uint16_t value) {
    std::string d;
    put16(d, address);
    put16(d, value);
    expect_echo(*this, write_single_register_fn, d, transact(write_single_register_fn, d));
}

void client::write_coils(std::uint16_t address, const std::vector<bool>& values) {
    if (values.empty() || values.size() > 1968) throw std::invalid_argument("modbus: 1 to 1968 coils per write");
    std::string d;
    put16(d, address);
    put16(d, static_cast<std::uint16_t>(values.size()));
    const auto bytes = (values.size() + 7) / 8;
    d += static_cast<char>(bytes);
    std::string bits(bytes, '\0');
    for (std::size_t i = 0; i < values.size(); ++i)
        if (values[i]) bits[i / 8] = static_cast<char>(static_cast<unsigned char>(bits[i / 8]) | (1u << (i % 8)));
    d += bits;
    expect_echo(*this, write_multiple_coils_fn, d.substr(0, 4), transact(write_multiple_coils_fn, d));
}

void client::write_registers(std::uint16_t address, std::span<const std::uint16_t> values) {
    if (values.empty() || values.size() > 123) throw std::invalid_argument("modbus: 1 to 123 registers per write");
    std::string d;
    put16(d, address);
    put16(d, static_cast<std::uint16_t>(values.size()));
    d += static_cast<char>(2 * values.size());
    for (auto v : values) put16(d, v);
    expect_echo(*this, write_multiple_registers_fn, d.substr(0, 4), transact(write_multiple_registers_fn, d));
}

std::vector<float> client::read_input_floats(std::uint16_t address, std::uint16_t count) {
    return to_floats(read_input_registers(address, static_cast<std::uint16_t>(2 * count)));
}
std::vector<float> client::read_holding_floats(std::uint16_t address, std::uint16_t count) {
    return to_floats(read_holding_registers(address, static_cast<std::uint16_t>(2 * count)));
}
void client::write_floats(std::uint16_t address, std::span<const float> values) {
    std::vector<std::uint16_t> regs;
    for (float v : values) {
        auto w = from_float(v);
        regs.insert(regs.end(), w.begin(), w.end());
    }
    write_registers(address, regs);
}

// compressor

std::string_view to_string(compressor_state s) noexcept {
    switch (s) {
        case compressor_state::idle: return "idle";
        case compressor_state::starting: return "starting";
        case compressor_state::running: return "running";
        case compressor_state::stopping: return "stopping";
        case compressor_state::fault: return "fault";
    }
    return "unknown";
}

compressor::compressor(std::string address, options opts) : client_(std::move(address), std::move(opts)) {}

compressor_status compressor::status() {
    auto r = client_.read_input_registers(0, 20);
    compressor_status s;
    s.raw_state = r[0];
    s.state = static_cast<compressor_state>(r[0]);
    s.on = r[1] != 0;
    s.temperatures = {to_float(r[2], r[3]), to_float(r[4], r[5]), to_float(r[6], r[7]), to_float(r[8], r[9])};
    s.pressures = {to_float(r[10], r[11]), to_float(r[12], r[13])};
    s.motor_current = to_float(r[14], r[15]);
    s.hours = to_float(r[16], r[17]);
    s.warnings = r[18];
    s.alarms = r[19];
    return s;
}

compressor_state compressor::state() { return static_cast<compressor_state>(client_.read_input_registers(0, 1)[0]); }
bool compressor::is_on() { return client_.read_input_registers(1, 1)[0] != 0; }
compressor_temperatures compressor::temperatures() {
    auto f = client_.read_input_floats(2, 4);
    return {f[0], f[1], f[2], f[3]};
}
compressor_pressures compressor::pressures() {
    auto f = client_.read_input_floats(10, 2);
    return {f[0], f[1]};
}
double compressor::motor_current() { return client_.read_input_floats(14, 1)[0]; }
double compressor::hours() { return client_.read_input_floats(16, 1)[0]; }
std::uint16_t compressor::warnings() { return client_.read_input_registers(18, 1)[0]; }
std::uint16_t compressor::alarms() { return client_.read_input_registers(19, 1)[0]; }
void compressor::start() { client_.write_register(0, 1); }
void compressor::stop() { client_.write_register(0, 0); }

}  // namespace tw::modbus
