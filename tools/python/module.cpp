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

#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <complex>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/parse.hpp>

#include <tw/algorithms/health.hpp>
#include <tw/algorithms/tuning.hpp>
#include <tw/drivers/errors.hpp>
#include <tw/drivers/tuber/board.hpp>
#include <tw/sim/simulator.hpp>
#include <tw/tw.hpp>

namespace py = pybind11;
using namespace std::chrono_literals;

namespace {

// ---- the runtime -------------------------------------------------------------------

std::unique_ptr<tw::runtime>& runtime_slot() {
    static std::unique_ptr<tw::runtime> rt;
    return rt;
}

tw::runtime& rt() {
    auto& slot = runtime_slot();
    if (!slot) slot = std::make_unique<tw::runtime>(tw::runtime_options{.threads = 1, .name = "tw-py"});
    return *slot;
}

// Simulated boards get a runtime of their own, as in `tw tune --sim`: served
// on the client's thread they would halve the speed of both.
std::unique_ptr<tw::runtime>& sim_runtime_slot() {
    static std::unique_ptr<tw::runtime> rt;
    return rt;
}

tw::runtime& sim_rt() {
    auto& slot = sim_runtime_slot();
    if (!slot) slot = std::make_unique<tw::runtime>(tw::runtime_options{.threads = 1, .name = "tw-py-sim"});
    return *slot;
}

// ---- errors -----------------------------------------------------------------------

struct error_classes {
    py::object error, interrupted, timeout, cancelled, io, connection, protocol, usage;
};

// Never destroyed: Python objects must not be released after the interpreter
// has finalized, which is when C++ statics go.
error_classes& errors() {
    static auto* e = new error_classes;
    return *e;
}

py::object new_error(py::module_& m, const char* name, py::tuple bases, const char* doc) {
    const std::string qualified = std::string("tworoutine.") + name;
    py::object cls = py::reinterpret_steal<py::object>(
        PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr));
    if (!cls) throw py::error_already_set();
    m.attr(name) = cls;
    return cls;
}

void register_errors(py::module_& m) {
    auto& e = errors();
    auto builtins = py::module_::import("builtins");
    e.error = new_error(m, "Error", py::make_tuple(builtins.attr("RuntimeError")), "Base of tworoutine's errors (tw::error).");
    e.interrupted = new_error(m, "InterruptedError", py::make_tuple(e.error), "A deadline or a cancellation stopped the call.");
    e.timeout = new_error(m, "TimeoutError", py::make_tuple(e.interrupted, builtins.attr("TimeoutError")),
                          "A deadline or a request timeout passed (tw::timeout_error).");
    e.cancelled = new_error(m, "CancelledError", py::make_tuple(e.interrupted),
                            "The call was cancelled (tw::cancelled_error), e.g. by Ctrl-C.");
    e.io = new_error(m, "IOError", py::make_tuple(e.error, builtins.attr("OSError")), "An I/O error (tw::io_error).");
    e.connection = new_error(m, "ConnectionError", py::make_tuple(e.io, builtins.attr("ConnectionError")),
                             "A peer refused, reset or closed the connection (tw::connection_error).");
    e.protocol = new_error(m, "ProtocolError", py::make_tuple(e.error),
                           "A peer answered something that breaks its protocol, or refused the call (tw::protocol_error).");
    e.usage = new_error(m, "UsageError", py::make_tuple(builtins.attr("ValueError")),
                        "The call was used wrongly (tw::usage_error, std::invalid_argument).");
    py::register_exception_translator([](std::exception_ptr p) {
        auto& e = errors();
        try {
            std::rethrow_exception(p);
        } catch (const tw::timeout_error& x) {
            PyErr_SetString(e.timeout.ptr(), x.what());
        } catch (const tw::cancelled_error& x) {
            PyErr_SetString(e.cancelled.ptr(), x.what());
        } catch (const tw::interrupted_error& x) {
            PyErr_SetString(e.interrupted.ptr(), x.what());
        } catch (const tw::connection_error& x) {
            PyErr_SetString(e.connection.ptr(), x.what());
        } catch (const tw::io_error& x) {
            PyErr_SetString(e.io.ptr(), x.what());
        } catch (const tw::protocol_error& x) {
            PyErr_SetString(e.protocol.ptr(), x.what());
        } catch (const tw::error& x) {
            PyErr_SetString(e.error.ptr(), x.what());
        } catch (const tw::usage_error& x) {
            PyErr_SetString(e.usage.ptr(), x.what());
        } catch (const std::invalid_argument& x) {
            PyErr_SetString(e.usage.ptr(), x.what());
        }
        // Anything else: pybind11's own translators (RuntimeError, ...).
    });
}

