// tw::algorithms::registry: see registry.hpp.
#include <tw/algorithms/registry.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <exception>
#include <string>
#include <utility>

#include <fmt/core.h>

#include <tw/duration.hpp>
#include <tw/errors.hpp>
#include <tw/fan_out.hpp>

#include "builtin_algorithms.hpp"
#include "descriptor_budget.hpp"

namespace tw::algorithms {

const char* to_string(parameter_kind k) noexcept {
    switch (k) {
        case parameter_kind::integer: return "integer";
        case parameter_kind::number: return "number";
        case parameter_kind::text: return "text";
        case parameter_kind::flag: return "flag";
        case parameter_kind::duration: return "duration";
    }
    return "?";
}

// ---- arguments ---------------------------------------------------------------

const arguments::value& arguments::at(std::string_view name) const {
    auto it = values_.find(name);
    if (it == values_.end()) throw usage_error("argument '" + std::string(name) + "' was not given and has no default");
    return it->second;
}

bool arguments::has(std::string_view name) const { return values_.find(name) != values_.end(); }

namespace {

template <class T>
const T& get_as(const arguments::value& v, std::string_view name, const char* kind) {
    if (auto* p = std::get_if<T>(&v)) return *p;
    throw usage_error("argument '" + std::string(name) + "' is not of kind " + kind + " (the algorithm reads it as one)");
}

}  // namespace

long long arguments::integer(std::string_view name) const { return get_as<long long>(at(name), name, "integer"); }

double arguments::number(std::string_view name) const {
    const auto& v = at(name);
    if (auto* i = std::get_if<long long>(&v)) return static_cast<double>(*i);
    return get_as<double>(v, name, "number");
}

const std::string& arguments::text(std::string_view name) const { return get_as<std::string>(at(name), name, "text"); }
bool arguments::flag(std::string_view name) const { return get_as<bool>(at(name), name, "flag"); }
clock::duration arguments::duration(std::string_view name) const {
    return get_as<clock::duration>(at(name), name, "duration");
}

const std::string& run_context::board() const {
    if (boards.size() != 1)
        throw usage_error(fmt::format("this algorithm runs on one board at a time, and was given {}", boards.size()));
    return boards.front();
}

// ---- registry ----------------------------------------------------------------

namespace {

bool is_identifier(std::string_view s) {
    if (s.empty() || std::isdigit(static_cast<unsigned char>(s.front()))) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return c == '_' || std::isalnum(static_cast<unsigned char>(c)); });
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool bounded(const parameter& p) { return std::isfinite(p.min) || std::isfinite(p.max); }

// "[0, 1000000]", "(0, 1]", "at most 5": the range of `p` as a reader writes it.
std::string range_text(const parameter& p) {
    if (!std::isfinite(p.min)) return fmt::format("at most {}", p.max);
    if (!std::isfinite(p.max)) return fmt::format("{} {}", p.min_excluded ? "more than" : "at least", p.min);
    return fmt::format("{}{}, {}]", p.min_excluded ? '(' : '[', p.min, p.max);
}

bool in_range(const parameter& p, double v) { return (p.min_excluded ? v > p.min : v >= p.min) && v <= p.max; }

arguments::value parse_unchecked(const algorithm& a, const parameter& p, std::string_view text);

// One word typed for `p` -> its value; usage_error saying what was expected.
arguments::value parse_value(const algorithm& a, const parameter& p, std::string_view text) {
    auto v = parse_unchecked(a, p, text);
    const double x = std::holds_alternative<long long>(v) ? static_cast<double>(std::get<long long>(v))
                     : std::holds_alternative<double>(v)  ? std::get<double>(v)
                                                          : 0.0;
    if ((p.kind == parameter_kind::integer || p.kind == parameter_kind::number) && !in_range(p, x))
        throw usage_error(fmt::format("{}: {}={} is outside {}", a.name, p.name, text, range_text(p)));
    return v;
}

arguments::value parse_unchecked(const algorithm& a, const parameter& p, std::string_view text) {
    auto bad = [&](const std::string& expected) -> usage_error {
        return usage_error(fmt::format("{}: {}='{}' is not {}", a.name, p.name, text, expected));
    };
    switch (p.kind) {
        case parameter_kind::integer: {
            long long v = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
            if (ec == std::errc() && end == text.data() + text.size()) return v;
            // 1e3 reads as an integer when it is one.
            double d = 0;
            auto [dend, dec] = std::from_chars(text.data(), text.data() + text.size(), d);
            if (dec == std::errc() && dend == text.data() + text.size() && std::isfinite(d) && d == std::floor(d) &&
                std::fabs(d) < 9e15)
                return static_cast<long long>(d);
            throw bad("an integer");
        }
        case parameter_kind::number: {
            double v = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
            if (ec == std::errc() && end == text.data() + text.size() && std::isfinite(v)) return v;
            throw bad("a number (e.g. 4.5e6)");
        }
        case parameter_kind::text: return std::string(text);
        case parameter_kind::flag: {
            const auto t = lower(text);
            if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
            if (t == "false" || t == "0" || t == "no" || t == "off") return false;
            throw bad("a flag (true or false)");
        }
        case parameter_kind::duration:
            try {
                return std::chrono::duration_cast<clock::duration>(parse_duration(text));
            } catch (const std::invalid_argument& e) {
                throw usage_error(fmt::format("{}: {}: {}", a.name, p.name, e.what()));
            }
    }
    throw bad("valid");
}

}  // namespace

