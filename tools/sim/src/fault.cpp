#include <tw/sim/fault.hpp>

#include <tw/duration.hpp>
#include <tw/sim/physics.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <optional>
#include <stdexcept>

namespace tw::sim {

std::string_view to_string(service s) noexcept {
    switch (s) {
        case service::tuber: return "tuber";
        case service::scpi: return "scpi";
        case service::modbus: return "modbus";
    }
    return "?";
}

std::string_view to_string(fault_kind k) noexcept {
    switch (k) {
        case fault_kind::latency: return "latency";
        case fault_kind::jitter: return "jitter";
        case fault_kind::stall: return "stall";
        case fault_kind::disconnect: return "disconnect";
        case fault_kind::garbage: return "garbage";
        case fault_kind::slow: return "slow";
        case fault_kind::refuse: return "refuse";
        case fault_kind::flap: return "flap";
        case fault_kind::alarm: return "alarm";
    }
    return "?";
}

namespace {

[[noreturn]] void bad(std::string_view spec, const std::string& why) {
    throw std::invalid_argument("invalid fault '" + std::string(spec) + "': " + why +
                                " (grammar: [SERVICE/]KIND[:PARAM][@WHICH], see tw sim --help)");
}

std::size_t parse_index(std::string_view spec, std::string_view s) {
    std::size_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size())
        bad(spec, "instance '" + std::string(s) + "' is not an index (use e.g. 3, 0,5,9-12 or 10%)");
    return v;
}

std::chrono::nanoseconds parse_dur(std::string_view spec, std::string_view s) {
    try {
        return parse_duration(s);
    } catch (const std::invalid_argument& e) {
        bad(spec, e.what());
    }
}

void parse_which(std::string_view spec, std::string_view which, fault_spec& f) {
    if (which.empty()) bad(spec, "nothing after '@'");
    if (which.back() == '%') {
        double pct = 0;
        auto body = which.substr(0, which.size() - 1);
        auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), pct);
        if (body.empty() || ec != std::errc() || p != body.data() + body.size() || !(pct >= 0 && pct <= 100))
            bad(spec, "the fraction must be a percentage from 0% to 100%");
        f.fraction = pct / 100.0;
        return;
    }
    while (!which.empty()) {
        auto comma = which.find(',');
        auto item = which.substr(0, comma);
        which = comma == std::string_view::npos ? std::string_view() : which.substr(comma + 1);
        auto dash = item.find('-');
        std::size_t lo = parse_index(spec, item.substr(0, dash));
        std::size_t hi = dash == std::string_view::npos ? lo : parse_index(spec, item.substr(dash + 1));
        if (hi < lo) bad(spec, "range " + std::string(item) + " runs backwards");
        f.ranges.emplace_back(lo, hi);
        if (comma != std::string_view::npos && which.empty()) bad(spec, "trailing ','");
    }
}

// The faults that take no parameter.
std::optional<fault_kind> plain_kind(std::string_view kind) {
    if (kind == "stall") return fault_kind::stall;
    if (kind == "disconnect") return fault_kind::disconnect;
    if (kind == "garbage") return fault_kind::garbage;
    if (kind == "refuse") return fault_kind::refuse;
    return std::nullopt;
}

}  // namespace

fault_spec parse_fault(std::string_view spec) {
    fault_spec f;
    f.text = std::string(spec);
    std::string_view rest = spec;
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        parse_which(spec, rest.substr(at + 1), f);
        rest = rest.substr(0, at);
    }
    // SERVICE/ — only before the kind (flap's parameter contains a '/').
    auto colon = rest.find(':');
    auto slash = rest.find('/');
    if (slash != std::string_view::npos && (colon == std::string_view::npos || slash < colon)) {
        auto svc = rest.substr(0, slash);
        if (svc == "tuber")
            f.target = service::tuber;
        else if (svc == "scpi")
            f.target = service::scpi;
        else if (svc == "modbus")
            f.target = service::modbus;
        else
            bad(spec, "unknown service '" + std::string(svc) + "' (tuber, scpi or modbus)");
        rest = rest.substr(slash + 1);
        colon = rest.find(':');
    }
    auto kind = rest.substr(0, colon);
    bool has_param = colon != std::string_view::npos;
    auto param = has_param ? rest.substr(colon + 1) : std::string_view();
    auto need_param = [&](const char* what) {
        if (!has_param || param.empty()) bad(spec, std::string(kind) + " needs a parameter: " + what);
    };
    auto no_param = [&] {
        if (has_param) bad(spec, std::string(kind) + " takes no parameter");
    };
    if (kind == "latency" || kind == "jitter") {
        need_param("a duration, e.g. 200us or 1.5s");
        f.kind = kind == "latency" ? fault_kind::latency : fault_kind::jitter;
        f.duration = parse_dur(spec, param);
    } else if (const auto plain = plain_kind(kind)) {  // stall, disconnect, garbage, refuse
        no_param();
        f.kind = *plain;
    } else if (kind == "slow") {
        need_param("bytes per second, e.g. slow:100");
        f.kind = fault_kind::slow;
        auto [p, ec] = std::from_chars(param.data(), param.data() + param.size(), f.bytes_per_s);
        if (ec != std::errc() || p != param.data() + param.size() || !(f.bytes_per_s > 0) || !std::isfinite(f.bytes_per_s))
            bad(spec, "slow needs a positive number of bytes per second");
    } else if (kind == "flap") {
        need_param("UP/DOWN durations, e.g. flap:5s/2s");
        f.kind = fault_kind::flap;
        auto sl = param.find('/');
        if (sl == std::string_view::npos) bad(spec, "flap needs UP/DOWN, e.g. flap:5s/2s");
        f.duration = parse_dur(spec, param.substr(0, sl));
        f.down = parse_dur(spec, param.substr(sl + 1));
        if (f.duration.count() <= 0 || f.down.count() <= 0) bad(spec, "flap durations must be greater than 0");
    } else if (kind == "alarm") {
        need_param("overheat or pressure");
        f.kind = fault_kind::alarm;
        if (param == "overheat")
            f.alarm = alarm_kind::overheat;
        else if (param == "pressure")
            f.alarm = alarm_kind::pressure;
        else
            bad(spec, "alarm is overheat or pressure");
        if (f.target != service::modbus) bad(spec, "alarms are for compressors: write modbus/alarm:" + std::string(param));
    } else {
        bad(spec, kind.empty() ? std::string("no kind") : "unknown kind '" + std::string(kind) + "'");
    }
    return f;
}

