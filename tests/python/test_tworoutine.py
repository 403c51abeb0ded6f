"""The Python package tworoutine against simulated boards on loopback:
synchronous and awaited calls, inside a running loop, many boards at once,
deadlines, cancellation from asyncio and Ctrl-C. Run by `make test` through
CTest (tests/python/CMakeLists.txt) with the package of the build tree on
PYTHONPATH."""
import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import tworoutine
from tworoutine import _tworoutine as _c


@pytest.fixture(scope="module")
def boards():
    with tworoutine.sim(boards=4, channels=16) as addresses:
        yield addresses


def test_sync_call_returns_the_value(boards):
    b = tworoutine.Board(boards[0])
    p = b.properties()
    assert p["nchannels"] == 16
    assert p["fmin"] < p["fmax"]
    assert p["serial"]


def test_awaited_call_returns_the_same(boards):
    b = tworoutine.Board(boards[0])
    sync = b.properties()
    assert asyncio.run(b.properties.aio()) == sync
    assert asyncio.run((~b.properties)()) == sync


def test_sync_call_inside_a_running_loop(boards):
    # A Jupyter cell: a loop is running, and a plain call still works (no nest_asyncio).
    async def cell():
        b = tworoutine.Board(boards[1])
        return b.properties()["nchannels"]

    assert asyncio.run(cell()) == 16


def test_sweep_comes_back_as_numpy_arrays(boards):
    b = tworoutine.Board(boards[0])
    p = b.properties()
    s = b.sweep(p["fmin"], p["fmax"], 401)
    assert isinstance(s["frequency"], np.ndarray) and s["frequency"].dtype == np.float64
    assert s["frequency"].shape == (401,)
    assert s["frequency"][0] == p["fmin"] and s["frequency"][-1] == p["fmax"]
    assert np.all(s["magnitude"] > 0) and np.min(s["magnitude"]) < 0.9 * np.median(s["magnitude"])


def test_call_a_method_by_name(boards):
    b = tworoutine.Board(boards[2])
    b.call("set_frequency", 3, 4.5e6)
    assert b.call("get_frequency", 3) == 4.5e6


def test_errors_map_to_the_hierarchy(boards):
    b = tworoutine.Board(boards[0])
    with pytest.raises(tworoutine.ProtocolError):
        b.call("no_such_method")
    with pytest.raises(tworoutine.ConnectionError) as e:
        tworoutine.Board("127.0.0.1:1").properties()
    assert isinstance(e.value, ConnectionError) and isinstance(e.value, tworoutine.Error)


def test_deadline_raises_timeout_error(boards):
    b = tworoutine.Board(boards[3])
    p = b.properties()
    with tworoutine.deadline(0.0):
        with pytest.raises(tworoutine.TimeoutError) as e:
            b.sweep(p["fmin"], p["fmax"], 2001)
    assert isinstance(e.value, TimeoutError)
    assert b.properties() == p  # the board is usable afterwards


def test_cancelling_the_asyncio_task_cancels_the_fiber():
    # 50 ms per reply and one channel at a time: the tune takes seconds, and
    # its fiber must end cancelled, not run to its end.
    with tworoutine.sim(boards=1, channels=64, latency=0.05) as (a,):
        b = tworoutine.Board(a)
        cancelled_before = _c._cancelled_operations()

        async def main():
            t = asyncio.ensure_future(b.tune.aio(channel_concurrency=1))
            await asyncio.sleep(0)  # the task has started the operation
            assert _c._live_fibers() == 1
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t

        asyncio.run(main())
        # The fiber unwinds on the runtime's thread; 60 s is a deadlock guard.
        for _ in range(60000):
            if _c._live_fibers() == 0:
                break
            time.sleep(0.001)
        assert _c._live_fibers() == 0
        assert _c._cancelled_operations() == cancelled_before + 1
        assert b.properties()["nchannels"] == 64  # the board is usable


def test_256_boards_tuned_with_gather():
    with tworoutine.sim(boards=256, channels=8) as addresses:
        async def main():
            return await asyncio.gather(*(tworoutine.Board(a).tune.aio() for a in addresses))

        results = asyncio.run(main())
    assert len(results) == 256
    assert sum(r["channels_verified"] for r in results) == 256 * 8


