"""The privacy benchmark runs as the README says, on the tests' corpus of
ordinary banking messages, and masks none of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_privacy_benchmark_runs_and_finds_no_false_positive():
    done = subprocess.run([sys.executable, "bench/bench_privacy.py"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "| 0 / 105 |" in done.stdout
