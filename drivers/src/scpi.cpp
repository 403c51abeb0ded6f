#include <tw/drivers/scpi/client.hpp>
#include <tw/drivers/scpi/temperature_controller.hpp>

#include <algorithm>
#include <charconv>
#include <mutex>

#include <fmt/core.h>

#include <tw/drivers/checked.hpp>

#include "text.hpp"

#include <tw/deadline.hpp>
#include <tw/duration.hpp>

namespace tw::scpi {

namespace {

using tw::detail::trim;

bool is_text(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u >= 0x20 && u < 0x7f) || u == '\t' || u == '\r';
    });
}

// A query whose reply itself looks like an error-queue entry: after it went
// silent, a follow-up SYST:ERR? could not be told apart from it. Compared in
// place (ASCII, case-insensitive): this runs on every query.
bool asks_error_queue(std::string_view q) {
    q = trim(q);
    auto starts_with = [q](std::string_view upper_prefix) {
        if (q.size() < upper_prefix.size()) return false;
        for (std::size_t i = 0; i < upper_prefix.size(); ++i) {
            const char c = q[i];
            if ((c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c) != upper_prefix[i]) return false;
        }
        return true;
    };
    return starts_with("SYST:ERR") || starts_with("SYSTEM:ERR");
}

// now + d, or no deadline for a timeout too long to add.
clock::time_point after(clock::time_point now, std::chrono::nanoseconds d) {
    return tw::deadline::after(d, now).time_point();
}

// Takes the client's lock under the caller's deadline only: options.timeout
// bounds each exchange once it holds the lock (the wait in the queue is
// bounded by the holders' own timeouts and by the caller's deadline), so a
// fiber queued behind slow exchanges of others does not run out of its own.
void lock_for_exchange(tw::device_lock& lock, const std::string& address) {
    try {
        lock.lock();
    } catch (const tw::timeout_error&) {
        throw tw::timeout_error(fmt::format("{}: the caller's deadline passed while waiting for the instrument", address));
    }
}

}  // namespace

std::optional<error_entry> parse_error_entry(std::string_view line) {
    line = trim(line);
    const auto comma = line.find(',');
    if (comma == std::string_view::npos) return std::nullopt;
    auto code_text = trim(line.substr(0, comma));
    if (!code_text.empty() && code_text.front() == '+') code_text.remove_prefix(1);
    int code = 0;
    auto [end, ec] = std::from_chars(code_text.data(), code_text.data() + code_text.size(), code);
    if (ec != std::errc() || end != code_text.data() + code_text.size() || code_text.empty()) return std::nullopt;
    auto msg = trim(line.substr(comma + 1));
    if (msg.size() >= 2 && msg.front() == '"' && msg.back() == '"') msg = msg.substr(1, msg.size() - 2);
    else if (!msg.empty() && msg.front() == '"') return std::nullopt;
    return error_entry{code, std::string(msg)};
}

std::optional<double> parse_number(std::string_view text) {
    text = trim(text);
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
    if (text.empty()) return std::nullopt;
    double v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return v;
}

client::client(std::string address, options opts) : address_(std::move(address)), opts_(std::move(opts)), lock_(address_) {}

client::~client() = default;

void client::close() {
    lock_for_exchange(lock_, address_);
    std::lock_guard g(lock_, std::adopt_lock);
    tw::deadline_scope d(opts_.timeout);
    stream_.reset();
}

tcp_stream& client::stream() {
    if (stream_ && !stream_->is_open()) stream_.reset();
    if (!stream_) stream_.emplace(tcp_stream::connect(address_, opts_.reconnect, opts_.log));
    return *stream_;
}

void client::send_line(std::string_view line) {
    auto& s = stream();
    opts_.log.sent(address_, line);
    try {
        s.write_line(line);
    } catch (const tw::connection_error&) {
        stream_.reset();
        throw;
    } catch (...) {
        // A timeout or cancellation may have sent part of the line.
        stream_.reset();
        throw;
    }
}

void client::write(std::string_view command) {
    lock_for_exchange(lock_, address_);
    std::lock_guard g(lock_, std::adopt_lock);
    tw::deadline_scope d(opts_.timeout);
    send_line(command);
    if (opts_.check_errors) check_error_locked(command);
}

