#!/usr/bin/python3
"""Summarise `tw bench fanout --json` runs (tools/bench/fanout_matrix.sh).

  fanout_report.py RAW_DIR SUMMARY.json CHART.svg

RAW_DIR holds nN_latL_rK.json files. Writes the medians over repetitions per
(boards, latency, impl) to SUMMARY.json, with the spread of the CPU ratio (the
lowest and highest ratio of one repetition's client to asio-callbacks in the
same repetition), an SVG chart of client CPU per round trip against boards
(one line per implementation, one panel per latency), and prints a Markdown
table with the fiber targets judged (CPU per round trip <= asio-callbacks',
setup <= 1.5x, teardown <= asio-callbacks'). Standard library only.
"""
import glob
import json
import math
import os
import re
import statistics
import sys

FIELDS = ["wall_s", "rt_per_s", "cpu_us_per_rt", "rss_kib_per_board", "p50_us", "p99_us",
          "connect_us_per_board", "first_rt_us_per_board", "teardown_us_per_board"]
COLORS = {"fiber": "#d62728", "asio-callbacks": "#1f77b4", "asio-spawn": "#2ca02c",
          "threads": "#9467bd", "python-asyncio": "#ff7f0e"}


def load(raw):
    runs = {}
    machine = ""
    for path in sorted(glob.glob(os.path.join(raw, "*.json"))):
        m = re.match(r"n(\d+)_lat(.+)_r(\d+)\.json$", os.path.basename(path))
        if not m:
            continue
        with open(path) as f:
            doc = json.load(f)
        machine = doc.get("machine", machine)
        for r in doc["results"]:
            r["repetition"] = int(m.group(3))
            runs.setdefault((int(m.group(1)), m.group(2), r["impl"]), []).append(r)
    return machine, runs


def summarise(runs):
    out = []
    for (n, lat, impl), rs in sorted(runs.items()):
        row = {"boards": n, "latency": lat, "impl": impl, "repetitions": len(rs), "rounds": rs[0]["rounds"]}
        for k in FIELDS:
            row[k] = statistics.median(r[k] for r in rs)
        out.append(row)
    # Ratios to asio-callbacks' medians, and the spread of the per-repetition
    # CPU ratios (each client against the callbacks of its own repetition).
    base = {(r["boards"], r["latency"]): r for r in out if r["impl"] == "asio-callbacks"}
    for r in out:
        mine = runs[(r["boards"], r["latency"], r["impl"])]
        theirs = {x["repetition"]: x for x in runs.get((r["boards"], r["latency"], "asio-callbacks"), [])}
        ratios = [x["cpu_us_per_rt"] / theirs[x["repetition"]]["cpu_us_per_rt"] for x in mine if x["repetition"] in theirs]
        if ratios:
            r["cpu_ratio_min"], r["cpu_ratio_max"] = min(ratios), max(ratios)
        b = base.get((r["boards"], r["latency"]))
        if b:
            r["cpu_ratio"] = r["cpu_us_per_rt"] / b["cpu_us_per_rt"]
            r["setup_ratio"] = ((r["connect_us_per_board"] + r["first_rt_us_per_board"]) /
                                (b["connect_us_per_board"] + b["first_rt_us_per_board"]))
    return out


