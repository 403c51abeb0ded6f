// The instruments of _tworoutine: SCPI, Modbus TCP and JSON-RPC clients, the
// typed temperature controller and compressor over them, the cool-down of a
// cryostat, and the simulator serving them (the Python classes Scpi, Modbus,
// JsonRpc, TemperatureController, Compressor, the function cooldown and sim()
// of tools/python/tworoutine/__init__.py).
//
// As for boards (module.cpp): a client is held by a shared_ptr that Python
// and the fibers working on it share, deleted on the runtime's thread; every
// operation takes `loop` and `deadline` and goes through dispatch(), with its
// arguments converted to C++ values first.

#include <cstdint>
#include <limits>

#include <fmt/core.h>

#include <tw/algorithms/cooldown.hpp>
#include <tw/drivers/jsonrpc/client.hpp>
#include <tw/drivers/modbus/client.hpp>
#include <tw/drivers/modbus/compressor.hpp>
#include <tw/drivers/scpi/client.hpp>
#include <tw/drivers/scpi/temperature_controller.hpp>
#include <tw/sim/simulator.hpp>

#include "bridge.hpp"

namespace {

using namespace twpy;
namespace json = boost::json;

std::chrono::nanoseconds seconds(double s) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(s));
}

struct scpi_handle {
    std::shared_ptr<tw::scpi::client> c;
};
struct modbus_handle {
    std::shared_ptr<tw::modbus::client> c;
};
struct jsonrpc_handle {
    std::shared_ptr<tw::jsonrpc::client> c;
};
struct controller_handle {
    std::shared_ptr<tw::scpi::temperature_controller> c;
};
struct compressor_handle {
    std::shared_ptr<tw::modbus::compressor> c;
};

// A Modbus address, count or register value from Python: pybind11 would take
// any int for a std::uint16_t and raise a TypeError, or a C++ cast would wrap
// it silently; a value out of range is a usage error that says so.
std::uint16_t u16(const char* op, const char* what, long long v) {
    if (v < 0 || v > 65535) throw tw::usage_error(fmt::format("Modbus {}: {} {} is out of 0..65535", op, what, v));
    return static_cast<std::uint16_t>(v);
}

std::vector<std::uint16_t> u16s(const char* op, const std::vector<long long>& vs) {
    std::vector<std::uint16_t> out;
    out.reserve(vs.size());
    for (auto v : vs) out.push_back(u16(op, "register value", v));
    return out;
}

py::list bits_to_python(const std::vector<bool>& bits) {
    py::list out;
    for (bool b : bits) out.append(py::bool_(b));
    return out;
}

// JSON-RPC params from Python: positional (a list) or named (a dict), not both; none: null.
json::value rpc_params(py::list args, py::dict kwargs) {
    if (args.size() && kwargs.size()) throw tw::usage_error("JSON-RPC: params are positional or named, not both");
    if (kwargs.size()) return python_to_json(kwargs);
    if (args.size()) return python_to_json(args);
    return nullptr;
}

py::object cooldown_to_python(const tw::algorithms::cooldown_result& r) {
    py::dict d;
    d["setpoint"] = r.setpoint;
    d["final_temperature"] = r.final_temperature;
    d["time_to_running_s"] = r.time_to_running_s;
    d["time_to_stable_s"] = r.time_to_stable_s;
    d["warnings"] = r.warnings;
    d["alarms"] = r.alarms;
    py::list steps;
    for (const auto& s : r.steps) {
        py::dict step;
        step["at_s"] = s.at_s;
        step["what"] = s.what;
        steps.append(step);
    }
    d["steps"] = steps;
    return d;
}

py::dict temperatures_to_python(const tw::modbus::compressor_temperatures& t) {
    py::dict d;
    d["coolant_in"] = t.coolant_in;
    d["coolant_out"] = t.coolant_out;
    d["oil"] = t.oil;
    d["helium"] = t.helium;
    return d;
}

py::dict pressures_to_python(const tw::modbus::compressor_pressures& p) {
    py::dict d;
    d["high"] = p.high;
    d["low"] = p.low;
    return d;
}

// The warning and alarm bits as cooldown() names them ("overheat", ...).
py::object bit_names(std::uint16_t bits) { return py::cast(tw::algorithms::compressor_bit_names(bits)); }

