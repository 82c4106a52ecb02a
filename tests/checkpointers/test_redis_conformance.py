"""langgraph-checkpoint-conformance on every Redis mode, sync and async:
all 5 base and all 3 extended capabilities must pass."""

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import (
    Capability,
    DetectedCapabilities,
)

from checkpointers import aconnect, connect
from tests.support.fixtures_redis import SyncSaverUnderTest

ALL_CAPABILITIES = {c.value for c in Capability}


def _failures(report) -> dict:
    return {
        name: result.failures or "not detected"
        for name, result in report.results.items()
        if result.passed is not True
    }


async def test_async_saver_conforms(redis_target):
    @checkpointer_test(name=f"async-{redis_target.name}")
    async def factory():
        async with aconnect(redis_target.url) as saver:
            yield saver

    report = await validate(factory)
    assert set(report.results) == ALL_CAPABILITIES
    assert _failures(report) == {}


async def test_sync_saver_conforms(redis_target):
    @checkpointer_test(name=f"sync-{redis_target.name}")
    async def factory():
        with connect(redis_target.url) as saver:
            yield SyncSaverUnderTest(saver)

    report = await validate(factory)
    assert set(report.results) == ALL_CAPABILITIES
    assert _failures(report) == {}


@pytest.mark.parametrize("mode", ["plain", "modules"])
async def test_savers_have_rollback_and_copy(redis_modules, mode):
    """`langgraph dev` calls a saver degraded without adelete_for_runs / acopy_thread."""
    async with aconnect(redis_modules.url, mode=mode) as saver:
        assert DetectedCapabilities.from_instance(saver).missing == frozenset()
