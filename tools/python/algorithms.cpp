// The algorithm registry from Python (tworoutine.algorithms(), run(),
// load_plugin()): any algorithm registered by name — built in or from a
// plugin — run as `tw run NAME ARGS` runs it, through the same functions of
// tw::algorithms::registry (parse, run), so that arguments, defaults, ranges
// and the fan-out over boards behave the same from Python as from tw.

#include <dlfcn.h>

#include <cmath>

#include <fmt/core.h>

#include <tw/algorithms/registry.hpp>

#include "bridge.hpp"

namespace {

using namespace twpy;
namespace alg = tw::algorithms;

const char* to_string(alg::target t) {
    switch (t) {
        case alg::target::each_board: return "each_board";
        case alg::target::all_boards: return "all_boards";
        case alg::target::no_boards: return "no_boards";
    }
    return "unknown";
}

py::object bound(double v) { return std::isfinite(v) ? py::object(py::float_(v)) : py::none(); }

py::dict describe(const alg::algorithm& a) {
    py::list params;
    for (const auto& p : a.parameters) {
        py::dict d;
        d["name"] = p.name;
        d["kind"] = alg::to_string(p.kind);
        d["help"] = p.help;
        d["default"] = p.default_value.empty() ? py::object(py::none()) : py::object(py::str(p.default_value));
        d["required"] = p.required;
        d["min"] = bound(p.min);
        d["max"] = bound(p.max);
        d["min_excluded"] = p.min_excluded;
        params.append(d);
    }
    py::dict d;
    d["name"] = a.name;
    d["help"] = a.help;
    d["runs_on"] = to_string(a.runs_on);
    d["parameters"] = params;
    d["usage"] = alg::registry::usage(a);
    return d;
}

// One Python value -> the word `tw run` would take for it. Numbers for a
// duration are seconds (a bare number means seconds there too).
std::string word(const alg::algorithm& a, const std::string& name, py::handle v) {
    const auto* p = [&]() -> const alg::parameter* {
        for (const auto& q : a.parameters)
            if (q.name == name) return &q;
        return nullptr;
    }();
    const bool duration = p && p->kind == alg::parameter_kind::duration;
    if (py::isinstance<py::bool_>(v)) return v.cast<bool>() ? "true" : "false";
    if (py::isinstance<py::str>(v)) return v.cast<std::string>();
    // Integers and numbers, NumPy's included (np.int64 is no int, np.float32 no float).
    if (py::hasattr(v, "__index__")) return py::str(py::int_(py::reinterpret_borrow<py::object>(v))).cast<std::string>();
    if (py::hasattr(v, "__float__")) return py::repr(py::float_(py::reinterpret_borrow<py::object>(v))).cast<std::string>();
    if (duration && py::hasattr(v, "total_seconds"))  // datetime.timedelta
        return py::repr(v.attr("total_seconds")()).cast<std::string>();
    throw tw::usage_error(fmt::format("{}: cannot pass {} = {} (a number, a flag or text)", a.name, name,
                                      py::repr(v).cast<std::string>()));
}

py::list outcomes_to_python(const std::vector<alg::run_outcome>& outs) {
    py::list out;
    for (const auto& o : outs) {
        py::dict d;
        d["address"] = o.address;
        d["status"] = o.ok ? "ok" : "failed";
        d["error"] = o.error;
        d["result"] = o.ok ? json_to_python(o.result) : py::none();
        out.append(d);
    }
    return out;
}

}  // namespace

namespace twpy {

void register_algorithms(py::module_& m) {
    m.def("algorithms", [] {
        py::list out;
        for (const auto* a : alg::registry::global().list()) out.append(describe(*a));
        return out;
    });

    m.def(
        "describe_algorithm", [](const std::string& name) { return describe(alg::registry::global().get(name)); },
        py::arg("name"));

    // Runs algorithm `name` with `params` (NAME -> value). each_board: one
    // outcome dict per board, in order, a failing board never raising for the
    // others; all_boards and no_boards: the result itself, an error raised as
    // its tworoutine class. Unknown names and bad arguments raise UsageError
    // here, before anything runs.
    m.def(
        "run_algorithm",
        [](const std::string& name, std::vector<std::string> boards, py::dict params, std::size_t concurrency, double timeout,
           py::object loop, std::optional<double> deadline) {
            const auto& a = alg::registry::global().get(name);
            std::vector<std::string> words;
            for (auto [k, v] : params) {
                const auto key = py::str(k).cast<std::string>();
                words.push_back(key + "=" + word(a, key, v));
            }
            const auto args = alg::registry::parse(a, words);
            if (a.runs_on != alg::target::no_boards && boards.empty())
                throw tw::usage_error(fmt::format("{} runs on boards: pass boards=[...]", a.name));
            alg::run_context ctx;
            ctx.boards = a.runs_on == alg::target::no_boards ? std::vector<std::string>{} : std::move(boards);
            ctx.concurrency = concurrency;
            ctx.tuber.timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(timeout));
            if (a.runs_on == alg::target::each_board)
                return dispatch([&a, ctx, args]() mutable { return alg::registry::run(a, ctx, args); }, loop, deadline,
                                [](const std::vector<alg::run_outcome>& o) { return py::object(outcomes_to_python(o)); });
            // Once: called directly rather than through registry::run, which
            // would keep only the error's message; raised, it keeps its class
            // (TimeoutError, ConnectionError, ...).
            return dispatch([&a, ctx, args]() mutable { return a.run(ctx, args); }, loop, deadline,
                            [](const boost::json::value& v) { return json_to_python(v); });
        },
        py::arg("name"), py::arg("boards"), py::arg("params"), py::arg("concurrency"), py::arg("timeout"), py::arg("loop"),
        py::arg("deadline"));

    m.def(
        "load_plugin",
        [](const std::string& path) {
            // A plugin is not linked with tw (cmake/tworoutinePlugin.cmake):
            // its tw, Boost and fmt symbols must resolve from the process, as
            // they do from the `tw` executable. Python loaded this module with
            // RTLD_LOCAL, so make its symbols (and its libraries') global
            // first; the plugin then runs on this module's runtime.
            Dl_info self{};
            if (::dladdr(reinterpret_cast<void*>(&register_algorithms), &self) == 0 || !self.dli_fname)
                throw tw::usage_error("load_plugin: cannot find the module's own library");
            if (!::dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL)) {
                const char* why = ::dlerror();
                throw tw::usage_error(fmt::format("load_plugin: cannot make {} global: {}", self.dli_fname, why ? why : "?"));
            }
            alg::load_plugin(path);
        },
        py::arg("path"));
}

}  // namespace twpy
