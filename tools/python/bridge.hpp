#pragma once
// The bridge between Python and tworoutine's runtime, shared by the files of
// the extension _tworoutine (module.cpp, instruments.cpp, algorithms.cpp):
// the module's runtimes, the error hierarchy, and dispatch(), which runs one
// operation synchronously or as an asyncio future (module.cpp says how).
// Everything is inline so that every file sees one runtime and one set of
// error classes.

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/parse.hpp>

#include <tw/drivers/errors.hpp>
#include <tw/tw.hpp>

namespace py = pybind11;
using namespace std::chrono_literals;

namespace twpy {

// ---- the runtime -------------------------------------------------------------------

inline std::unique_ptr<tw::runtime>& runtime_slot() {
    static std::unique_ptr<tw::runtime> rt;
    return rt;
}

inline tw::runtime& rt() {
    auto& slot = runtime_slot();
    if (!slot) slot = std::make_unique<tw::runtime>(tw::runtime_options{.threads = 1, .name = "tw-py"});
    return *slot;
}

// Simulated boards get a runtime of their own, as in `tw tune --sim`: served
// on the client's thread they would halve the speed of both.
inline std::unique_ptr<tw::runtime>& sim_runtime_slot() {
    static std::unique_ptr<tw::runtime> rt;
    return rt;
}

inline tw::runtime& sim_rt() {
    auto& slot = sim_runtime_slot();
    if (!slot) slot = std::make_unique<tw::runtime>(tw::runtime_options{.threads = 1, .name = "tw-py-sim"});
    return *slot;
}

// A client (board, instrument) shared by Python and the fibers working on it.
// Deleted on the runtime's thread: its sockets belong to that thread's
// io_context, and Python may drop the last reference on any thread.
template <class T, class... A>
std::shared_ptr<T> on_runtime(A&&... a) {
    return std::shared_ptr<T>(new T(std::forward<A>(a)...), [](T* p) { boost::asio::post(rt().executor(), [p] { delete p; }); });
}

// ---- errors -----------------------------------------------------------------------

struct error_classes {
    py::object error, interrupted, timeout, cancelled, io, connection, protocol, usage;
};

// Never destroyed: Python objects must not be released after the interpreter
// has finalized, which is when C++ statics go.
inline error_classes& errors() {
    static auto* e = new error_classes;
    return *e;
}

inline py::object new_error(py::module_& m, const char* name, py::tuple bases, const char* doc) {
    const std::string qualified = std::string("tworoutine.") + name;
    py::object cls = py::reinterpret_steal<py::object>(
        PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr));
    if (!cls) throw py::error_already_set();
    m.attr(name) = cls;
    return cls;
}

inline void register_errors(py::module_& m) {
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
inline py::object exception_object(std::exception_ptr p) {
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

    // The last reference may go on the runtime's thread (a fiber that ends
    // after its loop took the result, or a loop dropped with operations in
    // flight), so the future is released with the GIL taken. Once the
    // interpreter is finalizing it is leaked instead: taking the GIL then
    // would end this thread.
    ~completion() {
        if (!future) return;
        if (!Py_IsInitialized() || _Py_IsFinalizing()) {
            future.release();
            return;
        }
        py::gil_scoped_acquire gil;
        future = py::object();
    }
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
inline std::shared_ptr<loop_bridge> bridge_of(py::object loop) {
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
inline tw::deadline to_deadline(std::optional<double> seconds) {
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

// Tells the core this is a spin-wait (x86: PAUSE), so the other hyperthread
// and the memory system are not flooded.
inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Operations whose fiber ended cancelled (Ctrl-C, an asyncio task
// cancelled), for the tests: a cancellation that did not reach the fiber
// would let it run to its end instead.
inline std::atomic<std::size_t>& cancelled_operations() {
    static std::atomic<std::size_t> n{0};
    return n;
}

// Runs work() (a C++ callable returning T) on a fiber under `deadline`, and
// returns to_py(its value): now (loop None) or as a future of `loop`.
template <class F, class C = to_python_default>
py::object dispatch(F work, py::object loop, std::optional<double> deadline_s, C to_py = {}) {
    using T = std::invoke_result_t<F&>;
    const auto until = to_deadline(deadline_s);
    auto body = [work = std::move(work), until]() mutable -> T {
        tw::deadline_scope d(until);
        try {
            return work();
        } catch (const tw::cancelled_error&) {
            cancelled_operations().fetch_add(1, std::memory_order_relaxed);
            throw;
        }
    };
    if (loop.is_none()) {
        tw::task<T> t = rt().spawn(std::move(body));
        {
            py::gil_scoped_release nogil;
            // A short operation is often done within microseconds, while
            // waking this thread from a sleep takes tens of them on an idle
            // core: look for a while before going to sleep. 50 us covers the
            // runtime's own wake-up when it was idle (20 us did not, on a
            // 2-core VM: tools/bench/python_bench.py calls, docs/PYTHON.md).
            for (auto spin_until = tw::clock::now() + 50us; !t.done() && tw::clock::now() < spin_until;)
                spin_pause();
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
        bridge->push(std::move(c));  // the loop's thread holds it from here
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

inline py::object json_to_python(const boost::json::value& v) {
    return py::module_::import("json").attr("loads")(boost::json::serialize(v));
}

inline boost::json::value python_to_json(py::handle o) {
    const std::string text = py::module_::import("json").attr("dumps")(o).cast<std::string>();
    return boost::json::parse(text);
}

// The other files of the extension add their functions to the module.
void register_instruments(py::module_& m);  // instruments.cpp: SCPI, Modbus, JSON-RPC, cooldown, the simulator
void register_algorithms(py::module_& m);   // algorithms.cpp: the registry, by name

}  // namespace twpy
