#!/usr/bin/python3
"""Python asyncio client for `tw bench fanout --impl python-asyncio`.

N connections (round-robin over --targets), one untimed first round trip each,
then --rounds timed round trips each, all concurrently, one outstanding request
per connection; asyncio streams on the default event loop. Prints one JSON
line with the same fields as the C++ clients (client CPU from getrusage, RSS
from /proc/self/status). Standard library only.
"""
import argparse
import asyncio
import json
import os
import resource
import sys
import time


def cpu_us():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return (ru.ru_utime + ru.ru_stime) * 1e6


def status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return float(line.split()[1])
    return 0.0


def expand(spec):
    out = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if "+" in port:
            p, k = port.split("+")
            out += [(host, int(p) + i) for i in range(int(k))]
        else:
            out.append((host, int(port)))
    return out


async def main(args):
    targets = expand(args.targets)
    n, rounds = args.connections, args.rounds
    line = (args.query + "\n").encode()
    samples = [0.0] * (n * rounds)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    rss0 = status_kib("VmRSS")
    loop = asyncio.get_running_loop()
    gates = [loop.create_future() for _ in range(3)]
    remaining = [n]
    done = [loop.create_future()]

    def arrive():
        remaining[0] -= 1
        if remaining[0] == 0:
            done[0].set_result(None)

    async def board(i):
        host, port = targets[i % len(targets)]
        reader, writer = await asyncio.open_connection(host, port)
        arrive()
        await gates[0]
        writer.write(line)
        if not (await reader.readline()):
            raise RuntimeError("connection closed")
        arrive()
        await gates[1]
        base = i * rounds
        for k in range(rounds):
            t0 = time.perf_counter_ns()
            writer.write(line)
            if not (await reader.readline()):
                raise RuntimeError("connection closed")
            samples[base + k] = (time.perf_counter_ns() - t0) / 1e3
        arrive()
        await gates[2]
        writer.close()
        await writer.wait_closed()

    async def phase(start):
        remaining[0] = n
        done[0] = loop.create_future()
        c0, t0 = cpu_us(), time.perf_counter()
        tasks = start()
        waiter = asyncio.ensure_future(done[0])
        await asyncio.wait([waiter] + list(all_tasks), return_when=asyncio.FIRST_COMPLETED)
        for t in all_tasks:
            if t.done() and t.exception():
                raise t.exception()
        await waiter
        return (time.perf_counter() - t0) * 1e6, cpu_us() - c0

    all_tasks = []

    def start_boards():
        all_tasks.extend(asyncio.ensure_future(board(i)) for i in range(n))

    con = await phase(start_boards)
    fst = await phase(lambda: gates[0].set_result(None))
    tim = await phase(lambda: gates[1].set_result(None))
    hwm = status_kib("VmHWM")
    c0, t0 = cpu_us(), time.perf_counter()
    gates[2].set_result(None)
    await asyncio.gather(*all_tasks)
    tdn = ((time.perf_counter() - t0) * 1e6, cpu_us() - c0)

    samples.sort()
    rts = n * rounds
    wall_s = tim[0] / 1e6
    print(json.dumps({
        "impl": "python-asyncio", "boards": n, "rounds": rounds,
        "wall_s": wall_s, "rt_per_s": rts / wall_s, "cpu_us_per_rt": tim[1] / rts,
        "rss_kib_per_board": (hwm - rss0) / n,
        "p50_us": samples[min(len(samples) - 1, int(0.50 * len(samples)))],
        "p99_us": samples[min(len(samples) - 1, int(0.99 * len(samples)))],
        "connect_us_per_board": con[1] / n, "first_rt_us_per_board": fst[1] / n,
        "teardown_us_per_board": tdn[1] / n,
        "connect_wall_us_per_board": con[0] / n, "first_rt_wall_us_per_board": fst[0] / n,
        "teardown_wall_us_per_board": tdn[0] / n,
    }), flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", required=True)
    ap.add_argument("--connections", type=int, required=True)
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--query", default="MEAS?")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        asyncio.run(main(a))
    except Exception as e:  # one line on stderr, exit 1
        print(f"fanout_asyncio: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
