// The SCPI temperature controller: a line protocol on a raw TCP socket.
#include "servers.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <fmt/core.h>

#include <tw/deadline.hpp>
#include <tw/errors.hpp>
#include <boost/algorithm/string/trim.hpp>

#include <tw/sim/physics.hpp>
#include <tw/yield.hpp>

namespace tw::sim::detail {

namespace asio = boost::asio;

namespace {

constexpr std::size_t k_error_queue = 16;
constexpr std::array<double, 6> k_fixed_stages = {50.0, 4.0, 1.0, 0.8, 0.1, 300.0};  // sensors 3..8

// SCPI is ASCII: blanks, upper case and numbers without the C++ locale, which
// boost's trim_copy and std::toupper consult on every character (a copy of
// the global locale and a dynamic_cast per call, ~10 % of a MEAS? round trip).
bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view trim_copy(std::string_view s) { return boost::algorithm::trim_copy_if(s, blank); }

std::string upper(std::string_view s) {
    std::string u(s);
    for (auto& c : u)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return u;
}

}  // namespace

// Five digits by scaling with an exact power of ten: one rounding, an error
// near 1e-11 on a five-digit number. Where that error could decide the
// rounding (within 1e-6 of a tie) or the power would not be exact, the
// precise formatting. A MEAS? reply took ~650 instructions through to_chars
// with a precision (as many through the shortest form, Ryu): the largest item
// in the simulator's profile.
std::string format_nr3(double v) {
    const auto precise = [](double x) {
        if (!std::isfinite(x)) return fmt::format("{:+.4E}", x);
        char buf[32];
        buf[0] = '+';
        auto [end, ec] = std::to_chars(buf + 1, buf + sizeof buf, x, std::chars_format::scientific, 4);
        std::string out = std::signbit(x) ? std::string(buf + 1, end) : std::string(buf, end);
        for (auto& c : out)
            if (c == 'e') c = 'E';
        return out;
    };
    static constexpr double k_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                         1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const double a = std::fabs(v);
    if (!(a >= 1e-16 && a < 1e24)) return v == 0 ? (std::signbit(v) ? "-0.0000E+00" : "+0.0000E+00") : precise(v);
    int exponent = static_cast<int>(std::floor(std::log10(a)));  // in [-16, 23]
    const auto scale = [&] {
        const int shift = 4 - exponent;  // in [-20, 21]
        return shift >= 0 ? a * k_pow10[shift] : a / k_pow10[-shift];
    };
    double scaled = scale();
    // log10 may be one off next to a power of ten.
    if (scaled < 1e4) {
        --exponent;
        scaled = scale();
    } else if (scaled >= 1e5) {
        ++exponent;
        scaled = scale();
    }
    const double frac = scaled - std::floor(scaled);
    if (scaled < 1e4 || scaled >= 1e5 || std::fabs(frac - 0.5) < 1e-6) return precise(v);
    auto digits = static_cast<std::uint32_t>(scaled + 0.5);
    if (digits == 100000) {  // 9.99996 -> 1.0000E+01
        digits = 10000;
        ++exponent;
    }
    char out[16];
    char* p = out;
    *p++ = std::signbit(v) ? '-' : '+';
    char d[5];
    for (int i = 4; i >= 0; --i, digits /= 10) d[i] = static_cast<char>('0' + digits % 10);
    *p++ = d[0];
    *p++ = '.';
    p = std::copy(d + 1, d + 5, p);
    *p++ = 'E';
    *p++ = exponent < 0 ? '-' : '+';
    const int e = exponent < 0 ? -exponent : exponent;
    if (e < 10) *p++ = '0';
    p = std::to_chars(p, out + sizeof out, e).ptr;
    return std::string(out, p);
}

namespace {

// A failed command: the SCPI error pushed onto the queue.
struct scpi_error {
    int code;
    const char* message;
};
constexpr scpi_error k_undefined_header{-113, "Undefined header"};
constexpr scpi_error k_missing_parameter{-109, "Missing parameter"};
constexpr scpi_error k_parameter_not_allowed{-108, "Parameter not allowed"};
constexpr scpi_error k_data_type{-104, "Data type error"};
constexpr scpi_error k_out_of_range{-222, "Data out of range"};

double number(std::string_view s) {
    s = trim_copy(s);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) throw k_data_type;
    return v;
}

int integer(std::string_view s, int lo, int hi) {
    double v = number(s);
    if (v != std::floor(v)) throw k_data_type;
    if (v < lo || v > hi) throw k_out_of_range;
    return static_cast<int>(v);
}

std::vector<std::string_view> split_args(std::string_view args) {
    std::vector<std::string_view> out;
    args = trim_copy(args);
    if (args.empty()) return out;
    for (;;) {
        auto comma = args.find(',');
        out.push_back(trim_copy(args.substr(0, comma)));
        if (comma == std::string_view::npos) break;
        args = args.substr(comma + 1);
    }
    return out;
}

void arity(const std::vector<std::string_view>& a, std::size_t n) {
    if (a.size() < n) throw k_missing_parameter;
    if (a.size() > n) throw k_parameter_not_allowed;
    for (auto x : a)
        if (x.empty()) throw k_missing_parameter;
}

}  // namespace

