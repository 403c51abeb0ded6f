"""examples/python/tour.py, the notebook-style tour, runs from start to end."""
import os
import subprocess
import sys

TOUR = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python", "tour.py")


def test_the_tour_runs():
    p = subprocess.run([sys.executable, TOUR], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "channels verified per board: [16, 16, 16, 16, 16, 16, 16, 16]" in out
    assert "('127.0.0.1:1', 'unreachable')" in out
    assert "timed out:" in out and "the board is still usable:" in out
