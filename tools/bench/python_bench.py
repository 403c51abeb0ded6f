"""The cost of the Python bridge (docs/PYTHON.md, "Cost"):

    PYTHONPATH=build/python /usr/bin/python3 tools/bench/python_bench.py calls
    PYTHONPATH=build/python /usr/bin/python3 tools/bench/python_bench.py tune gather|tune_array [BOARDS]

`calls`: microseconds per call, best of 5 repeats, of a plain pybind11
function that does nothing, of a tworoutine operation that does nothing on a
fiber (back to back, and with a little Python work between calls, so that the
runtime's thread has gone to sleep), and of the same through the Python
operation object. `tune`: BOARDS (default 256) simulated boards of 64 channels
tuned from Python, with asyncio.gather of awaited Board.tune or with
tune_array; compare with `/usr/bin/time tw tune --sim 256`.
"""
import asyncio
import resource
import sys
import time
import timeit

import tworoutine
from tworoutine import _tworoutine as _c


def per_call_us(f, n):
    return min(timeit.repeat(f, number=n, repeat=5)) / n * 1e6


def calls():
    _c._noop()  # start the runtime
    scratch = [0]

    def python_work():
        for i in range(20):
            scratch[0] += i

    def work_then_call():
        python_work()
        _c._noop(None, None)

    op = tworoutine._Operation(lambda *, loop, deadline: _c._noop(loop, deadline), "noop")
    print(f"plain pybind11 call:                    {per_call_us(_c._plain, 200000):7.3f} us")
    print(f"sync operation, back to back:           {per_call_us(lambda: _c._noop(None, None), 20000):7.2f} us")
    print(f"the Python work alone:                  {per_call_us(python_work, 20000):7.2f} us")
    print(f"Python work, then a sync operation:     {per_call_us(work_then_call, 20000):7.2f} us")
    print(f"sync operation through tworoutine's op: {per_call_us(op, 20000):7.2f} us")


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def tune(mode, boards):
    with tworoutine.sim(boards=boards, channels=64) as addresses:
        t0, c0 = time.monotonic(), cpu_s()
        if mode == "gather":
            async def main():
                return await asyncio.gather(*(tworoutine.Board(a).tune.aio() for a in addresses))

            verified = sum(r["channels_verified"] for r in asyncio.run(main()))
        elif mode == "tune_array":
            verified = sum(r["result"]["channels_verified"] for r in tworoutine.tune_array(addresses) if r["status"] == "ok")
        else:
            sys.exit(f"python_bench: tune gather|tune_array, not {mode!r}")
        print(f"{boards} boards, {mode}: {time.monotonic() - t0:.2f} s wall, {cpu_s() - c0:.2f} s CPU "
              f"(client and simulator), {verified} of {boards * 64} channels verified")


if __name__ == "__main__":
    if sys.argv[1:2] == ["calls"]:
        calls()
    elif sys.argv[1:2] == ["tune"] and len(sys.argv) in (3, 4):
        tune(sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 256)
    else:
        sys.exit(__doc__)