temperature_controller::temperature_controller(std::size_t index, std::uint64_t seed, std::chrono::nanoseconds tau,
                                               sim_clock::time_point now)
    : index_(index), seed_(seed), tau_s_(std::max(1e-6, std::chrono::duration<double>(tau).count())), last_(now) {}

std::string temperature_controller::serial() const { return fmt::format("TC{:05}", index_); }

void temperature_controller::advance(sim_clock::time_point now) {
    double dt = std::chrono::duration<double>(now - last_).count();
    if (dt <= 0) return;
    last_ = now;
    for (auto& l : loops_) {
        double left = dt;
        if (l.ramp && l.rate > 0 && l.effective != l.target) {
            // Linear ramp of the setpoint: the first-order lag has a closed
            // form, so this is exact however long since the last query.
            const double r = (l.target > l.effective ? 1 : -1) * l.rate / 60.0;  // K/s
            const double reach = (l.target - l.effective) / r;
            const double t = std::min(left, reach);
            const double e0 = l.effective;
            l.temp = e0 + r * t - r * tau_s_ + (l.temp - e0 + r * tau_s_) * std::exp(-t / tau_s_);
            l.effective = t >= reach ? l.target : e0 + r * t;
            left -= t;
        } else {
            l.effective = l.target;
        }
        if (left > 0) l.temp = l.effective + (l.temp - l.effective) * std::exp(-left / tau_s_);
    }
}

void temperature_controller::push_error(int code, const char* message) {
    if (errors_.size() >= k_error_queue) {
        errors_.back() = {-350, "Queue overflow"};
        return;
    }
    errors_.emplace_back(code, message);
}

double temperature_controller::noisy(double kelvin) {
    auto g = gaussian_pair(counter_hash({seed_, static_cast<std::uint64_t>(stream::scpi_noise), index_, reads_++}));
    return kelvin * (1.0 + 1e-3 * g.real());
}

std::optional<std::string> temperature_controller::command(std::string_view cmd, bool& failed) {
    cmd = trim_copy(cmd);
    if (cmd.empty()) return std::nullopt;
    auto sp = std::find_if(cmd.begin(), cmd.end(), blank);
    const std::string upper_header = upper(std::string_view(cmd.begin(), sp));
    // A string_view compares lengths first: most headers differ in length
    // from most names, so the chain below is not a memcmp per name.
    const std::string_view header = upper_header;
    const auto args = split_args(std::string_view(sp, cmd.end()));
    try {
        if (header == "*IDN?") {
            arity(args, 0);
            return "TWSIM,TC-372," + serial() + ",1.0";
        }
        if (header == "*RST") {
            arity(args, 0);
            for (auto& l : loops_) {
                l.target = l.effective = 4.0;
                l.ramp = false;
                l.rate = 0;
            }
            return std::nullopt;
        }
        if (header == "*CLS") {
            arity(args, 0);
            errors_.clear();
            return std::nullopt;
        }
        if (header == "*OPC?") {
            arity(args, 0);
            return "1";  // every command completes before the next is read
        }
        if (header == "*OPC") {
            arity(args, 0);
            return std::nullopt;
        }
        if (header == "SYST:ERR?" || header == "SYSTEM:ERROR?" || header == "SYST:ERR:NEXT?" || header == "SYSTEM:ERROR:NEXT?") {
            arity(args, 0);
            if (errors_.empty()) return std::string("0,\"No error\"");
            auto [code, message] = errors_.front();
            errors_.pop_front();
            return fmt::format("{},\"{}\"", code, message);
        }
        if (header == "MEAS?" || header == "MEAS:TEMP?") {
            arity(args, 0);
            return format_nr3(noisy(loops_[0].temp));
        }
        if (header == "KRDG?") {
            arity(args, 1);
            int ch = integer(args[0], 1, 8);
            double k = ch <= 2 ? loops_[static_cast<std::size_t>(ch - 1)].temp : k_fixed_stages[static_cast<std::size_t>(ch - 3)];
            return format_nr3(noisy(k));
        }
        if (header == "SETP") {
            arity(args, 2);
            auto& l = loops_[static_cast<std::size_t>(integer(args[0], 1, 2) - 1)];
            double k = number(args[1]);
            if (k < 0 || k > 400) throw k_out_of_range;
            l.target = k;
            if (!l.ramp || l.rate == 0) l.effective = k;
            return std::nullopt;
        }
        if (header == "SETP?") {
            arity(args, 1);
            return format_nr3(loops_[static_cast<std::size_t>(integer(args[0], 1, 2) - 1)].target);
        }
        if (header == "RAMP") {
            arity(args, 3);
            auto& l = loops_[static_cast<std::size_t>(integer(args[0], 1, 2) - 1)];
            int on = integer(args[1], 0, 1);
            double rate = number(args[2]);
            if (rate < 0 || rate > 100) throw k_out_of_range;
            l.ramp = on == 1;
            l.rate = rate;
            return std::nullopt;
        }
        if (header == "RAMP?") {
            arity(args, 1);
            const auto& l = loops_[static_cast<std::size_t>(integer(args[0], 1, 2) - 1)];
            return fmt::format("{},{}", l.ramp ? 1 : 0, format_nr3(l.rate));
        }
        if (header == "HTR?") {
            arity(args, 1);
            const auto& l = loops_[static_cast<std::size_t>(integer(args[0], 1, 2) - 1)];
            // Holding power grows with the setpoint; a proportional term chases it.
            double pct = std::clamp(100.0 * l.effective / 400.0 + 10.0 * (l.effective - l.temp), 0.0, 100.0);
            return format_nr3(pct);
        }
        throw k_undefined_header;
    } catch (const scpi_error& e) {
        push_error(e.code, e.message);
        failed = true;
        return std::nullopt;
    }
}

