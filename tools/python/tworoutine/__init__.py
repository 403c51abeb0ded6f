"""tworoutine: readout boards and instruments from Python, each operation
written once in C++ and callable two ways (docs/PYTHON.md):

    board = tworoutine.Board("127.0.0.1:9000")
    serial = board.properties()["serial"]            # synchronous: blocks this thread, GIL released
    serial = (await board.properties.aio())["serial"]  # in a running asyncio loop (a Jupyter cell)
    sweep = await (~board.sweep)(4e6, 6e6, 2001)     # ~op is op.aio

No nest_asyncio: the operations run on fibers of a runtime with its own
thread, so a synchronous call inside a running loop just blocks (the loop
waits; nothing re-enters it), and an awaited one is an asyncio future
completed from that thread.

Deadlines: `with tworoutine.deadline(2.0): ...` bounds every operation
started inside it (nested ones take the earlier end); asyncio tasks and
threads each see their own (a ContextVar).
"""
import asyncio
import atexit
import contextlib
import contextvars
import math
import operator
import time

from . import _tworoutine as _c
from ._tworoutine import (CancelledError, ConnectionError, Error, InterruptedError, IOError, ProtocolError,
                          TimeoutError, UsageError)

__all__ = ["Board", "Scpi", "Modbus", "JsonRpc", "TemperatureController", "Compressor", "tune_array", "health", "cooldown", "algorithms", "run", "load_plugin", "sim",
           "Sim", "deadline", "Error", "InterruptedError", "TimeoutError", "CancelledError", "IOError",
           "ConnectionError", "ProtocolError", "UsageError"]

# The runtime stops (its fibers cancelled and joined) before the interpreter
# goes, while Python objects can still be released.
atexit.register(_c._shutdown)

