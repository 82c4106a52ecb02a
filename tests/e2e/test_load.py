"""100 concurrent sessions x 10 turns on Redis + Cosmos DB, in one process and
spread over three: nothing lost, nothing leaked, every session has its episode.
Runs the load benchmark's program (bench/bench_load.py) on this worker's servers."""

import json
import os
import subprocess
import sys

import pytest

from backends.devservers import ROOT

pytestmark = pytest.mark.long


def test_concurrent_sessions_lose_nothing_and_never_mix_customers(redis_plain, cosmos_url):
    program = [sys.executable, str(ROOT / "bench" / "bench_load.py"), "--sessions", "100", "--turns", "10",
               "--redis", f"{redis_plain.url}?mode=plain", "--cosmos", cosmos_url, "--json"]
    # MEMORY_TIMEOUT_SECONDS: the local Cosmos DB server is slow under this load.
    # SESSION_LEASE_SECONDS: 100 sessions on one event loop, on two cores the other tests
    # share, can leave lease renewals seconds behind; a lease must outlast three such lags.
    done = subprocess.run(program, capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "MEMORY_TIMEOUT_SECONDS": "120", "SESSION_LEASE_SECONDS": "30"})
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(results) == {"1 process", "3 processes"}
    for label, result in results.items():
        assert result["turns"] == 1000, label
        assert (result["lost"], result["leaks"], result["missing_episodes"], result["degraded"]) == (0, 0, 0, 0), \
            (label, result)
