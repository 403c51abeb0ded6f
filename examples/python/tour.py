# A tour of the Python package tworoutine, in cells as in a notebook: paste
# them into IPython or Jupyter one by one, or run the whole file:
#
#   PYTHONPATH=build/python /usr/bin/python3 examples/python/tour.py
#
# Every operation is written once in C++ and called two ways: op(...) blocks
# this thread (the GIL released) and returns its value; await op.aio(...)
# (or await (~op)(...)) lets asyncio do other things meanwhile. Both work in
# a Jupyter cell, where an event loop is already running: no nest_asyncio.

# %% Simulated readout boards on loopback (real sockets, the same simulator as `tw sim`)
import asyncio

import numpy as np

import tworoutine

sim = tworoutine.sim(boards=8, channels=16)
addresses = sim.__enter__()  # in a notebook, keep the simulator across cells
print(addresses[:2], "...")

# %% One board, synchronously, as at a shell
board = tworoutine.Board(addresses[0])
props = board.properties()
print(props)

# %% A sweep comes back as NumPy arrays
sweep = board.sweep(props["fmin"], props["fmax"], 2001)
dips = np.argsort(sweep["magnitude"])[:3]
print("deepest points (Hz):", np.sort(sweep["frequency"][dips]))

# %% The same operation awaited: every board at once
async def tune_all():
    return await asyncio.gather(*(tworoutine.Board(a).tune.aio() for a in addresses))

results = asyncio.run(tune_all())  # in a Jupyter cell: results = await tune_all()
print("channels verified per board:", [r["channels_verified"] for r in results])

# %% Array operations give one outcome per board; a failing board is an outcome, not an exception
health = tworoutine.health(addresses + ["127.0.0.1:1"], timeout=1.0)
print([(h["address"], h["status"]) for h in health[-2:]])

# %% Deadlines bound everything started inside them
try:
    with tworoutine.deadline(0.001):
        board.sweep(props["fmin"], props["fmax"], 20001)
except tworoutine.TimeoutError as e:
    print("timed out:", e)
print("the board is still usable:", board.properties()["serial"])

# %% Done: stop the simulated boards
sim.__exit__(None, None, None)