// The Python exception object for a C++ exception (with the GIL held).
py::object exception_object(std::exception_ptr p) {
    try {
        std::rethrow_exception(p);
    } catch (py::error_already_set& e) {
        return e.value();
    } catch (...) {
        // Let the registered translators set the error, then take it back.
        try {
            std::rethrow_exception(p);
        } catch (...) {
            py::detail::translate_exception(std::current_exception());
        }
        py::error_already_set e;
        return e.value();
    }
}

// ---- the asyncio side: one bridge per event loop -------------------------------------

// A finished fiber's outcome, waiting for its loop's thread to pick it up.
struct completion {
    py::object future;                    // touched only with the GIL
    std::function<py::object()> convert;  // the value to Python (GIL held); empty on error
    std::exception_ptr error;
    tw::task<void> task;                  // done by the time it is drained
    std::mutex m;                         // task is assigned after spawn; the fiber may finish first
};

class loop_bridge {
public:
    loop_bridge() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
        if (fd_ < 0) throw std::runtime_error("tworoutine: eventfd failed");
    }
    ~loop_bridge() { ::close(fd_); }
    int fd() const noexcept { return fd_; }

    // From the runtime's thread: no GIL, no Python.
    void push(std::shared_ptr<completion> c) {
        {
            std::lock_guard g(m_);
            done_.push_back(std::move(c));
        }
        const std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
    }

    // On the loop's thread, from add_reader's callback (GIL held).
    void drain() {
        std::uint64_t count;
        [[maybe_unused]] auto n = ::read(fd_, &count, sizeof count);
        std::deque<std::shared_ptr<completion>> ready;
        {
            std::lock_guard g(m_);
            ready.swap(done_);
        }
        for (auto& c : ready) {
            {
                std::lock_guard g(c->m);  // the spawning call has stored the task
            }
            if (c->future.attr("done")().cast<bool>()) continue;  // cancelled meanwhile
            if (c->error)
                c->future.attr("set_exception")(exception_object(c->error));
            else
                c->future.attr("set_result")(c->convert());
        }
    }

private:
    int fd_;
    std::mutex m_;
    std::deque<std::shared_ptr<completion>> done_;
};

// The bridge of `loop`, made (and registered with add_reader) on first use.
std::shared_ptr<loop_bridge> bridge_of(py::object loop) {
    static auto& bridges = *new py::object(py::module_::import("weakref").attr("WeakKeyDictionary")());  // never destroyed, as errors()
    if (bridges.attr("__contains__")(loop).cast<bool>()) return bridges[loop].cast<std::shared_ptr<loop_bridge>>();
    auto b = std::make_shared<loop_bridge>();
    bridges[loop] = py::cast(b);
    loop.attr("add_reader")(b->fd(), py::cpp_function([w = std::weak_ptr<loop_bridge>(b)] {
                                if (auto b = w.lock()) b->drain();
                            }));
    return b;
}

// ---- running an operation ----------------------------------------------------------

// Seconds from now (Python's float; None or inf: no deadline) -> a deadline.
tw::deadline to_deadline(std::optional<double> seconds) {
    if (!seconds || !std::isfinite(*seconds)) return tw::deadline::none();
    return tw::deadline::after(std::chrono::duration<double>(std::max(0.0, *seconds)));
}

// Converts a fiber's result to Python (with the GIL held).
struct to_python_default {
    template <class T>
    py::object operator()(T&& v) const {
        return py::cast(std::forward<T>(v));
    }
};