# The monotonic time by which the current context must be done, or None.
_deadline = contextvars.ContextVar("tworoutine_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds):
    """Bounds every tworoutine operation started in this block by `seconds`
    from now (an earlier enclosing deadline still applies). One that passes
    raises tworoutine.TimeoutError."""
    if not seconds >= 0:
        raise UsageError(f"deadline: seconds must be a number >= 0, got {seconds!r}")
    end = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _deadline.reset(token)


def _seconds_left():
    end = _deadline.get()
    return None if end is None else max(0.0, end - time.monotonic())


# Values from Python, checked before they reach C++: a wrong one is a
# UsageError naming it, never a silent wrap, a TypeError about C++ signatures
# or a timeout that fires at once.
def _seconds(name, value, zero_ok=False):
    """A finite number of seconds, > 0 (>= 0 with zero_ok)."""
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a number of seconds, got {value!r}") from None
    if not (math.isfinite(s) and (s > 0 or (zero_ok and s == 0))):
        raise UsageError(f"{name} must be a finite number of seconds {'>=' if zero_ok else '>'} 0, got {value!r}")
    return s


def _count(name, value, minimum=0, maximum=2**31 - 1):
    """An integer in [minimum, maximum] (NumPy's integers too, not bool)."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise UsageError(f"{name} must be an integer, got {value!r}")
    n = operator.index(value)
    if not minimum <= n <= maximum:
        raise UsageError(f"{name} must be in {minimum}..{maximum}, got {n}")
    return n


def _address(value):
    """HOST:PORT, checked as tw checks it."""
    if not isinstance(value, str):
        raise UsageError(f"an address is text (HOST:PORT), got {value!r}")
    _c._check_address(value)
    return value


class _Operation:
    """One operation, callable synchronously, or awaited through .aio / ~."""

    def __init__(self, fn, name, doc=None):
        self._fn = fn
        self.__name__ = name
        self.__doc__ = doc

    def __call__(self, *args, **kwargs):
        return self._fn(*args, loop=None, deadline=_seconds_left(), **kwargs)

    async def aio(self, *args, **kwargs):
        """The same operation, awaited: it waits on a future of the running
        loop; cancelling the awaiting task cancels the operation."""
        return await self._fn(*args, loop=asyncio.get_running_loop(), deadline=_seconds_left(), **kwargs)

    def __invert__(self):
        return self.aio

    def __repr__(self):
        return f"<tworoutine operation {self.__name__}>"


class _Peer:
    """What every board and instrument object has: the HOST:PORT it talks to
    (self._h is its C++ handle) and a repr naming it."""

    @property
    def address(self):
        return self._h.address

    def __repr__(self):
        return f"tworoutine.{type(self).__name__}({self.address!r})"


class _Connection(_Peer):
    """A peer with a connection of its own: `with Scpi(a) as s:` closes it."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Board(_Peer):
    """A Tuber readout board at HOST:PORT (its methods and properties over
    JSON/HTTP). Every operation is a tworoutine: board.sweep(...) or
    await board.sweep.aio(...)."""

    def __init__(self, address, timeout=5.0):
        self._h = _c._Board(_address(address), _seconds("timeout", timeout))
        h = self._h

        def call(method, *args, loop, deadline, **kwargs):
            return _c.board_call(h, method, list(args), dict(kwargs), loop, deadline)

        def properties(*, loop, deadline):
            r = _c.board_properties(h, loop, deadline)
            if loop is None:
                return _props(r)
            out = loop.create_future()
            r.add_done_callback(lambda f: _chain(f, out, _props))
            return out

        def sweep(fmin, fmax, points, amplitude=0.5, channel=0, *, loop, deadline):
            return _c.board_sweep(h, float(fmin), float(fmax), _count("points", points), float(amplitude), _count("channel", channel),
                                  loop, deadline)

        def tune(amplitude=0.5, channel_concurrency=8, *, loop, deadline):
            return _c.board_tune(h, float(amplitude), _count("channel_concurrency", channel_concurrency), loop, deadline)

        self.tune = _Operation(tune, "tune", "Sweep, find resonances, tune and verify every channel: a dict "
                                             "(counts; frequency, amplitude, s21, verified as NumPy arrays; the sweep).")
        self.call = _Operation(call, "call", "Calls a method of the board's object: call('set_frequency', 0, 4.5e6).")
        self.properties = _Operation(properties, "properties", "SERIAL, FIRMWARE, NCHANNELS, FMIN, FMAX as a dict.")
        self.sweep = _Operation(sweep, "sweep",
                                "Network analysis of one channel: a dict of NumPy arrays frequency, magnitude, phase.")



def _props(t):
    serial, firmware, nchannels, fmin, fmax = t
    return {"serial": serial, "firmware": firmware, "nchannels": nchannels, "fmin": fmin, "fmax": fmax}


def _chain(src, dst, convert):
    if dst.done():
        return
    if src.cancelled():
        dst.cancel()
    elif src.exception() is not None:
        dst.set_exception(src.exception())
    else:
        dst.set_result(convert(src.result()))


def _tune_array(addresses, amplitude=0.5, concurrency=64, *, loop, deadline):
    return _c.tune_array([_address(a) for a in addresses], float(amplitude), _count("concurrency", concurrency), loop, deadline)


def _health(addresses, timeout=5.0, concurrency=64, *, loop, deadline):
    return _c.health([_address(a) for a in addresses], _seconds("timeout", timeout), _count("concurrency", concurrency), loop,
                     deadline)


tune_array = _Operation(_tune_array, "tune_array",
                        "Tunes many boards at once: one outcome dict per address, in order "
                        "(status ok/failed/timeout/cancelled, error, result as Board.tune's).")
health = _Operation(_health, "health",
                    "Checks many boards at once: one dict per address (status, serial, firmware, temperature, latency).")


class Scpi(_Connection):
    """An SCPI instrument at HOST:PORT (raw socket, one line per command and
    reply): scpi.query("*IDN?"), await scpi.query.aio("KRDG? 1"). A query the
    instrument answers with silence (its way of saying "error") raises
    tworoutine.ProtocolError with the instrument's own error code and message.
    check_errors=True: every write() asks SYST:ERR? too."""

    def __init__(self, address, timeout=5.0, check_errors=False):
        self._h = _c._Scpi(_address(address), _seconds("timeout", timeout), bool(check_errors))
        h = self._h

        def query_as(kind):
            return lambda query, *, loop, deadline: _c.scpi_query(h, query, kind, loop, deadline)

        self.write = _Operation(lambda command, *, loop, deadline: _c.scpi_write(h, command, False, loop, deadline),
                                "write", "Sends a command that has no reply.")
        self.write_checked = _Operation(lambda command, *, loop, deadline: _c.scpi_write(h, command, True, loop, deadline),
                                        "write_checked", "Sends a command, then SYST:ERR?: ProtocolError on an error.")
        self.query = _Operation(query_as("text"), "query", "Sends a query; its reply line as text.")
        self.query_double = _Operation(query_as("double"), "query_double", "A query whose reply is one number: a float.")
        self.query_int = _Operation(query_as("int"), "query_int", "A query whose reply is one integer: an int.")
        self.query_doubles = _Operation(query_as("doubles"), "query_doubles",
                                        "A query whose reply is comma-separated numbers: a list of floats.")
        self.wait_complete = _Operation(lambda *, loop, deadline: _c.scpi_wait_complete(h, loop, deadline), "wait_complete",
                                        "*OPC?: returns once the instrument has finished earlier commands.")
        self.next_error = _Operation(lambda *, loop, deadline: _c.scpi_next_error(h, loop, deadline), "next_error",
                                     "SYST:ERR?: the oldest queued error as (code, message); code 0: none.")
        self.check_error = _Operation(lambda *, loop, deadline: _c.scpi_check_error(h, loop, deadline), "check_error",
                                      "Raises ProtocolError with the oldest queued error, if any.")
        self.close = _Operation(lambda *, loop, deadline: _c.scpi_close(h, loop, deadline), "close",
                                "Closes the connection (the next call reopens it).")



class Modbus(_Connection):
    """A Modbus TCP server at HOST:PORT (unit `unit`). Addresses, counts and
    register values are 0..65535 (UsageError otherwise); registers come back as
    lists of ints, coils as lists of bools, floats (two registers each, high
    word first) as lists of floats. An exception reply raises ProtocolError
    naming the Modbus exception ("illegal data address", ...)."""

    def __init__(self, address, timeout=5.0, unit=1):
        self._h = _c._Modbus(_address(address), _seconds("timeout", timeout), int(unit))
        h = self._h

        def read(table):
            return lambda address, count=1, *, loop, deadline: _c.modbus_read(h, table, address, count, loop, deadline)

        def write_coils(address, values, *, loop, deadline):
            return _c.modbus_write_coils(h, address, [bool(v) for v in values], False, loop, deadline)

        def write_coil(address, value, *, loop, deadline):
            return _c.modbus_write_coils(h, address, [bool(value)], True, loop, deadline)

        def write_registers(address, values, *, loop, deadline):
            return _c.modbus_write_registers(h, address, [int(v) for v in values], False, loop, deadline)

        def write_register(address, value, *, loop, deadline):
            return _c.modbus_write_registers(h, address, [int(value)], True, loop, deadline)

        def write_floats(address, values, *, loop, deadline):
            return _c.modbus_write_floats(h, address, [float(v) for v in values], loop, deadline)

        self.read_coils = _Operation(read("coils"), "read_coils", "Function 1: `count` coils from `address`, as bools.")
        self.read_discrete_inputs = _Operation(read("discrete_inputs"), "read_discrete_inputs",
                                               "Function 2: `count` discrete inputs from `address`, as bools.")
        self.read_holding_registers = _Operation(read("holding_registers"), "read_holding_registers",
                                                 "Function 3: `count` holding registers from `address`, as ints.")
        self.read_input_registers = _Operation(read("input_registers"), "read_input_registers",
                                               "Function 4: `count` input registers from `address`, as ints.")
        self.read_holding_floats = _Operation(read("holding_floats"), "read_holding_floats",
                                              "`count` floats from 2*count holding registers.")
        self.read_input_floats = _Operation(read("input_floats"), "read_input_floats",
                                            "`count` floats from 2*count input registers.")
        self.write_coil = _Operation(write_coil, "write_coil", "Function 5: one coil.")
        self.write_register = _Operation(write_register, "write_register", "Function 6: one holding register.")
        self.write_coils = _Operation(write_coils, "write_coils", "Function 15: coils from `address`.")
        self.write_registers = _Operation(write_registers, "write_registers", "Function 16: registers from `address`.")
        self.write_floats = _Operation(write_floats, "write_floats", "Floats into 2 registers each from `address`.")
        self.close = _Operation(lambda *, loop, deadline: _c.modbus_close(h, loop, deadline), "close",
                                "Closes the connection (the next call reopens it).")



class JsonRpc(_Peer):
    """A JSON-RPC 2.0 server over HTTP POST at `url` ("http://HOST:PORT/rpc").
    rpc.call("Board.get_frequency", 0) sends positional params,
    rpc.call("M", a=1) named ones; params and results are Python values (as
    json converts them). An error object in the reply raises ProtocolError
    with its code and message."""

    def __init__(self, url, timeout=5.0):
        self._h = _c._JsonRpc(url, _seconds("timeout", timeout))
        h = self._h

        def call(method, *args, loop, deadline, **kwargs):
            return _c.jsonrpc_call(h, method, list(args), dict(kwargs), False, loop, deadline)

        def notify(method, *args, loop, deadline, **kwargs):
            return _c.jsonrpc_call(h, method, list(args), dict(kwargs), True, loop, deadline)

        def batch(calls, *, loop, deadline):
            return _c.jsonrpc_batch(h, [(m, p) for m, p in calls], loop, deadline)

        self.call = _Operation(call, "call", "Calls `method` with positional or named params; its result.")
        self.notify = _Operation(notify, "notify", "Sends `method` as a notification (no reply, no error).")
        self.batch = _Operation(batch, "batch",
                                "Calls [(method, params), ...] in one request (params a list, a dict or None): "
                                "one dict per call, in order (ok, result, error); a failed call never raises for the others.")

    @property
    def url(self):
        return f"http://{self._h.address}{self._h.target}"

    def __repr__(self):
        return f"tworoutine.JsonRpc({self.url!r})"


class TemperatureController(_Peer):
    """The SCPI temperature controller (a Lakeshore-style TC-372) at HOST:PORT
    as typed calls: temperature(sensor) in kelvin, setpoint(loop),
    set_setpoint(loop, K), ramp(loop), set_ramp(loop, enabled, K/min),
    heater(loop) in percent. Setters check the instrument's error queue: a
    value out of range raises ProtocolError (-222)."""

    def __init__(self, address, timeout=5.0):
        self._h = _c._TemperatureController(_address(address), _seconds("timeout", timeout))
        h = self._h

        def op(name, n=0, x=0.0, on=False, *, loop, deadline):
            return _c.controller_op(h, name, int(n), float(x), bool(on), loop, deadline)

        self.identify = _Operation(lambda *, loop, deadline: op("identify", loop=loop, deadline=deadline), "identify", "*IDN?")
        self.temperature = _Operation(lambda sensor, *, loop, deadline: op("temperature", sensor, loop=loop, deadline=deadline),
                                      "temperature", "temperature(sensor): KRDG?, kelvin (sensors 1-8).")
        self.setpoint = _Operation(lambda loop_, *, loop, deadline: op("setpoint", loop_, loop=loop, deadline=deadline),
                                   "setpoint", "setpoint(heater_loop): SETP?, kelvin (loops 1-2).")
        self.set_setpoint = _Operation(
            lambda loop_, kelvin, *, loop, deadline: op("set_setpoint", loop_, kelvin, loop=loop, deadline=deadline),
            "set_setpoint", "set_setpoint(heater_loop, kelvin): SETP.")
        self.ramp = _Operation(lambda loop_, *, loop, deadline: op("ramp", loop_, loop=loop, deadline=deadline),
                               "ramp", "ramp(heater_loop): RAMP?, a dict {enabled, rate} (K/min).")
        self.set_ramp = _Operation(
            lambda loop_, enabled, rate, *, loop, deadline: op("set_ramp", loop_, rate, enabled, loop=loop, deadline=deadline),
            "set_ramp", "set_ramp(heater_loop, enabled, kelvin_per_min): RAMP.")
        self.heater = _Operation(lambda loop_, *, loop, deadline: op("heater", loop_, loop=loop, deadline=deadline),
                                 "heater", "heater(heater_loop): HTR?, percent.")
        self.reset = _Operation(lambda *, loop, deadline: op("reset", loop=loop, deadline=deadline), "reset", "*RST, *CLS.")



class Compressor(_Peer):
    """The Modbus TCP helium compressor at HOST:PORT as typed calls: status()
    (state, on, temperatures, pressures, motor_current, hours, warnings and
    alarms by name, in one read), each of those alone, start() and stop()."""

    def __init__(self, address, timeout=5.0):
        self._h = _c._Compressor(_address(address), _seconds("timeout", timeout))
        h = self._h
        docs = {"status": "Everything in one read: a dict (state 'idle'/'starting'/'running'/'stopping'/'fault', ...).",
                "state": "'idle', 'starting', 'running', 'stopping', 'fault' (or 'unknown').",
                "is_on": "True while starting or running.",
                "temperatures": "coolant_in, coolant_out, oil, helium (°C).",
                "pressures": "high, low (psi).",
                "motor_current": "A.",
                "hours": "Hours of operation.",
                "warnings": "Warning bits by name ('overheat', 'pressure', ...).",
                "alarms": "Alarm bits by name.",
                "start": "Starts it (holding register 0 := 1).",
                "stop": "Stops it (holding register 0 := 0; also acknowledges a fault)."}
        for name, doc in docs.items():
            setattr(self, name, _Operation(lambda *, loop, deadline, name=name: _c.compressor_op(h, name, loop, deadline),
                                           name, doc))



def _cooldown(controller, compressor, setpoint, deadline_s=1800.0, tolerance=0.05, hold=30.0, poll=1.0, ramp_rate=0.0,
              heater_loop=1, sensor=1, acknowledge_fault=False, timeout=5.0, *, loop, deadline):
    return _c.cooldown(controller, compressor, float(setpoint), float(deadline_s), float(tolerance), float(hold), float(poll),
                       float(ramp_rate), int(heater_loop), int(sensor), bool(acknowledge_fault), float(timeout), loop, deadline)


cooldown = _Operation(_cooldown, "cooldown",
                      "cooldown(controller, compressor, setpoint, deadline_s=1800, tolerance=0.05, hold=30, poll=1, ...): "
                      "starts the compressor (Modbus HOST:PORT), sets the controller's (SCPI HOST:PORT) setpoint in kelvin "
                      "and waits until the sensor has stayed within ±tolerance for `hold` seconds, all within deadline_s. "
                      "A dict (final_temperature, time_to_stable_s, warnings, alarms, steps). Errors: TimeoutError; "
                      "Error when the compressor is or goes into fault.")


# ---- algorithms by name (tw run) ----------------------------------------------------

def algorithms():
    """The registered algorithms (built in, and from plugins loaded), by name:
    one dict each (name, help, runs_on, parameters: [{name, kind, help,
    default, required, min, max, min_excluded}], usage)."""
    return _c.algorithms()


def load_plugin(path):
    """Loads a plugin library of algorithms (as `tw run --plugin LIB`); its
    algorithms then show in algorithms() and run by name. UsageError if it
    cannot be loaded."""
    _c.load_plugin(str(path))


def _run(name, /, boards=None, params=None, *, loop, deadline, **kwargs):
    # Boards may be addresses or Board objects.
    addresses = [getattr(b, "address", b) for b in (boards or [])]
    # A parameter named as an argument of every operation (`deadline`, as
    # cooldown's, or `loop`) can only come in the dict.
    given = dict(params or {})
    for k, v in kwargs.items():
        if k in given:
            raise UsageError(f"run {name}: {k} is given twice (in params and by name)")
        given[k] = v
    return _c.run_algorithm(name, addresses, given, 64, 5.0, loop, deadline)


run = _Operation(_run, "run",
                 "run(name, boards=None, params=None, **params): runs a registered algorithm as `tw run` does, its "
                 "params by name or in the dict `params` (which must hold any named deadline or loop, as those are "
                 "every operation's): numbers, flags, text; durations in seconds, as timedelta or as text such as "
                 "'200ms'. An each_board algorithm "
                 "gives one dict per board, in order (address, status 'ok'/'failed', error, result), a failing board never "
                 "raising for the others; all_boards and no_boards ones give their result. UsageError for an unknown "
                 "algorithm or bad params.")


# ---- the simulator ------------------------------------------------------------------

class Sim(list):
    """What sim() yields: the board addresses (it is that list, as before),
    and the other instruments' addresses as attributes: .scpi and .modbus
    (HOST:PORT), .jsonrpc (each board's JSON-RPC URL)."""

    def __init__(self, boards, scpi, modbus):
        super().__init__(boards)
        self.boards = list(boards)
        self.scpi = list(scpi)
        self.modbus = list(modbus)
        self.jsonrpc = [f"http://{a}/rpc" for a in boards]


@contextlib.contextmanager
def sim(boards=16, channels=64, seed=1, latency=0.0, scpi=0, modbus=0, tau=2.0, compressor_start=3.0, compressor_stop=2.0):
    """Simulated instruments on loopback for the block:
    `with tworoutine.sim(boards=4) as addresses: ...` gives the boards'
    addresses; `with tworoutine.sim(boards=1, scpi=1, modbus=1) as s:` also
    SCPI temperature controllers (s.scpi) and Modbus compressors (s.modbus).
    `latency` (seconds) is added to every reply; `tau` is the controllers'
    thermal time constant, compressor_start/_stop the compressors' (seconds)."""
    s = _c._simulator(_count("boards", boards, 0, 65535), _count("channels", channels, 1, 65535), _count("seed", seed, 0, 2**64 - 1),
                      _seconds("latency", latency, zero_ok=True), _count("scpi", scpi, 0, 65535), _count("modbus", modbus, 0, 65535),
                      _seconds("tau", tau), _seconds("compressor_start", compressor_start, zero_ok=True),
                      _seconds("compressor_stop", compressor_stop, zero_ok=True))
    try:
        yield Sim(s.addresses, _c._sim_scpi_addresses(s), _c._sim_modbus_addresses(s))
    finally:
        s.stop()