std::vector<bool> fault_spec::select(std::size_t count, std::uint64_t seed) const {
    std::vector<bool> on(count, ranges.empty() && !fraction);
    for (auto [lo, hi] : ranges) {
        if (hi >= count)
            throw std::invalid_argument("invalid fault '" + text + "': instance " + std::to_string(hi) + " does not exist (" +
                                        std::string(to_string(target)) + " has " + std::to_string(count) +
                                        (count == 1 ? " instance" : " instances") + ", numbered from 0)");
        for (auto i = lo; i <= hi; ++i) on[i] = true;
    }
    if (fraction && count > 0) {
        auto k = static_cast<std::size_t>(std::llround(*fraction * static_cast<double>(count)));
        if (*fraction > 0 && k == 0) k = 1;
        // The k instances with the smallest hash of (seed, spec, index).
        std::uint64_t spec_key = 1469598103934665603ULL;
        for (unsigned char c : text) spec_key = (spec_key ^ c) * 1099511628211ULL;
        std::vector<std::pair<std::uint64_t, std::size_t>> keyed(count);
        for (std::size_t i = 0; i < count; ++i)
            keyed[i] = {counter_hash({seed, static_cast<std::uint64_t>(stream::fault_selection), spec_key, i}), i};
        std::nth_element(keyed.begin(), keyed.begin() + static_cast<std::ptrdiff_t>(std::min(k, count)), keyed.end());
        for (std::size_t j = 0; j < std::min(k, count); ++j) on[keyed[j].second] = true;
    }
    return on;
}

void instance_faults::add(const fault_spec& f) {
    switch (f.kind) {
        case fault_kind::latency: latency += f.duration; break;
        case fault_kind::jitter: jitter += f.duration; break;
        case fault_kind::stall: stall = true; break;
        case fault_kind::disconnect: disconnect = true; break;
        case fault_kind::garbage: garbage = true; break;
        case fault_kind::refuse: refuse = true; break;
        case fault_kind::slow: bytes_per_s = bytes_per_s > 0 ? std::min(bytes_per_s, f.bytes_per_s) : f.bytes_per_s; break;
        case fault_kind::flap:
            flap_up = f.duration;
            flap_down = f.down;
            break;
        case fault_kind::alarm: alarm = f.alarm; break;
    }
}

std::vector<instance_faults> resolve_faults(const std::vector<fault_spec>& specs, service s, std::size_t count,
                                            std::uint64_t seed, std::chrono::nanoseconds latency,
                                            std::chrono::nanoseconds jitter) {
    std::vector<instance_faults> out(count);
    for (auto& f : out) {
        f.latency = latency;
        f.jitter = jitter;
    }
    for (const auto& spec : specs) {
        if (spec.target != s) continue;
        auto on = spec.select(count, seed);
        for (std::size_t i = 0; i < count; ++i)
            if (on[i]) out[i].add(spec);
    }
    return out;
}

std::string_view fault_grammar_help() noexcept {
    return R"(Fault injection: --fault [SERVICE/]KIND[:PARAM][@WHICH], repeatable.
  SERVICE  tuber (default), scpi or modbus
  KIND     latency:DUR       delay every reply by DUR (200us, 1.5s; bare number = seconds)
           jitter:DUR        delay every reply by a further random 0..DUR
           stall             read requests, never reply
           disconnect        close the connection halfway through each reply
           garbage           reply with invalid bytes
           slow:BYTES_PER_S  send replies at this rate
           refuse            refuse connections (port bound, not listening)
           flap:UP/DOWN      serve for UP, then drop connections and refuse for DOWN, repeatedly
           alarm:overheat, alarm:pressure   compressors only: alarm bit, state 6 after start
  WHICH    instance indices (3 or 0,5,9-12) or a fraction (10%, chosen from --seed); default all
  Examples: --fault latency:50ms@0-3  --fault scpi/stall@0  --fault modbus/alarm:overheat
)";
}

}  // namespace tw::sim