void client::write_checked(std::string_view command) {
    lock_for_exchange(lock_, address_);
    std::lock_guard g(lock_, std::adopt_lock);
    tw::deadline_scope d(opts_.timeout);
    send_line(command);
    check_error_locked(command);
}

std::string client::query(std::string_view q) {
    // One clock read serves the exchange's deadline and query_locked's split
    // of it, taken once the lock is held (the timeout is for the exchange).
    if (!lock_.try_lock()) lock_for_exchange(lock_, address_);
    std::lock_guard g(lock_, std::adopt_lock);
    const auto now = clock::now();
    tw::deadline_scope d(after(now, opts_.timeout));
    return query_locked(q, now, d.deadline());
}

std::string client::query_locked(std::string_view q) {
    const auto now = clock::now();
    return query_locked(q, now, std::min(tw::current_deadline(), after(now, opts_.timeout)));
}

// `until` is the call's deadline (the fiber's, already no later than
// now + options.timeout), `now` a recent clock reading.
std::string client::query_locked(std::string_view q, clock::time_point now, clock::time_point until) {
    // Keep part of the time for asking the instrument why it stayed silent.
    auto reserve = std::chrono::ceil<clock::duration>(opts_.error_query_timeout);
    if (until != clock::time_point::max()) reserve = std::min(reserve, (until - now) / 2);
    const bool can_ask = !asks_error_queue(q);
    send_line(q);
    std::string line;
    try {
        tw::deadline_scope wait(can_ask ? until - reserve : until);
        line = stream_->read_line(opts_.max_line);
    } catch (...) {
        line = reply_failed(q, until, can_ask);
    }
    opts_.log.received(address_, line);
    if (!is_text(line)) throw_not_text(q);
    return line;
}

// The failure paths of query_locked, out of line: with thousands of fibers
// every byte of a query's stack frame is a cache miss on each query, and the
// error messages' temporaries made that frame a third larger.
// Called from a catch block: rethrows, or returns the reply that
// recover_missing_reply found.
std::string client::reply_failed(std::string_view q, clock::time_point until, bool can_ask) {
    try {
        throw;
    } catch (const tw::timeout_error&) {
        if (!can_ask) {
            stream_.reset();
            throw tw::timeout_error(fmt::format("{}: no reply to '{}' in time", address_, q));
        }
        return recover_missing_reply(q, until);
    } catch (const tw::protocol_error&) {
        stream_.reset();  // line too long: already closed
        throw;
    } catch (...) {
        stream_.reset();  // connection_error or cancellation: a reply may still be on its way
        throw;
    }
}

void client::throw_not_text(std::string_view q) const {
    throw tw::protocol_error(address_, fmt::format("reply to '{}' is not ASCII text", q));
}

// The query got no reply within its share of the deadline: ask SYST:ERR? and
// read until its reply, which also drains a late reply to `q` (returned then).
std::string client::recover_missing_reply(std::string_view q, clock::time_point until) {
    std::optional<std::string> late;
    std::optional<error_entry> err;
    try {
        tw::deadline_scope d(until);
        send_line("SYST:ERR?");
        while (!err) {
            auto line = stream_->read_line(opts_.max_line);
            opts_.log.received(address_, line);
            if (!late) {
                // Replies come in order: the first line could be q's late reply.
                if (auto e = parse_error_entry(line)) err = e;
                else late = std::move(line);
            } else if (auto e = parse_error_entry(line)) {
                err = e;
            }
            // Anything else after a late reply: not ours to interpret; keep reading.
        }
    } catch (const tw::timeout_error&) {
        stream_.reset();
        throw tw::timeout_error(fmt::format("{}: no reply to '{}' in time (nor to SYST:ERR?)", address_, q));
    } catch (...) {
        stream_.reset();
        throw;
    }
    if (late) {
        if (err->code != 0)
            opts_.log.event(address_, fmt::format("late reply to '{}'; error queue had {},\"{}\"", q, err->code, err->message));
        return std::move(*late);
    }
    if (err->code != 0)
        throw tw::protocol_error(address_,
                                 fmt::format("'{}' got no reply; the instrument reports {},\"{}\"", q, err->code, err->message),
                                 err->code, err->message);
    throw tw::timeout_error(fmt::format("{}: no reply to '{}' in time (the instrument reports no error)", address_, q));
}

