// The Modbus TCP compressor: MBAP frames on a raw TCP socket.
#include "servers.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <optional>
#include <stdexcept>

#include <boost/asio/read.hpp>

#include <tw/deadline.hpp>
#include <tw/errors.hpp>
#include <tw/sim/physics.hpp>
#include <tw/yield.hpp>

namespace tw::sim::detail {

namespace asio = boost::asio;

namespace {

enum : int { k_idle = 0, k_starting = 2, k_running = 3, k_stopping = 5, k_fault = 6 };
enum : std::uint8_t {
    k_illegal_function = 1,
    k_illegal_address = 2,
    k_illegal_value = 3,
    k_gateway_target = 11,
};
constexpr std::size_t k_input_registers = 20;
constexpr std::size_t k_holding_registers = 1;
constexpr std::size_t k_coils = 1;            // 0: run (1 start, 0 stop), the command register as a coil
constexpr std::size_t k_discrete_inputs = 3;  // 0: on (starting or running), 1: overheat alarm, 2: pressure alarm

// Values: coolant in, coolant out, oil, helium (°C), high, low pressure (psi), motor current (A).
constexpr std::array<double, 7> k_off = {20.0, 20.0, 22.0, 22.0, 210.0, 210.0, 0.0};
constexpr std::array<double, 7> k_on = {20.0, 32.0, 40.0, 75.0, 290.0, 85.0, 12.0};
constexpr std::array<double, 7> k_noise = {0.05, 0.05, 0.05, 0.05, 0.5, 0.5, 0.02};

std::uint16_t be16(std::string_view p, std::size_t at) {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(p[at]) << 8) | static_cast<unsigned char>(p[at + 1]));
}
void put16(std::string& out, std::uint16_t v) {
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v & 0xff));
}
std::string exception_pdu(std::uint8_t function, std::uint8_t code) {
    return std::string{static_cast<char>(function | 0x80), static_cast<char>(code)};
}

}  // namespace

compressor::compressor(std::size_t index, std::uint64_t seed, alarm_kind alarm, std::chrono::nanoseconds start_time,
                       std::chrono::nanoseconds stop_time, sim_clock::time_point now)
    : index_(index),
      seed_(seed),
      alarm_(alarm),
      start_s_(std::chrono::duration<double>(start_time).count()),
      stop_s_(std::chrono::duration<double>(stop_time).count()),
      tau_s_(std::max(0.1, std::chrono::duration<double>(start_time).count())),
      last_(now),
      since_(now),
      hours_(10000.0 + 97.0 * static_cast<double>(index)),
      values_(k_off) {}

void compressor::advance(sim_clock::time_point now) {
    const double dt = std::chrono::duration<double>(now - last_).count();
    if (dt <= 0) return;
    last_ = now;
    const double in_state = std::chrono::duration<double>(now - since_).count();
    if (state_ == k_starting && in_state >= start_s_) {
        state_ = alarm_ == alarm_kind::none ? k_running : k_fault;
        since_ = now;
    } else if (state_ == k_stopping && in_state >= stop_s_) {
        state_ = k_idle;
        since_ = now;
    }
    const bool moving = state_ == k_starting || state_ == k_running;
    if (state_ == k_running) hours_ += dt / 3600.0;
    auto target = moving ? k_on : k_off;
    if (state_ == k_fault) {
        if (alarm_ == alarm_kind::overheat) {
            target[2] = 70.0;   // oil
            target[3] = 120.0;  // helium
        } else if (alarm_ == alarm_kind::pressure) {
            target[4] = 420.0;  // high side
        }
    }
    const double a = 1.0 - std::exp(-dt / tau_s_);
    for (std::size_t i = 0; i < values_.size(); ++i) values_[i] += (target[i] - values_[i]) * a;
}

void compressor::command(std::uint16_t value, sim_clock::time_point now) {
    command_ = value;
    if (value == 1 && (state_ == k_idle || state_ == k_stopping || state_ == k_fault)) {
        state_ = k_starting;
        since_ = now;
    } else if (value == 0 && (state_ == k_starting || state_ == k_running)) {
        state_ = k_stopping;
        since_ = now;
    } else if (value == 0 && state_ == k_fault) {
        state_ = k_idle;  // acknowledges the fault; starting again trips it again
        since_ = now;
    }
}

