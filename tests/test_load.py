"""100 concurrent sessions x 10 turns on Redis + Cosmos DB: nothing lost, nothing leaked."""

import pytest

from bench.bench_load import one_process, three_processes

pytestmark = pytest.mark.long


@pytest.mark.parametrize("scenario", [one_process, three_processes], ids=["one process", "three processes"])
async def test_concurrent_sessions_lose_nothing_and_never_mix_customers(redis_plain, cosmos_url, monkeypatch, scenario):
    monkeypatch.setenv("MEMORY_TIMEOUT_SECONDS", "120")  # the local Cosmos DB server is slow under load
    result = await scenario(f"{redis_plain.url}?mode=plain", cosmos_url, 100, 10)
    assert result["turns"] == 1000
    assert (result["lost"], result["leaks"], result["missing_episodes"], result["degraded"]) == (0, 0, 0, 0)