void client::check_error_locked(std::string_view after) {
    auto line = query_locked("SYST:ERR?");
    auto e = parse_error_entry(line);
    if (!e) throw tw::protocol_error(address_, fmt::format("cannot parse the SYST:ERR? reply '{}'", line));
    if (e->code != 0)
        throw tw::protocol_error(address_, fmt::format("'{}': the instrument reports {},\"{}\"", after, e->code, e->message),
                                 e->code, e->message);
}

void client::check_error() {
    lock_for_exchange(lock_, address_);
    std::lock_guard g(lock_, std::adopt_lock);
    tw::deadline_scope d(opts_.timeout);
    check_error_locked("SYST:ERR?");
}

error_entry client::next_error() {
    auto line = query("SYST:ERR?");
    auto e = parse_error_entry(line);
    if (!e) throw tw::protocol_error(address_, fmt::format("cannot parse the SYST:ERR? reply '{}'", line));
    return *e;
}

double client::query_double(std::string_view q) {
    auto line = query(q);
    auto v = parse_number(line);
    if (!v) throw tw::protocol_error(address_, fmt::format("reply to '{}' is not a number: '{}'", q, line));
    return *v;
}

long long client::query_int(std::string_view q) { return parse_int_reply(address_, q, query(q)); }

long long parse_int_reply(const std::string& address, std::string_view q, std::string_view line) {
    auto t = trim(line);
    if (!t.empty() && t.front() == '+') t.remove_prefix(1);
    long long v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || end != t.data() + t.size()) {
        // Some instruments write integers as "+1.0000E+00".
        auto d = parse_number(line);
        if (!d) throw tw::protocol_error(address, fmt::format("reply to '{}' is not an integer: '{}'", q, line));
        // Checked before the cast: "1E+30" must not become an undefined long long.
        constexpr long long k_exact = 1LL << 53;  // doubles are exact integers up to here
        return tw::checked<long long>(address, fmt::format("reply to '{}'", q), *d, -k_exact, k_exact);
    }
    return v;
}

std::vector<double> client::query_doubles(std::string_view q) { return parse_doubles_reply(address_, q, query(q)); }

std::vector<double> parse_doubles_reply(const std::string& address, std::string_view q, std::string_view line) {
    std::vector<double> out;
    std::string_view rest = line;
    if (trim(rest).empty()) return out;
    for (;;) {
        const auto comma = rest.find(',');
        auto v = parse_number(rest.substr(0, comma));
        if (!v) throw tw::protocol_error(address, fmt::format("reply to '{}' is not a list of numbers: '{}'", q, line));
        out.push_back(*v);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    return out;
}

void client::wait_complete() {
    auto line = query("*OPC?");
    if (trim(line) != "1") throw tw::protocol_error(address_, fmt::format("*OPC? replied '{}', expected 1", line));
}

// temperature_controller

temperature_controller::temperature_controller(std::string address, options opts) : client_(std::move(address), std::move(opts)) {}

std::string temperature_controller::identify() { return client_.query("*IDN?"); }

double temperature_controller::temperature(int sensor) { return client_.query_double(fmt::format("KRDG? {}", sensor)); }

double temperature_controller::setpoint(int loop) { return client_.query_double(fmt::format("SETP? {}", loop)); }

void temperature_controller::set_setpoint(int loop, double kelvin) {
    client_.write_checked(fmt::format("SETP {},{}", loop, kelvin));
}

temperature_controller::ramp_state temperature_controller::ramp(int loop) {
    const auto q = fmt::format("RAMP? {}", loop);
    auto v = client_.query_doubles(q);
    if (v.size() != 2)
        throw tw::protocol_error(client_.address(), fmt::format("reply to '{}' has {} values, expected 2", q, v.size()));
    return {v[0] != 0, v[1]};
}

void temperature_controller::set_ramp(int loop, bool enabled, double kelvin_per_min) {
    client_.write_checked(fmt::format("RAMP {},{},{}", loop, enabled ? 1 : 0, kelvin_per_min));
}

double temperature_controller::heater(int loop) { return client_.query_double(fmt::format("HTR? {}", loop)); }

void temperature_controller::reset() {
    client_.write("*RST");
    client_.write("*CLS");
    client_.wait_complete();
}

}  // namespace tw::scpi
