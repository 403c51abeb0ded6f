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
import time

from . import _tworoutine as _c
from ._tworoutine import (CancelledError, ConnectionError, Error, InterruptedError, IOError, ProtocolError,
                          TimeoutError, UsageError)

__all__ = ["Board", "tune_array", "health", "sim", "deadline", "Error", "InterruptedError", "TimeoutError", "CancelledError", "IOError",
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


class Board:
    """A Tuber readout board at HOST:PORT (its methods and properties over
    JSON/HTTP). Every operation is a tworoutine: board.sweep(...) or
    await board.sweep.aio(...)."""

    def __init__(self, address, timeout=5.0):
        self._h = _c._Board(address, timeout)
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
            return _c.board_sweep(h, float(fmin), float(fmax), int(points), float(amplitude), int(channel), loop, deadline)

        def tune(amplitude=0.5, channel_concurrency=8, *, loop, deadline):
            return _c.board_tune(h, float(amplitude), int(channel_concurrency), loop, deadline)

        self.tune = _Operation(tune, "tune", "Sweep, find resonances, tune and verify every channel: a dict "
                                             "(counts; frequency, amplitude, s21, verified as NumPy arrays; the sweep).")
        self.call = _Operation(call, "call", "Calls a method of the board's object: call('set_frequency', 0, 4.5e6).")
        self.properties = _Operation(properties, "properties", "SERIAL, FIRMWARE, NCHANNELS, FMIN, FMAX as a dict.")
        self.sweep = _Operation(sweep, "sweep",
                                "Network analysis of one channel: a dict of NumPy arrays frequency, magnitude, phase.")

    @property
    def address(self):
        return self._h.address

    def __repr__(self):
        return f"tworoutine.Board({self.address!r})"


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
    return _c.tune_array(list(addresses), float(amplitude), int(concurrency), loop, deadline)


def _health(addresses, timeout=5.0, concurrency=64, *, loop, deadline):
    return _c.health(list(addresses), float(timeout), int(concurrency), loop, deadline)


tune_array = _Operation(_tune_array, "tune_array",
                        "Tunes many boards at once: one outcome dict per address, in order "
                        "(status ok/failed/timeout/cancelled, error, result as Board.tune's).")
health = _Operation(_health, "health",
                    "Checks many boards at once: one dict per address (status, serial, firmware, temperature, latency).")


@contextlib.contextmanager
def sim(boards=16, channels=64, seed=1, latency=0.0):
    """Simulated readout boards on loopback for the block:
    `with tworoutine.sim(boards=4) as addresses: ...`; `latency` (seconds) is
    added to every reply."""
    s = _c._Simulator(boards, channels, seed, float(latency))
    try:
        yield list(s.addresses)
    finally:
        s.stop()