std::array<std::uint16_t, 20> compressor::input_registers(sim_clock::time_point now) {
    advance(now);
    std::array<std::uint16_t, 20> r{};
    r[0] = static_cast<std::uint16_t>(state_);
    r[1] = state_ == k_starting || state_ == k_running ? 1 : 0;
    const auto key = counter_hash({seed_, static_cast<std::uint64_t>(stream::modbus_noise), index_, reads_++});
    auto put_float = [&](std::size_t at, double v) {
        auto bits = std::bit_cast<std::uint32_t>(static_cast<float>(v));
        r[at] = static_cast<std::uint16_t>(bits >> 16);  // high word first
        r[at + 1] = static_cast<std::uint16_t>(bits & 0xffff);
    };
    for (std::size_t i = 0; i < values_.size(); ++i) {
        double noise = k_noise[i] * gaussian_pair(counter_hash({key, i})).real();
        put_float(2 + 2 * i, std::max(0.0, values_[i] + (i == 6 && values_[i] < 0.05 ? 0.0 : noise)));
    }
    put_float(16, hours_);
    const std::uint16_t bit = alarm_ == alarm_kind::overheat ? 1 : alarm_ == alarm_kind::pressure ? 2 : 0;
    r[18] = state_ != k_idle ? bit : 0;  // warning bits: the cause shows as soon as it runs
    r[19] = state_ == k_fault ? bit : 0;  // alarm bits: it tripped
    return r;
}

std::string compressor::handle(std::string_view pdu, sim_clock::time_point now) {
    const auto fn = static_cast<std::uint8_t>(pdu[0]);
    const std::string_view data = pdu.substr(1);
    auto read_request = [&](std::size_t max_qty, std::uint16_t& addr, std::uint16_t& qty) -> std::uint8_t {
        if (data.size() != 4) return k_illegal_value;
        addr = be16(data, 0);
        qty = be16(data, 2);
        if (qty < 1 || qty > max_qty) return k_illegal_value;
        return 0;
    };
    std::uint16_t addr = 0, qty = 0;
    switch (fn) {
        case 1:  // read coils
        case 2: {  // read discrete inputs
            if (auto e = read_request(2000, addr, qty)) return exception_pdu(fn, e);
            const std::size_t size = fn == 1 ? k_coils : k_discrete_inputs;
            if (static_cast<std::size_t>(addr) + qty > size) return exception_pdu(fn, k_illegal_address);
            advance(now);
            const bool tripped = state_ == k_fault;
            const std::array<bool, k_discrete_inputs> inputs = {state_ == k_starting || state_ == k_running,
                                                                tripped && alarm_ == alarm_kind::overheat,
                                                                tripped && alarm_ == alarm_kind::pressure};
            std::string out{static_cast<char>(fn), static_cast<char>((qty + 7) / 8)};
            out.append((qty + 7) / 8, '\0');
            for (std::size_t i = 0; i < qty; ++i) {
                const bool bit = fn == 1 ? command_ != 0 : inputs[addr + i];
                if (bit) out[2 + i / 8] = static_cast<char>(out[2 + i / 8] | (1 << (i % 8)));
            }
            return out;
        }
        case 5: {  // write single coil
            if (data.size() != 4) return exception_pdu(fn, k_illegal_value);
            addr = be16(data, 0);
            auto v = be16(data, 2);
            if (v != 0x0000 && v != 0xff00) return exception_pdu(fn, k_illegal_value);
            if (addr >= k_coils) return exception_pdu(fn, k_illegal_address);
            advance(now);
            command(v == 0xff00 ? 1 : 0, now);
            return std::string(pdu);  // echo
        }
        case 15: {  // write multiple coils
            if (data.size() < 5) return exception_pdu(fn, k_illegal_value);
            addr = be16(data, 0);
            qty = be16(data, 2);
            auto bytes = static_cast<std::uint8_t>(data[4]);
            if (qty < 1 || qty > 1968 || bytes != (qty + 7) / 8 || data.size() != 5u + bytes) return exception_pdu(fn, k_illegal_value);
            if (static_cast<std::size_t>(addr) + qty > k_coils) return exception_pdu(fn, k_illegal_address);
            advance(now);
            command(static_cast<std::uint8_t>(data[5]) & 1, now);
            std::string out{static_cast<char>(fn)};
            put16(out, addr);
            put16(out, qty);
            return out;
        }
        case 3:
        case 4: {
            if (auto e = read_request(125, addr, qty)) return exception_pdu(fn, e);
            const std::size_t size = fn == 3 ? k_holding_registers : k_input_registers;
            if (static_cast<std::size_t>(addr) + qty > size) return exception_pdu(fn, k_illegal_address);
            std::string out{static_cast<char>(fn), static_cast<char>(2 * qty)};
            if (fn == 3) {
                advance(now);
                put16(out, command_);
            } else {
                auto regs = input_registers(now);
                for (std::size_t i = addr; i < static_cast<std::size_t>(addr) + qty; ++i) put16(out, regs[i]);
            }
            return out;
        }
        case 6: {  // write single register
            if (data.size() != 4) return exception_pdu(fn, k_illegal_value);
            addr = be16(data, 0);
            auto v = be16(data, 2);
            if (addr >= k_holding_registers) return exception_pdu(fn, k_illegal_address);
            if (v > 1) return exception_pdu(fn, k_illegal_value);
            advance(now);
            command(v, now);
            return std::string(pdu);  // echo
        }
        case 16: {  // write multiple registers
            if (data.size() < 5) return exception_pdu(fn, k_illegal_value);
            addr = be16(data, 0);
            qty = be16(data, 2);
            auto bytes = static_cast<std::uint8_t>(data[4]);
            if (qty < 1 || qty > 123 || bytes != 2 * qty || data.size() != 5u + bytes) return exception_pdu(fn, k_illegal_value);
            if (static_cast<std::size_t>(addr) + qty > k_holding_registers) return exception_pdu(fn, k_illegal_address);
            auto v = be16(data, 5);
            if (v > 1) return exception_pdu(fn, k_illegal_value);
            advance(now);
            command(v, now);
            std::string out{static_cast<char>(fn)};
            put16(out, addr);
            put16(out, qty);
            return out;
        }
        default: return exception_pdu(fn, k_illegal_function);
    }
}