def test_ctrl_c_during_a_sync_tune_cancels_it():
    # A child Python tunes synchronously; the test sends it SIGINT once the
    # tune has started, and the child reports what it saw. "started" is
    # printed by a profile hook as the C++ tune is about to be entered. The
    # signal can still land in the hook itself, after the print and before
    # the call (Python checks for signals when a call returns): the child
    # then says "early", with no tune run, and the test tries again. A
    # KeyboardInterrupt from the C++ call, the case under test, must come
    # with the tune's fiber ended cancelled.
    # 50 ms per reply: a tune takes minutes, so the signal lands inside it.
    script = textwrap.dedent("""
        import sys, traceback, tworoutine

        def entering(frame, event, arg):
            if event == "c_call" and getattr(arg, "__name__", "") == "board_tune":
                sys.setprofile(None)
                print("started", flush=True)

        with tworoutine.sim(boards=1, channels=64, latency=0.05) as (a,):
            b = tworoutine.Board(a)
            try:
                sys.setprofile(entering)
                b.tune(channel_concurrency=1)
                print("finished")
            except KeyboardInterrupt as e:
                if traceback.extract_tb(e.__traceback__)[-1].name == "entering":
                    print("early", flush=True)
                else:
                    # the tune's fiber ended cancelled; the board answers again
                    print("interrupted", tworoutine._tworoutine._cancelled_operations(), b.properties()["nchannels"], flush=True)
    """)
    for _ in range(20):
        p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=os.environ)
        assert p.stdout.readline().strip() == "started"
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        if out.strip() != "early":
            break
    assert out.strip() == "interrupted 1 64"


def test_array_operations_give_one_outcome_per_board(boards):
    addresses = list(boards) + ["127.0.0.1:1"]
    h = tworoutine.health(addresses, timeout=2.0)
    assert [x["status"] for x in h] == ["ok"] * len(boards) + ["unreachable"]
    t = asyncio.run(tworoutine.tune_array.aio(boards))
    assert [x["status"] for x in t] == ["ok"] * len(boards)
    assert all(x["result"]["channels_verified"] == 16 for x in t)


def test_a_loop_dropped_with_operations_in_flight():
    # A notebook kernel restarted mid-call: the loop is closed and collected
    # while its operations run. Their fibers end on the runtime's thread and
    # release the futures there (with the GIL); nothing hangs or crashes, and
    # the board serves the next caller.
    import gc

    with tworoutine.sim(boards=1, channels=16, latency=0.05) as (a,):
        b = tworoutine.Board(a)
        loop = asyncio.new_event_loop()
        futures = [_c.board_properties(b._h, loop, None) for _ in range(8)]
        assert not any(f.done() for f in futures)
        loop.close()
        del loop, futures
        gc.collect()
        # 60 s deadlock guard; the replies take 50 ms each.
        for _ in range(60000):
            if _c._live_fibers() == 0:
                break
            time.sleep(0.001)
        assert _c._live_fibers() == 0
        assert b.properties()["nchannels"] == 16


@pytest.mark.parametrize("call, named", [
    (lambda a: tworoutine.Board("nonsense"), "missing port"),
    (lambda a: tworoutine.Board("127.0.0.1:99999"), "out of range"),
    (lambda a: tworoutine.Board(a, timeout=-1), "timeout"),
    (lambda a: tworoutine.Board(a, timeout=float("nan")), "timeout"),
    (lambda a: tworoutine.Board(a).sweep(4e6, 6e6, -1), "points"),
    (lambda a: tworoutine.Board(a).sweep(4e6, 6e6, 11, channel=2**40), "channel"),
    (lambda a: tworoutine.Board(a).tune(channel_concurrency=-1), "channel_concurrency"),
    (lambda a: tworoutine.Board(a).tune(channel_concurrency=1.5), "channel_concurrency"),
    (lambda a: tworoutine.tune_array([a], concurrency=-1), "concurrency"),
    (lambda a: tworoutine.health([a, "nonsense"]), "missing port"),
    (lambda a: tworoutine.health([a], timeout=0), "timeout"),
    (lambda a: tworoutine.Scpi("x:0"), "out of range"),
    (lambda a: tworoutine.Modbus(a, timeout="soon"), "timeout"),
    (lambda a: tworoutine.sim(boards=-1).__enter__(), "boards"),
    (lambda a: tworoutine.sim(boards=10**6).__enter__(), "boards"),
    (lambda a: tworoutine.sim(boards=1, latency=-0.1).__enter__(), "latency"),
])
def test_bad_values_are_usage_errors_naming_them(boards, call, named):
    # Negative, huge, NaN and mistyped values, as an outsider would try them:
    # a UsageError (a ValueError) that names the value, before anything runs.
    with pytest.raises(tworoutine.UsageError, match=named):
        call(boards[0])
