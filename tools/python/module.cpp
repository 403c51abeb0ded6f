// _tworoutine: the C++ half of the Python package `tworoutine`
// (tools/python/tworoutine/__init__.py holds the Python half; docs/PYTHON.md).
//
// Every operation runs on a fiber of one tw::runtime that the module owns (its
// own worker thread, started on first use). A Python caller gets it two ways,
// chosen by the `loop` argument every operation takes:
//   loop None   synchronous: the calling thread waits with the GIL released,
//               so other Python threads (and a running asyncio loop on another
//               thread) keep going; Ctrl-C (KeyboardInterrupt) cancels the
//               fiber, waits for it to unwind and raises.
//   loop given  asynchronous: returns an asyncio.Future of that loop at once.
//               The fiber's result is queued and the loop is woken through an
//               eventfd it watches (add_reader), so the runtime's thread never
//               waits for the GIL; cancelling the future cancels the fiber.
// Arguments are converted to C++ values before the fiber starts and results
// back to Python on the caller's side, always with the GIL held; a fiber never
// touches a Python object.
//
// Errors: C++ exceptions become the Python hierarchy of tworoutine (Error,
// TimeoutError, CancelledError, ConnectionError, ProtocolError, UsageError),
// registered below.

#include <complex>

#include <pybind11/numpy.h>


#include <tw/algorithms/health.hpp>
#include <tw/drivers/address.hpp>
#include <tw/algorithms/tuning.hpp>
#include <tw/drivers/tuber/board.hpp>
#include <tw/sim/simulator.hpp>

#include "bridge.hpp"

namespace {

using namespace twpy;

// A sweep as NumPy arrays: frequency, magnitude, phase (one copy of each, no
// element-wise Python objects).
py::dict sweep_to_python(const tw::algorithms::sweep_data& s) {
    const auto n = static_cast<py::ssize_t>(s.points.size());
    py::array_t<double> f(n), mag(n), ph(n);
    auto pf = f.mutable_unchecked<1>();
    auto pm = mag.mutable_unchecked<1>();
    auto pp = ph.mutable_unchecked<1>();
    for (py::ssize_t i = 0; i < n; ++i) {
        const auto& p = s.points[static_cast<std::size_t>(i)];
        pf(i) = p.frequency;
        pm(i) = p.magnitude;
        pp(i) = p.phase;
    }
    py::dict d;
    d["frequency"] = f;
    d["magnitude"] = mag;
    d["phase"] = ph;
    d["amplitude"] = s.amplitude;
    d["channel"] = s.channel;
    d["samples"] = s.samples;
    return d;
}

// A tuned board as a dict: counts, the channels as NumPy arrays, the sweep.
py::dict board_result_to_python(const tw::algorithms::board_result& r) {
    const auto n = static_cast<py::ssize_t>(r.channels.size());
    py::array_t<double> f(n), amp(n), s21(n);
    py::array_t<bool> verified(n);
    auto pf = f.mutable_unchecked<1>();
    auto pa = amp.mutable_unchecked<1>();
    auto ps = s21.mutable_unchecked<1>();
    auto pv = verified.mutable_unchecked<1>();
    for (py::ssize_t i = 0; i < n; ++i) {
        const auto& c = r.channels[static_cast<std::size_t>(i)];
        pf(i) = c.frequency;
        pa(i) = c.amplitude;
        ps(i) = c.s21;
        pv(i) = c.verified;
    }
    py::dict d;
    d["address"] = r.address;
    d["serial"] = r.serial;
    d["resonators_found"] = r.resonators_found;
    d["channels_tuned"] = r.channels_tuned;
    d["channels_verified"] = r.channels_verified;
    d["frequency"] = f;
    d["amplitude"] = amp;
    d["s21"] = s21;
    d["verified"] = verified;
    d["sweep"] = sweep_to_python(r.sweep);
    return d;
}

// What every board's outcome of an array operation has: address, status,
// error, elapsed_s.
template <class Outcome>
py::dict outcome_to_python(const Outcome& r) {
    py::dict d;
    d["address"] = r.address;
    d["status"] = tw::algorithms::to_string(r.status);
    d["error"] = r.error;
    d["elapsed_s"] = r.elapsed_s;
    return d;
}

// ---- boards -----------------------------------------------------------------------

// A board handle shared by Python and the fibers working on it.
struct board_handle {
    std::shared_ptr<tw::tuber::board> b;
};

}  // namespace