registry& registry::global() {
    // Built in on first use rather than by static initialisers in each
    // algorithm's file: objects of a static library that nothing references
    // are dropped by the linker, and their registrations with them.
    static registry* r = [] {
        auto* g = new registry;  // never destroyed: plugins' algorithms may outlive static destruction order
        add_builtin_algorithms(*g);
        return g;
    }();
    return *r;
}

void registry::add(algorithm a) {
    if (!is_identifier(a.name))
        throw usage_error("algorithm name '" + a.name + "' is not an identifier (letters, digits and '_')");
    if (!a.run) throw usage_error("algorithm '" + a.name + "' has no run function");
    for (std::size_t i = 0; i < a.parameters.size(); ++i) {
        const auto& p = a.parameters[i];
        if (!is_identifier(p.name))
            throw usage_error("algorithm '" + a.name + "': parameter name '" + p.name + "' is not an identifier");
        for (std::size_t j = 0; j < i; ++j)
            if (a.parameters[j].name == p.name)
                throw usage_error("algorithm '" + a.name + "': parameter '" + p.name + "' is declared twice");
        if (!p.default_value.empty()) parse_value(a, p, p.default_value);  // a bad default is the author's bug: say so now
    }
    std::lock_guard lk(mtx_);
    if (algorithms_.count(a.name)) throw usage_error("algorithm '" + a.name + "' is already registered");
    auto name = a.name;
    algorithms_.emplace(std::move(name), std::make_unique<algorithm>(std::move(a)));
}

const algorithm* registry::find(std::string_view name) const {
    std::lock_guard lk(mtx_);
    auto it = algorithms_.find(name);
    return it == algorithms_.end() ? nullptr : it->second.get();
}

const algorithm& registry::get(std::string_view name) const {
    if (auto* a = find(name)) return *a;
    std::string known;
    for (auto* a : list()) known += (known.empty() ? "" : ", ") + a->name;
    throw usage_error(fmt::format("unknown algorithm '{}' (known: {})", name, known));
}

std::vector<const algorithm*> registry::list() const {
    std::lock_guard lk(mtx_);
    std::vector<const algorithm*> out;
    for (auto& [name, a] : algorithms_) out.push_back(a.get());
    return out;  // the map keeps them sorted by name
}

