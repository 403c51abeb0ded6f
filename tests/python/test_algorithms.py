"""Algorithms by name from Python (tworoutine.algorithms, run, load_plugin),
as `tw run` runs them, against simulated boards: the listing, each_board
algorithms with one outcome per board, the others with their result, usage
errors, and the example plugin (its path in TW_EXAMPLE_PLUGIN; skipped
without it)."""
import asyncio
import datetime
import os

import numpy as np
import pytest

import tworoutine


@pytest.fixture(scope="module")
def boards():
    with tworoutine.sim(boards=3, channels=8) as addresses:
        yield addresses


def test_algorithms_lists_the_built_in_ones_as_plain_data():
    algs = {a["name"]: a for a in tworoutine.algorithms()}
    assert {"tune_board", "network_analysis", "health_check", "cooldown"} <= set(algs)
    na = algs["network_analysis"]
    assert na["runs_on"] == "each_board" and na["help"]
    points = next(p for p in na["parameters"] if p["name"] == "points")
    assert points["kind"] == "integer" and points["default"] == "0" and points["min"] == 0
    assert algs["health_check"]["runs_on"] == "all_boards"
    assert algs["cooldown"]["runs_on"] == "no_boards"
    setpoint = next(p for p in algs["cooldown"]["parameters"] if p["name"] == "setpoint")
    assert setpoint["required"] and setpoint["default"] is None


def test_each_board_gives_one_outcome_per_board(boards):
    addresses = list(boards) + ["127.0.0.1:1"]
    out = tworoutine.run("network_analysis", addresses, points=np.int64(11), amplitude=0.25)
    assert [o["address"] for o in out] == addresses
    assert [o["status"] for o in out] == ["ok"] * len(boards) + ["failed"]
    assert all(len(o["result"]["frequency"]) == 11 and o["result"]["amplitude"] == 0.25 for o in out[:-1])
    assert out[-1]["result"] is None and "127.0.0.1:1" in out[-1]["error"]


def test_run_awaited_and_with_board_objects(boards):
    out = asyncio.run(tworoutine.run.aio("tune_board", [tworoutine.Board(a) for a in boards[:2]], channel_concurrency=4))
    assert [o["status"] for o in out] == ["ok", "ok"]
    assert all(o["result"]["channels_tuned"] == 8 for o in out)


def test_all_boards_gives_its_result(boards):
    r = tworoutine.run("health_check", boards, timeout=datetime.timedelta(seconds=2))
    assert r["ok"] == len(boards) and len(r["results"]) == len(boards)
    r = (asyncio.run((~tworoutine.run)("health_check", boards, timeout="2s")))
    assert r["ok"] == len(boards)


def test_usage_errors_before_anything_runs(boards):
    with pytest.raises(tworoutine.UsageError, match="no_such_algorithm"):
        tworoutine.run("no_such_algorithm", boards)
    with pytest.raises(tworoutine.UsageError, match="no parameter 'bogus'"):
        tworoutine.run("network_analysis", boards, bogus=1)
    with pytest.raises(tworoutine.UsageError):
        tworoutine.run("network_analysis", boards, amplitude=2.0)  # out of (0, 1]
    with pytest.raises(tworoutine.UsageError):
        tworoutine.run("network_analysis", boards, points="many")
    with pytest.raises(tworoutine.UsageError, match="boards"):
        tworoutine.run("network_analysis")
    with pytest.raises(tworoutine.UsageError, match="missing argument setpoint"):
        tworoutine.run("cooldown", controller="127.0.0.1:1", compressor="127.0.0.1:1")


def test_no_boards_algorithm_raises_its_error_by_class():
    with pytest.raises(tworoutine.ConnectionError):
        tworoutine.run("cooldown", params={"deadline": 5}, controller="127.0.0.1:1", compressor="127.0.0.1:1",
                       setpoint=10)
    with pytest.raises(tworoutine.UsageError, match="given twice"):
        tworoutine.run("cooldown", params={"setpoint": 5}, setpoint=10)


def test_load_plugin_errors():
    with pytest.raises(tworoutine.UsageError, match="cannot load plugin"):
        tworoutine.load_plugin("/nonexistent/plugin.so")


def test_example_plugin_runs_by_name(boards):
    path = os.environ.get("TW_EXAMPLE_PLUGIN")
    if not path:
        pytest.skip("TW_EXAMPLE_PLUGIN (the path of tw_example_plugin.so) is not set")
    tworoutine.load_plugin(path)
    names = {a["name"] for a in tworoutine.algorithms()}
    assert {"temperature_stats", "retune_drift"} <= names
    out = tworoutine.run("temperature_stats", boards, readings=3)
    assert [o["status"] for o in out] == ["ok"] * len(boards)
    assert all(o["result"]["readings"] == 3 and o["result"]["min"] <= o["result"]["max"] for o in out)
    out = asyncio.run(tworoutine.run.aio("temperature_stats", boards[:1], readings=2, interval=0))
    assert out[0]["result"]["readings"] == 2