PYBIND11_MODULE(_tworoutine, m) {
    m.doc() = "C++ half of tworoutine (see the tworoutine package)";
    register_errors(m);

    py::class_<loop_bridge, std::shared_ptr<loop_bridge>>(m, "_LoopBridge");

    py::class_<board_handle>(m, "_Board")
        .def(py::init([](std::string address, double timeout) {
                 tw::tuber::options o;
                 o.timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(timeout));
                 return board_handle{on_runtime<tw::tuber::board>(std::move(address), std::move(o))};
             }),
             py::arg("address"), py::arg("timeout") = 5.0)
        .def_property_readonly("address", [](const board_handle& h) { return h.b->address(); });

    m.def(
        "board_call",
        [](board_handle h, std::string method, py::list args, py::dict kwargs, py::object loop, std::optional<double> deadline) {
            auto a = python_to_json(args).as_array();
            auto k = python_to_json(kwargs).as_object();
            return dispatch([b = h.b, method, a, k] { return b->tuber().call(b->object(), method, a, k); }, loop, deadline,
                            [](boost::json::value v) { return json_to_python(v); });
        },
        py::arg("board"), py::arg("method"), py::arg("args"), py::arg("kwargs"), py::arg("loop"), py::arg("deadline"));

    m.def(
        "board_properties",
        [](board_handle h, py::object loop, std::optional<double> deadline) {
            return dispatch(
                [b = h.b] { return std::make_tuple(b->serial(), b->firmware(), b->nchannels(), b->fmin(), b->fmax()); },
                loop, deadline);
        },
        py::arg("board"), py::arg("loop"), py::arg("deadline"));

    m.def(
        "board_sweep",
        [](board_handle h, double fmin, double fmax, std::size_t points, double amplitude, int channel, py::object loop,
           std::optional<double> deadline) {
            return dispatch(
                [b = h.b, fmin, fmax, points, amplitude, channel] {
                    return tw::algorithms::network_analysis(*b, fmin, fmax, points, amplitude, channel, {});
                },
                loop, deadline, [](const tw::algorithms::sweep_data& s) { return py::object(sweep_to_python(s)); });
        },
        py::arg("board"), py::arg("fmin"), py::arg("fmax"), py::arg("points"), py::arg("amplitude"), py::arg("channel"),
        py::arg("loop"), py::arg("deadline"));

    m.def(
        "board_tune",
        [](board_handle h, double amplitude, std::size_t channel_concurrency, py::object loop, std::optional<double> deadline) {
            tw::algorithms::board_options o;
            o.amplitude = amplitude;
            o.channel_concurrency = channel_concurrency;
            return dispatch([b = h.b, o] { return tw::algorithms::tune_board(*b, o); }, loop, deadline,
                            [](const tw::algorithms::board_result& r) { return py::object(board_result_to_python(r)); });
        },
        py::arg("board"), py::arg("amplitude"), py::arg("channel_concurrency"), py::arg("loop"), py::arg("deadline"));

    // The array operations: one outcome per address, in order; a board's
    // failure is in its outcome, never raised.
    m.def(
        "tune_array",
        [](std::vector<std::string> addresses, double amplitude, std::size_t concurrency, py::object loop,
           std::optional<double> deadline) {
            tw::algorithms::array_options o;
            o.board.amplitude = amplitude;
            o.concurrency = concurrency;
            return dispatch([addresses, o] { return tw::algorithms::tune_array(addresses, o); }, loop, deadline,
                            [](const std::vector<tw::algorithms::board_outcome>& rs) {
                                py::list out;
                                for (const auto& r : rs) {
                                    py::dict d = outcome_to_python(r);
                                    d["result"] = r.result ? py::object(board_result_to_python(*r.result)) : py::none();
                                    out.append(d);
                                }
                                return py::object(out);
                            });
        },
        py::arg("addresses"), py::arg("amplitude"), py::arg("concurrency"), py::arg("loop"), py::arg("deadline"));

    m.def(
        "health",
        [](std::vector<std::string> addresses, double timeout, std::size_t concurrency, py::object loop,
           std::optional<double> deadline) {
            tw::algorithms::health_options o;
            o.board.timeout = std::chrono::duration_cast<tw::clock::duration>(std::chrono::duration<double>(timeout));
            o.concurrency = concurrency;
            return dispatch([addresses, o] { return tw::algorithms::health_check(addresses, o); }, loop, deadline,
                            [](const std::vector<tw::algorithms::board_health>& rs) {
                                py::list out;
                                for (const auto& r : rs) {
                                    py::dict d = outcome_to_python(r);
                                    d["reachable"] = r.reachable;
                                    d["serial"] = r.serial;
                                    d["firmware"] = r.firmware;
                                    d["temperature"] = r.temperature ? py::object(py::float_(*r.temperature)) : py::none();
                                    d["latency_s"] = r.latency_s ? py::object(py::float_(*r.latency_s)) : py::none();
                                    out.append(d);
                                }
                                return py::object(out);
                            });
        },
        py::arg("addresses"), py::arg("timeout"), py::arg("concurrency"), py::arg("loop"), py::arg("deadline"));

    // The simulator, on the module's simulator runtime (made by _simulator,
    // instruments.cpp).
    py::class_<tw::sim::simulator>(m, "_Simulator")
        .def_property_readonly("addresses", [](const tw::sim::simulator& s) { return s.tuber_addresses(); })
        .def("stop", [](tw::sim::simulator& s) {
            py::gil_scoped_release nogil;
            s.stop();
        });

    // For measuring the bridge itself: an operation that does nothing on a
    // fiber, and a plain pybind11 function that does nothing here.
    m.def("_noop", [](py::object loop, std::optional<double> deadline) { return dispatch([] { return 0; }, loop, deadline); },
          py::arg("loop") = py::none(), py::arg("deadline") = py::none());
    m.def("_plain", [] { return 0; });
    // HOST:PORT as tw reads it; UsageError (saying what is wrong) otherwise.
    m.def("_check_address", [](const std::string& address) { (void)tw::parse_address(address); }, py::arg("address"));
    // For the tests: fibers alive on the module's runtime (a cancelled
    // operation's fiber is gone once it has unwound), and operations that
    // ended cancelled.
    m.def("_live_fibers", [] {
        py::gil_scoped_release nogil;
        return rt().counters().live_fibers;
    });
    m.def("_cancelled_operations", [] { return cancelled_operations().load(); });

    register_instruments(m);
    register_algorithms(m);

    m.def("_shutdown", [] {
        py::gil_scoped_release nogil;
        runtime_slot().reset();
        sim_runtime_slot().reset();
    });
}