arguments registry::parse(const algorithm& a, const std::vector<std::string>& words) {
    arguments args;
    std::size_t next_positional = 0;
    for (const auto& w : words) {
        const auto eq = w.find('=');
        const parameter* p = nullptr;
        std::string_view value = w;
        if (eq != std::string::npos && is_identifier(std::string_view(w).substr(0, eq))) {
            const auto name = std::string_view(w).substr(0, eq);
            auto it = std::find_if(a.parameters.begin(), a.parameters.end(), [&](auto& q) { return q.name == name; });
            if (it == a.parameters.end()) {
                std::string names;
                for (auto& q : a.parameters) names += (names.empty() ? "" : ", ") + q.name;
                throw usage_error(fmt::format("{}: no parameter '{}' (parameters: {})", a.name, name,
                                              names.empty() ? "none" : names));
            }
            p = &*it;
            value = std::string_view(w).substr(eq + 1);
        } else {
            // Positional: the next parameter not given by name yet.
            while (next_positional < a.parameters.size() && args.has(a.parameters[next_positional].name))
                ++next_positional;
            if (next_positional == a.parameters.size())
                throw usage_error(fmt::format("{}: too many arguments at '{}' (it takes {})", a.name, w,
                                              a.parameters.size()));
            p = &a.parameters[next_positional++];
        }
        if (args.has(p->name)) throw usage_error(fmt::format("{}: {} is given twice", a.name, p->name));
        args.set(p->name, parse_value(a, *p, value));
    }
    for (const auto& p : a.parameters) {
        if (args.has(p.name)) continue;
        if (p.required) throw usage_error(fmt::format("{}: missing argument {} ({})", a.name, p.name, p.help));
        if (!p.default_value.empty()) args.set(p.name, parse_value(a, p, p.default_value));
    }
    return args;
}

std::vector<run_outcome> registry::run(const algorithm& a, run_context& ctx, const arguments& args) {
    if (a.runs_on != target::no_boards && ctx.boards.empty())
        throw usage_error(fmt::format("{} runs on boards and run_context::boards is empty", a.name));

    if (a.runs_on != target::each_board) {
        run_outcome out;
        try {
            out.result = a.run(ctx, args);
            out.ok = true;
        } catch (const cancelled_error&) {
            throw;
        } catch (...) {
            out.error = describe(std::current_exception());
        }
        return {std::move(out)};
    }

    // One call per board, each with a context naming only its board; as many
    // at once as connections fit the descriptor limit (descriptor_budget.hpp).
    auto results = fan_out(
        ctx.boards,
        [&](const std::string& address) {
            run_context one = ctx;
            one.boards = {address};
            return a.run(one, args);
        },
        {.concurrency = detail::descriptor_budget(ctx.concurrency, ctx.boards.size()), .name = a.name});
    std::vector<run_outcome> out;
    out.reserve(ctx.boards.size());
    for (std::size_t i = 0; i < ctx.boards.size(); ++i) {
        const auto& o = results.outcomes[i];
        run_outcome r;
        r.address = ctx.boards[i];
        r.ok = o.ok();
        if (r.ok)
            r.result = o.value();
        else
            r.error = o.error_message();
        out.push_back(std::move(r));
    }
    return out;
}

std::string registry::usage(const algorithm& a) {
    std::string s = fmt::format("{} — {}\n", a.name, a.help);
    const char* runs_on = a.runs_on == target::each_board   ? "each board"
                          : a.runs_on == target::all_boards ? "all boards at once"
                                                            : "no boards";
    s += fmt::format("  runs on {}\n", runs_on);
    for (const auto& p : a.parameters) {
        std::string dflt = p.required ? "required" : p.default_value.empty() ? "optional" : "default " + p.default_value;
        if (bounded(p)) dflt = range_text(p) + ", " + dflt;
        s += fmt::format("  {:<28} {} ({})\n", p.name + "=" + to_string(p.kind), p.help, dflt);
    }
    return s;
}

// ---- plugins -----------------------------------------------------------------

void load_plugin(const std::string& path, registry& r) {
    // dlopen searches the library path for a bare name; a user means the file.
    const std::string file = path.find('/') == std::string::npos ? "./" + path : path;
    // RTLD_NOW: a missing symbol is reported here, with its name, rather than
    // crashing the first time the algorithm calls it. The library is never
    // closed: its algorithms stay registered for the life of the process.
    void* lib = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char* why = ::dlerror();
        throw usage_error(fmt::format("cannot load plugin '{}': {}", path, why ? why : "unknown error"));
    }
    using register_fn = void (*)(registry&);
    ::dlerror();
    auto fn = reinterpret_cast<register_fn>(::dlsym(lib, "tw_register_algorithms"));
    if (!fn)
        throw usage_error(fmt::format("plugin '{}' has no tw_register_algorithms function (define it with TW_PLUGIN)", path));
    try {
        fn(r);
    } catch (const std::exception& e) {
        throw usage_error(fmt::format("plugin '{}' failed to register its algorithms: {}", path, e.what()));
    }
}

}  // namespace tw::algorithms