py::object status_to_python(const tw::modbus::compressor_status& s) {
    py::dict d;
    d["state"] = std::string(tw::modbus::to_string(s.state));
    d["raw_state"] = s.raw_state;
    d["on"] = s.on;
    d["temperatures"] = temperatures_to_python(s.temperatures);
    d["pressures"] = pressures_to_python(s.pressures);
    d["motor_current"] = s.motor_current;
    d["hours"] = s.hours;
    d["warnings"] = bit_names(s.warnings);
    d["alarms"] = bit_names(s.alarms);
    return d;
}

}  // namespace

namespace twpy {

void register_instruments(py::module_& m) {
    // ---- SCPI ------------------------------------------------------------------------
    py::class_<scpi_handle>(m, "_Scpi")
        .def(py::init([](std::string address, double timeout, bool check_errors) {
                 tw::scpi::options o;
                 o.timeout = seconds(timeout);
                 o.check_errors = check_errors;
                 return scpi_handle{on_runtime<tw::scpi::client>(std::move(address), std::move(o))};
             }),
             py::arg("address"), py::arg("timeout") = 5.0, py::arg("check_errors") = false)
        .def_property_readonly("address", [](const scpi_handle& h) { return h.c->address(); });

    m.def(
        "scpi_write",
        [](scpi_handle h, std::string command, bool checked, py::object loop, std::optional<double> deadline) {
            return dispatch(
                [c = h.c, command, checked] {
                    if (checked)
                        c->write_checked(command);
                    else
                        c->write(command);
                },
                loop, deadline);
        },
        py::arg("h"), py::arg("command"), py::arg("checked"), py::arg("loop"), py::arg("deadline"));

    // query, as text, a number, an integer or a list of numbers (`as` says which).
    m.def(
        "scpi_query",
        [](scpi_handle h, std::string query, std::string as, py::object loop, std::optional<double> deadline) -> py::object {
            if (as == "text") return dispatch([c = h.c, query] { return c->query(query); }, loop, deadline);
            if (as == "double") return dispatch([c = h.c, query] { return c->query_double(query); }, loop, deadline);
            if (as == "int") return dispatch([c = h.c, query] { return c->query_int(query); }, loop, deadline);
            if (as == "doubles") return dispatch([c = h.c, query] { return c->query_doubles(query); }, loop, deadline);
            throw tw::usage_error("scpi_query: as must be text, double, int or doubles, not " + as);
        },
        py::arg("h"), py::arg("query"), py::arg("as"), py::arg("loop"), py::arg("deadline"));

    m.def(
        "scpi_wait_complete",
        [](scpi_handle h, py::object loop, std::optional<double> deadline) {
            return dispatch([c = h.c] { c->wait_complete(); }, loop, deadline);
        },
        py::arg("h"), py::arg("loop"), py::arg("deadline"));

    m.def(
        "scpi_next_error",
        [](scpi_handle h, py::object loop, std::optional<double> deadline) {
            return dispatch(
                [c = h.c] {
                    auto e = c->next_error();
                    return std::make_pair(e.code, e.message);
                },
                loop, deadline);
        },
        py::arg("h"), py::arg("loop"), py::arg("deadline"));

    m.def(
        "scpi_check_error",
        [](scpi_handle h, py::object loop, std::optional<double> deadline) {
            return dispatch([c = h.c] { c->check_error(); }, loop, deadline);
        },
        py::arg("h"), py::arg("loop"), py::arg("deadline"));

    m.def(
        "scpi_close",
        [](scpi_handle h, py::object loop, std::optional<double> deadline) {
            return dispatch([c = h.c] { c->close(); }, loop, deadline);
        },
        py::arg("h"), py::arg("loop"), py::arg("deadline"));

    // ---- Modbus TCP ------------------------------------------------------------------
    py::class_<modbus_handle>(m, "_Modbus")
        .def(py::init([](std::string address, double timeout, long long unit) {
                 if (unit < 0 || unit > 255) throw tw::usage_error(fmt::format("Modbus: unit {} is out of 0..255", unit));
                 tw::modbus::options o;
                 o.timeout = seconds(timeout);
                 o.unit = static_cast<std::uint8_t>(unit);
                 return modbus_handle{on_runtime<tw::modbus::client>(std::move(address), std::move(o))};
             }),
             py::arg("address"), py::arg("timeout") = 5.0, py::arg("unit") = 1)
        .def_property_readonly("address", [](const modbus_handle& h) { return h.c->address(); });

    // The reads: `table` says which (coils, discrete_inputs, holding, input,
    // holding_floats, input_floats), one binding rather than six.
    m.def(
        "modbus_read",
        [](modbus_handle h, std::string table, long long address, long long count, py::object loop,
           std::optional<double> deadline) -> py::object {
            const auto op = "read_" + table;
            const auto a = u16(op.c_str(), "address", address);
            const auto n = u16(op.c_str(), "count", count);
            auto bits = [](std::vector<bool> v) { return py::object(bits_to_python(v)); };
            if (table == "coils") return dispatch([c = h.c, a, n] { return c->read_coils(a, n); }, loop, deadline, bits);
            if (table == "discrete_inputs")
                return dispatch([c = h.c, a, n] { return c->read_discrete_inputs(a, n); }, loop, deadline, bits);
            if (table == "holding_registers")
                return dispatch([c = h.c, a, n] { return c->read_holding_registers(a, n); }, loop, deadline);
            if (table == "input_registers")
                return dispatch([c = h.c, a, n] { return c->read_input_registers(a, n); }, loop, deadline);
            if (table == "holding_floats")
                return dispatch([c = h.c, a, n] { return c->read_holding_floats(a, n); }, loop, deadline);
            if (table == "input_floats")
                return dispatch([c = h.c, a, n] { return c->read_input_floats(a, n); }, loop, deadline);
            throw tw::usage_error("modbus_read: no table " + table);
        },
        py::arg("h"), py::arg("table"), py::arg("address"), py::arg("count"), py::arg("loop"), py::arg("deadline"));

    m.def(
        "modbus_write_coils",
        [](modbus_handle h, long long address, std::vector<bool> values, bool single, py::object loop,
           std::optional<double> deadline) {
            const auto a = u16(single ? "write_coil" : "write_coils", "address", address);
            return dispatch(
                [c = h.c, a, values, single] {
                    if (single)
                        c->write_coil(a, values.at(0));
                    else
                        c->write_coils(a, values);
                },
                loop, deadline);
        },
        py::arg("h"), py::arg("address"), py::arg("values"), py::arg("single"), py::arg("loop"), py::arg("deadline"));

    m.def(
        "modbus_write_registers",
        [](modbus_handle h, long long address, std::vector<long long> values, bool single, py::object loop,
           std::optional<double> deadline) {
            const char* op = single ? "write_register" : "write_registers";
            const auto a = u16(op, "address", address);
            auto v = u16s(op, values);
            return dispatch(
                [c = h.c, a, v, single] {
                    if (single)
                        c->write_register(a, v.at(0));
                    else
                        c->write_registers(a, v);
                },
                loop, deadline);
        },
        py::arg("h"), py::arg("address"), py::arg("values"), py::arg("single"), py::arg("loop"), py::arg("deadline"));

    m.def(
        "modbus_write_floats",
        [](modbus_handle h, long long address, std::vector<float> values, py::object loop, std::optional<double> deadline) {
            const auto a = u16("write_floats", "address", address);
            return dispatch([c = h.c, a, values] { c->write_floats(a, values); }, loop, deadline);
        },
        py::arg("h"), py::arg("address"), py::arg("values"), py::arg("loop"), py::arg("deadline"));

    m.def(
        "modbus_close",
        [](modbus_handle h, py::object loop, std::optional<double> deadline) {
            return dispatch([c = h.c] { c->close(); }, loop, deadline);
        },
        py::arg("h"), py::arg("loop"), py::arg("deadline"));

    // ---- JSON-RPC --------------------------------------------------------------------
    py::class_<jsonrpc_handle>(m, "_JsonRpc")
        .def(py::init([](std::string url, double timeout) {
                 tw::jsonrpc::options o;
                 o.timeout = seconds(timeout);
                 return jsonrpc_handle{on_runtime<tw::jsonrpc::client>(url, std::move(o))};
             }),
             py::arg("url"), py::arg("timeout") = 5.0)
        .def_property_readonly("address", [](const jsonrpc_handle& h) { return h.c->address(); })
        .def_property_readonly("target", [](const jsonrpc_handle& h) { return h.c->target(); });

    m.def(
        "jsonrpc_call",
        [](jsonrpc_handle h, std::string method, py::list args, py::dict kwargs, bool notify, py::object loop,
           std::optional<double> deadline) {
            auto params = rpc_params(args, kwargs);
            return dispatch(
                [c = h.c, method, params, notify]() -> json::value {
                    if (notify) {
                        c->notify(method, params);
                        return nullptr;
                    }
                    return c->call(method, params);
                },
                loop, deadline, [](const json::value& v) { return json_to_python(v); });
        },
        py::arg("h"), py::arg("method"), py::arg("args"), py::arg("kwargs"), py::arg("notify"), py::arg("loop"),
        py::arg("deadline"));

    // A batch in one POST: calls are (method, params) with params a list, a
    // dict or None; one outcome per call, in order, a failed call never
    // raising for the others.
    m.def(
        "jsonrpc_batch",
        [](jsonrpc_handle h, std::vector<std::pair<std::string, py::object>> calls, py::object loop,
           std::optional<double> deadline) {
            std::vector<std::pair<std::string, json::value>> cs;
            for (auto& [method, params] : calls) {
                if (!params.is_none() && !py::isinstance<py::list>(params) && !py::isinstance<py::tuple>(params) &&
                    !py::isinstance<py::dict>(params))
                    throw tw::usage_error("JsonRpc.batch: the params of " + method + " must be a list, a dict or None");
                cs.emplace_back(method, params.is_none() ? json::value(nullptr) : python_to_json(params));
            }
            struct entry {
                bool ok;
                json::value value;
                std::string error;
            };
            return dispatch(
                [c = h.c, cs] {
                    std::vector<entry> out;
                    if (cs.empty()) return out;  // nothing to send (an empty batch is an invalid request)
                    tw::jsonrpc::batch b(*c);
                    for (const auto& [method, params] : cs) b.call(method, params);
                    for (auto& r : b.execute())
                        out.push_back(r.ok() ? entry{true, r.value(), {}} : entry{false, nullptr, r.error_message()});
                    return out;
                },
                loop, deadline, [](const std::vector<entry>& es) {
                    py::list out;
                    for (const auto& e : es) {
                        py::dict d;
                        d["ok"] = e.ok;
                        d["result"] = json_to_python(e.value);
                        d["error"] = e.error;
                        out.append(d);
                    }
                    return py::object(out);
                });
        },
        py::arg("h"), py::arg("calls"), py::arg("loop"), py::arg("deadline"));

    // ---- the typed instruments over SCPI and Modbus ----------------------------------
    py::class_<controller_handle>(m, "_TemperatureController")
        .def(py::init([](std::string address, double timeout) {
                 tw::scpi::options o;
                 o.timeout = seconds(timeout);
                 return controller_handle{on_runtime<tw::scpi::temperature_controller>(std::move(address), std::move(o))};
             }),
             py::arg("address"), py::arg("timeout") = 5.0)
        .def_property_readonly("address", [](const controller_handle& h) { return h.c->scpi().address(); });

    // One binding for the controller's calls, `op` naming which; `n` is the
    // sensor or loop, `x` and `on` the values set.
    m.def(
        "controller_op",
        [](controller_handle h, std::string op, int n, double x, bool on, py::object loop,
           std::optional<double> deadline) -> py::object {
            auto c = h.c;
            if (op == "identify") return dispatch([c] { return c->identify(); }, loop, deadline);
            if (op == "temperature") return dispatch([c, n] { return c->temperature(n); }, loop, deadline);
            if (op == "setpoint") return dispatch([c, n] { return c->setpoint(n); }, loop, deadline);
            if (op == "set_setpoint") return dispatch([c, n, x] { c->set_setpoint(n, x); }, loop, deadline);
            if (op == "ramp")
                return dispatch([c, n] { return c->ramp(n); }, loop, deadline, [](const tw::scpi::temperature_controller::ramp_state& r) {
                    py::dict d;
                    d["enabled"] = r.enabled;
                    d["rate"] = r.rate;
                    return py::object(d);
                });
            if (op == "set_ramp") return dispatch([c, n, on, x] { c->set_ramp(n, on, x); }, loop, deadline);
            if (op == "heater") return dispatch([c, n] { return c->heater(n); }, loop, deadline);
            if (op == "reset") return dispatch([c] { c->reset(); }, loop, deadline);
            throw tw::usage_error("controller_op: no operation " + op);
        },
        py::arg("h"), py::arg("op"), py::arg("n"), py::arg("x"), py::arg("on"), py::arg("loop"), py::arg("deadline"));

    py::class_<compressor_handle>(m, "_Compressor")
        .def(py::init([](std::string address, double timeout) {
                 tw::modbus::options o;
                 o.timeout = seconds(timeout);
                 return compressor_handle{on_runtime<tw::modbus::compressor>(std::move(address), std::move(o))};
             }),
             py::arg("address"), py::arg("timeout") = 5.0)
        .def_property_readonly("address", [](const compressor_handle& h) { return h.c->modbus().address(); });

    m.def(
        "compressor_op",
        [](compressor_handle h, std::string op, py::object loop, std::optional<double> deadline) -> py::object {
            auto c = h.c;
            if (op == "status") return dispatch([c] { return c->status(); }, loop, deadline, status_to_python);
            if (op == "state")
                return dispatch([c] { return std::string(tw::modbus::to_string(c->state())); }, loop, deadline);
            if (op == "is_on") return dispatch([c] { return c->is_on(); }, loop, deadline);
            if (op == "temperatures")
                return dispatch([c] { return c->temperatures(); }, loop, deadline,
                                [](const tw::modbus::compressor_temperatures& t) { return py::object(temperatures_to_python(t)); });
            if (op == "pressures")
                return dispatch([c] { return c->pressures(); }, loop, deadline,
                                [](const tw::modbus::compressor_pressures& p) { return py::object(pressures_to_python(p)); });
            if (op == "motor_current") return dispatch([c] { return c->motor_current(); }, loop, deadline);
            if (op == "hours") return dispatch([c] { return c->hours(); }, loop, deadline);
            if (op == "warnings") return dispatch([c] { return c->warnings(); }, loop, deadline, bit_names);
            if (op == "alarms") return dispatch([c] { return c->alarms(); }, loop, deadline, bit_names);
            if (op == "start") return dispatch([c] { c->start(); }, loop, deadline);
            if (op == "stop") return dispatch([c] { c->stop(); }, loop, deadline);
            throw tw::usage_error("compressor_op: no operation " + op);
        },
        py::arg("h"), py::arg("op"), py::arg("loop"), py::arg("deadline"));

    // ---- cool-down -------------------------------------------------------------------
    m.def(
        "cooldown",
        [](std::string controller, std::string compressor, double setpoint, double deadline_s, double tolerance, double hold,
           double poll, double ramp_rate, int heater_loop, int sensor, bool acknowledge_fault, double timeout, py::object loop,
           std::optional<double> deadline) {
            tw::algorithms::cooldown_options o;
            o.loop = heater_loop;
            o.sensor = sensor;
            o.tolerance = tolerance;
            o.hold = std::chrono::duration_cast<tw::clock::duration>(seconds(hold));
            o.poll = std::chrono::duration_cast<tw::clock::duration>(seconds(poll));
            o.ramp_rate = ramp_rate;
            o.acknowledge_fault = acknowledge_fault;
            const auto until = std::chrono::duration_cast<tw::clock::duration>(seconds(deadline_s));
            const auto per_request = seconds(timeout);
            return dispatch(
                [=] {
                    // The instruments live on the fiber: made, used and
                    // closed on the runtime's thread.
                    tw::modbus::compressor comp(compressor, {.timeout = per_request});
                    tw::scpi::temperature_controller tc(controller, {.timeout = per_request});
                    return tw::algorithms::cooldown(comp, tc, setpoint, until, o);
                },
                loop, deadline, cooldown_to_python);
        },
        py::arg("controller"), py::arg("compressor"), py::arg("setpoint"), py::arg("deadline_s"), py::arg("tolerance"),
        py::arg("hold"), py::arg("poll"), py::arg("ramp_rate"), py::arg("heater_loop"), py::arg("sensor"),
        py::arg("acknowledge_fault"), py::arg("timeout"), py::arg("loop"), py::arg("deadline"));

    // ---- the simulator, with instruments ---------------------------------------------
    // A tw::sim::simulator (the class _Simulator of module.cpp) that also
    // serves SCPI temperature controllers and Modbus compressors, with their
    // time constants (seconds) settable so that a cool-down takes a moment.
    m.def(
        "_simulator",
        [](std::size_t boards, std::size_t channels, std::uint64_t seed, double latency, std::size_t scpi, std::size_t modbus,
           double tau, double compressor_start, double compressor_stop) {
            tw::sim::config c;
            c.boards = boards;
            c.channels = channels;
            c.scpi = scpi;
            c.modbus = modbus;
            c.seed = seed;
            c.latency = seconds(latency);
            c.tau = seconds(tau);
            c.compressor_start = seconds(compressor_start);
            c.compressor_stop = seconds(compressor_stop);
            return std::make_unique<tw::sim::simulator>(c, sim_rt());
        },
        py::arg("boards"), py::arg("channels"), py::arg("seed"), py::arg("latency"), py::arg("scpi"), py::arg("modbus"),
        py::arg("tau"), py::arg("compressor_start"), py::arg("compressor_stop"));
    m.def("_sim_scpi_addresses", [](const tw::sim::simulator& s) { return s.scpi_addresses(); });
    m.def("_sim_modbus_addresses", [](const tw::sim::simulator& s) { return s.modbus_addresses(); });
}

}  // namespace twpy