std::optional<std::string> temperature_controller::execute(std::string_view line, sim_clock::time_point now) {
    advance(now);
    std::optional<std::string> reply;
    bool failed = false;
    while (!failed) {
        auto semi = line.find(';');
        auto r = command(line.substr(0, semi), failed);
        if (r) reply = reply ? *reply + ";" + *r : *r;
        if (semi == std::string_view::npos) break;
        line = line.substr(semi + 1);
    }
    if (failed) return std::nullopt;  // like real instruments: no reply, an error on the queue
    return reply;
}

void serve_scpi_connection(tcp::socket& s, temperature_controller& tc, fault_state& f, const server_options& o) {
    std::string buf;
    std::size_t scanned = 0;  // the first bytes of buf, known to hold no '\n'
    tw::deadline request_until = tw::deadline::none();
    for (;;) {
        const auto nl = buf.find('\n', scanned);
        if (nl == std::string::npos) {
            scanned = buf.size();
            if (buf.size() >= k_max_scpi_line) {
                // Too long a line: close with a FIN after reading what the
                // client still sends, not with the reset its unread bytes would cause.
                drain_and_close(s, std::chrono::milliseconds(2000), 1024 * 1024);
                return;
            }
            // Idle until a line starts; from then on the whole line must
            // arrive within the request timeout (a client trickling bytes is
            // dropped). A plain read waits for the bytes: no readiness wait
            // before it, which cost a system call (epoll_ctl) and a fiber
            // switch per request.
            const bool idle = buf.empty();
            const std::size_t old = buf.size();
            buf.resize(std::min(old + 512, k_max_scpi_line));
            boost::system::error_code ec;
            std::size_t n = 0;
            try {
                tw::deadline_scope d(idle ? tw::deadline::after(or_forever(o.idle_timeout)) : request_until);
                n = s.async_read_some(asio::buffer(buf.data() + old, buf.size() - old), tw::yield[ec]);
            } catch (const tw::timeout_error&) {
                return;
            }
            buf.resize(old + n);
            if (ec) return;  // closed by the client, or reset
            if (idle) request_until = tw::deadline::after(or_forever(o.request_timeout));
            continue;
        }
        std::string_view line(buf.data(), nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        auto reply = tc.execute(line, sim_clock::now());
        buf.erase(0, nl + 1);
        scanned = 0;
        if (!buf.empty()) request_until = tw::deadline::after(or_forever(o.request_timeout));  // the next line has begun
        if (reply) {
            reply->push_back('\n');
            if (!send_reply(s, *reply, f, framing::line, o)) return;
        }
    }
}

}  // namespace tw::sim::detail