// Runs work() (a C++ callable returning T) on a fiber under `deadline`, and
// returns to_py(its value): now (loop None) or as a future of `loop`.
template <class F, class C = to_python_default>
py::object dispatch(F work, py::object loop, std::optional<double> deadline_s, C to_py = {}) {
    using T = std::invoke_result_t<F&>;
    const auto until = to_deadline(deadline_s);
    auto body = [work = std::move(work), until]() mutable -> T {
        tw::deadline_scope d(until);
        return work();
    };
    if (loop.is_none()) {
        tw::task<T> t = rt().spawn(std::move(body));
        {
            py::gil_scoped_release nogil;
            // Python runs its signal handlers only when the interpreter gets
            // control: look every 50 ms whether Ctrl-C was pressed.
            while (!t.wait_for(50ms)) {
                py::gil_scoped_acquire gil;
                if (PyErr_CheckSignals() != 0) {
                    py::error_already_set interrupt;  // KeyboardInterrupt, taken off the interpreter
                    t.cancel("KeyboardInterrupt");
                    {
                        py::gil_scoped_release unwinding;
                        t.wait();  // the fiber unwinds: sockets closed, the board usable again
                    }
                    throw interrupt;
                }
            }
        }
        if constexpr (std::is_void_v<T>) {
            t.get();
            return py::none();
        } else {
            return to_py(t.get());
        }
    }
    auto bridge = bridge_of(loop);
    auto c = std::make_shared<completion>();
    c->future = loop.attr("create_future")();
    std::lock_guard g(c->m);
    c->task = rt().spawn([c, bridge, to_py, body = std::move(body)]() mutable {
        try {
            if constexpr (std::is_void_v<T>) {
                body();
                c->convert = [] { return py::none(); };
            } else {
                auto v = std::make_shared<T>(body());
                c->convert = [v, to_py] { return to_py(std::move(*v)); };
            }
        } catch (...) {
            c->error = std::current_exception();
        }
        bridge->push(c);
    });
    // Cancelling the future (asyncio task cancelled) cancels the fiber.
    c->future.attr("add_done_callback")(py::cpp_function([w = std::weak_ptr<completion>(c)](py::object f) {
        if (!f.attr("cancelled")().cast<bool>()) return;
        if (auto c = w.lock()) {
            std::lock_guard g(c->m);
            c->task.cancel("asyncio task cancelled");
        }
    }));
    return c->future;
}

// ---- values ---------------------------------------------------------------------

py::object json_to_python(const boost::json::value& v) {
    return py::module_::import("json").attr("loads")(boost::json::serialize(v));
}

boost::json::value python_to_json(py::handle o) {
    const std::string text = py::module_::import("json").attr("dumps")(o).cast<std::string>();
    return boost::json::parse(text);
}

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
                 // Deleted on the runtime's thread: its sockets belong to that
                 // thread's io_context, and Python may drop the last reference.
                 return board_handle{std::shared_ptr<tw::tuber::board>(
                     new tw::tuber::board(std::move(address), std::move(o)),
                     [](tw::tuber::board* b) { boost::asio::post(rt().executor(), [b] { delete b; }); })};
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
                                    py::dict d;
                                    d["address"] = r.address;
                                    d["status"] = tw::algorithms::to_string(r.status);
                                    d["error"] = r.error;
                                    d["elapsed_s"] = r.elapsed_s;
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
                                    py::dict d;
                                    d["address"] = r.address;
                                    d["status"] = tw::algorithms::to_string(r.status);
                                    d["error"] = r.error;
                                    d["reachable"] = r.reachable;
                                    d["serial"] = r.serial;
                                    d["firmware"] = r.firmware;
                                    d["temperature"] = r.temperature ? py::object(py::float_(*r.temperature)) : py::none();
                                    d["latency_s"] = r.latency_s ? py::object(py::float_(*r.latency_s)) : py::none();
                                    d["elapsed_s"] = r.elapsed_s;
                                    out.append(d);
                                }
                                return py::object(out);
                            });
        },
        py::arg("addresses"), py::arg("timeout"), py::arg("concurrency"), py::arg("loop"), py::arg("deadline"));

    // The simulator, on the module's runtime.
    py::class_<tw::sim::simulator>(m, "_Simulator")
        .def(py::init([](std::size_t boards, std::size_t channels, std::uint64_t seed, double latency) {
                 tw::sim::config c;
                 c.boards = boards;
                 c.channels = channels;
                 c.scpi = 0;
                 c.modbus = 0;
                 c.seed = seed;
                 c.latency = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(latency));
                 return std::make_unique<tw::sim::simulator>(c, sim_rt());
             }),
             py::arg("boards") = 16, py::arg("channels") = 64, py::arg("seed") = 1, py::arg("latency") = 0.0)
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

    m.def("_shutdown", [] {
        py::gil_scoped_release nogil;
        runtime_slot().reset();
        sim_runtime_slot().reset();
    });
}