def svg(rows, path, machine):
    lats = sorted({r["latency"] for r in rows}, key=lambda s: (s != "0", s))
    impls = [i for i in COLORS if any(r["impl"] == i for r in rows)]
    boards = sorted({r["boards"] for r in rows})
    ymax = max(r["cpu_us_per_rt"] for r in rows) * 1.1
    pw, ph, left, top = 360, 260, 60, 50
    width = left + len(lats) * (pw + 40) + 150
    height = top + ph + 70
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="{left}" y="18" font-size="14">tw bench fanout: client CPU per round trip (µs, median of repetitions)</text>',
         f'<text x="{left}" y="34" fill="#555">{machine}</text>']
    lx = lambda n: math.log10(n)
    x0, x1 = lx(boards[0]) - 0.15, lx(boards[-1]) + 0.15
    for p, lat in enumerate(lats):
        ox = left + p * (pw + 40)
        X = lambda n: ox + (lx(n) - x0) / (x1 - x0) * pw
        Y = lambda v: top + ph - v / ymax * ph
        o.append(f'<rect x="{ox}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
        o.append(f'<text x="{ox + pw / 2}" y="{top - 4}" text-anchor="middle">board latency {lat}</text>')
        step = 10 ** math.floor(math.log10(ymax / 4)) if ymax > 0 else 1
        step *= 2 if ymax / step > 10 else 1
        v = 0.0
        while v <= ymax:
            o.append(f'<line x1="{ox}" x2="{ox + pw}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" stroke="#eee"/>')
            o.append(f'<text x="{ox - 4}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
            v += step
        for n in boards:
            o.append(f'<text x="{X(n):.1f}" y="{top + ph + 16}" text-anchor="middle">{n:,}</text>')
        o.append(f'<text x="{ox + pw / 2}" y="{top + ph + 34}" text-anchor="middle">boards (log scale)</text>')
        for impl in impls:
            pts = sorted((r["boards"], r["cpu_us_per_rt"]) for r in rows if r["impl"] == impl and r["latency"] == lat)
            if not pts:
                continue
            c = COLORS[impl]
            o.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' %
                     (c, " ".join(f"{X(n):.1f},{Y(v):.1f}" for n, v in pts)))
            for n, v in pts:
                o.append(f'<circle cx="{X(n):.1f}" cy="{Y(v):.1f}" r="3" fill="{c}"/>')
    lx0 = left + len(lats) * (pw + 40)
    for k, impl in enumerate(impls):
        y = top + 10 + 18 * k
        o.append(f'<line x1="{lx0}" x2="{lx0 + 20}" y1="{y}" y2="{y}" stroke="{COLORS[impl]}" stroke-width="2"/>')
        o.append(f'<text x="{lx0 + 26}" y="{y + 4}">{impl}</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def mark(ok):
    return "met" if ok else "**missed**"


def table(rows):
    print("| boards | latency | impl | rt/s | CPU µs/rt | ratio | spread | KiB/board | p50 µs | p99 µs | connect µs | first rt µs | setup ratio | teardown µs |")
    print("| ---: | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        spread = f'{r["cpu_ratio_min"]:.2f}–{r["cpu_ratio_max"]:.2f}' if "cpu_ratio_min" in r else "-"
        print(f'| {r["boards"]:,} | {r["latency"]} | {r["impl"]} | {r["rt_per_s"]:,.0f} | {r["cpu_us_per_rt"]:.2f} | '
              f'{r.get("cpu_ratio", float("nan")):.2f} | {spread} | {r["rss_kib_per_board"]:.2f} | {r["p50_us"]:,.0f} | {r["p99_us"]:,.0f} | '
              f'{r["connect_us_per_board"]:.1f} | {r["first_rt_us_per_board"]:.1f} | {r.get("setup_ratio", float("nan")):.2f} | '
              f'{r["teardown_us_per_board"]:.1f} |')
    print()
    print("Fiber targets:")
    print()
    print("| boards | latency | CPU/rt ratio <= 1.00 | RSS <= 8 KiB/board (10,000) | setup ratio <= 1.5 | teardown <= asio-callbacks' |")
    print("| ---: | --- | --- | --- | --- | --- |")
    base = {(r["boards"], r["latency"]): r for r in rows if r["impl"] == "asio-callbacks"}
    for r in rows:
        if r["impl"] != "fiber":
            continue
        b = base.get((r["boards"], r["latency"]))
        tear_ok = b is not None and r["teardown_us_per_board"] <= b["teardown_us_per_board"]
        rss = (f'{r["rss_kib_per_board"]:.2f}: {mark(r["rss_kib_per_board"] <= 8)}' if r["boards"] >= 10000 else
               f'{r["rss_kib_per_board"]:.2f}')
        tear_base = f' ({b["teardown_us_per_board"]:.1f})' if b else ""
        print(f'| {r["boards"]:,} | {r["latency"]} | {r.get("cpu_ratio", float("nan")):.2f}: {mark(r.get("cpu_ratio", 9) <= 1.00)} | '
              f'{rss} | {r.get("setup_ratio", float("nan")):.2f}: {mark(r.get("setup_ratio", 9) <= 1.5)} | '
              f'{r["teardown_us_per_board"]:.1f}{tear_base}: {mark(tear_ok)} |')


def main():
    raw, summary, chart = sys.argv[1:4]
    machine, runs = load(raw)
    if not runs:
        sys.exit(f"fanout_report: no runs in {raw}")
    rows = summarise(runs)
    with open(summary, "w") as f:
        json.dump({"machine": machine, "results": rows}, f, indent=1)
    svg(rows, chart, machine)
    table(rows)


if __name__ == "__main__":
    main()