std::optional<std::uint16_t> request_length(std::string_view header) {
    if (header.size() < 7) return std::nullopt;
    const std::uint16_t length = be16(header, 4);
    // Protocol id 0, and unit id + PDU of 2..254 bytes: anything else is not
    // Modbus TCP and the framing cannot be trusted.
    if (be16(header, 2) != 0 || length < 2 || length > 254) return std::nullopt;
    return length;
}

std::string reply_frame(compressor& c, std::string_view frame, sim_clock::time_point now) {
    if (frame.size() < 8 || frame.size() > 7 + 253) throw std::invalid_argument("reply_frame: not a whole Modbus TCP frame");
    const auto unit = static_cast<std::uint8_t>(frame[6]);
    const std::string_view pdu = frame.substr(7);
    std::string reply_pdu = unit == 0 || unit == 1 || unit == 255 ? c.handle(pdu, now)
                                                                  : exception_pdu(static_cast<std::uint8_t>(pdu[0]), k_gateway_target);
    std::string out(frame.substr(0, 4));  // transaction id, protocol id
    put16(out, static_cast<std::uint16_t>(reply_pdu.size() + 1));
    out.push_back(static_cast<char>(unit));
    out += reply_pdu;
    return out;
}

void serve_modbus_connection(tcp::socket& s, compressor& c, fault_state& f, const server_options& o) {
    std::array<char, 7 + 253> frame;
    for (;;) {
        // Idle until a frame starts; then the whole frame within the request timeout.
        if (!wait_for_request(s, o)) return;
        boost::system::error_code ec;
        bool timed_out = false, malformed = false;
        std::uint16_t length = 0;
        {
            tw::deadline_scope d(or_forever(o.request_timeout));
            try {
                asio::async_read(s, asio::buffer(frame.data(), 7), tw::yield[ec]);
                if (!ec) {
                    const auto l = request_length(std::string_view(frame.data(), 7));
                    malformed = !l;
                    length = l.value_or(0);
                    if (!malformed) asio::async_read(s, asio::buffer(frame.data() + 7, length - 1u), tw::yield[ec]);
                }
            } catch (const tw::timeout_error&) {
                timed_out = true;
            }
        }
        if (malformed) {
            // Close with a FIN after reading what the client still sends: a
            // plain close with its bytes unread would be a reset, which
            // clients report as a network fault rather than a refusal.
            drain_and_close(s, std::chrono::milliseconds(2000), 64 * 1024);
            return;
        }
        if (timed_out || ec) return;
        const auto out = reply_frame(c, std::string_view(frame.data(), 6 + std::size_t(length)), sim_clock::now());
        if (!send_reply(s, out, f, framing::modbus, o)) return;
    }
}

}  // namespace tw::sim::detail
