"""CosmosStore's retries, proved through a proxy that injects faults between
the store and the Cosmos DB test server: every retried status, dropped
connections and slow answers, on reads and writes, sync and async."""

import time
import uuid

import pytest
from azure.cosmos import exceptions as cosmos_errors

from stores import cosmos
from stores.cosmos.retry import RetryPolicy
from tests.support.fixtures_cosmos import TEST_KEY

NS = ("customers", "c-7", "facts")
FAST = RetryPolicy(attempts=5, backoff=0.005, backoff_max=0.02, total=10)
# The SDK's own retries of 408/5xx are cross-region failovers with a fixed
# 500 ms pause; on a one-region test account they only slow the suite, and
# what is under test is the store's policy. Its 429 retries stay (two tries,
# see CLIENT_OPTIONS), so 429 gets more faults than the SDK alone absorbs.
CLIENT = dict(enable_endpoint_discovery=False, read_timeout=0.5)
TRANSIENT = [408, 449, 500, 502, 503, 504, "drop"]
FAULTS = {**{status: 3 for status in TRANSIENT}, 429: 12}


@pytest.fixture(scope="module")
def proxy_url(fault_proxy_server):
    return f"{fault_proxy_server.url}/retries-{uuid.uuid4().hex[:8]}/memory?tls=insecure"


@pytest.fixture(scope="module")
def sync_store(proxy_url):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COSMOS_KEY", TEST_KEY)
        with cosmos.connect(proxy_url, retry=FAST, **CLIENT) as store:
            yield store


@pytest.fixture(scope="module")
async def async_store(proxy_url):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COSMOS_KEY", TEST_KEY)
        async with cosmos.aconnect(proxy_url, retry=FAST, **CLIENT) as store:
            yield store


def _check(proxy, kind, fault, times):
    injected = proxy.injected(kind)
    assert len(injected) == times, f"{fault} on {kind}s: the proxy injected {len(injected)} of {times}"


@pytest.mark.parametrize("fault", list(FAULTS))
def test_sync_reads_and_writes_outlast_the_fault(sync_store, fault_proxy, fault):
    key = f"sync-{fault}"
    fault_proxy.inject("write", fault, FAULTS[fault])
    sync_store.put(NS, key, {"fault": str(fault)})
    _check(fault_proxy, "write", fault, FAULTS[fault])
    fault_proxy.inject("read", fault, FAULTS[fault])
    assert sync_store.get(NS, key).value == {"fault": str(fault)}
    _check(fault_proxy, "read", fault, FAULTS[fault])


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_async_reads_and_writes_outlast_the_fault(async_store, fault_proxy, fault):
    key = f"async-{fault}"
    fault_proxy.inject("write", fault, FAULTS[fault])
    await async_store.aput(NS, key, {"fault": str(fault)})
    _check(fault_proxy, "write", fault, FAULTS[fault])
    fault_proxy.inject("read", fault, FAULTS[fault])
    assert (await async_store.aget(NS, key)).value == {"fault": str(fault)}
    _check(fault_proxy, "read", fault, FAULTS[fault])


def test_a_slow_answer_times_out_and_is_tried_again(sync_store, fault_proxy):
    fault_proxy.inject("write", "delay", 1, delay=1.0)
    fault_proxy.inject("read", "delay", 1, delay=1.0)
    started = time.monotonic()
    sync_store.put(NS, "slow", {"v": 1})
    assert sync_store.get(NS, "slow").value == {"v": 1}
    assert time.monotonic() - started < 2.0  # neither waited out the 1 s delay twice
    assert len(fault_proxy.injected("write")) == len(fault_proxy.injected("read")) == 1


async def test_async_slow_answer_times_out_and_is_tried_again(async_store, fault_proxy):
    fault_proxy.inject("write", "delay", 1, delay=1.0)
    await async_store.aput(NS, "slow-async", {"v": 1})
    assert (await async_store.aget(NS, "slow-async")).value == {"v": 1}
    assert len(fault_proxy.injected("write")) == 1


def test_429_waits_as_long_as_the_server_says(sync_store, fault_proxy):
    fault_proxy.inject("write", 429, 3, retry_after_ms=150)
    sync_store.put(NS, "throttled", {"v": 1})
    first, *_, last = [s.at for s in fault_proxy.seen if s.kind == "write"]
    assert last - first >= 3 * 0.15


def test_a_fault_that_outlasts_the_bound_is_one_clear_error(sync_store, fault_proxy):
    fault_proxy.inject("write", 503, 1000)
    with pytest.raises(cosmos_errors.CosmosHttpResponseError) as error:
        sync_store.put(NS, "never", {"v": 1})
    assert error.value.status_code == 503
    assert "injected 503" in str(error.value)
    assert any(f"gave up after {FAST.attempts} attempts" in note for note in error.value.__notes__)


async def test_throttling_stops_at_the_total_time_bound(proxy_url, fault_proxy, cosmos_key):
    bound = RetryPolicy(total=0.5)
    async with cosmos.aconnect(proxy_url, retry=bound, **CLIENT) as store:
        fault_proxy.inject("read", 429, 1000, retry_after_ms=100)
        started = time.monotonic()
        with pytest.raises(cosmos_errors.CosmosHttpResponseError) as error:
            await store.aget(NS, "anything")
    assert error.value.status_code == 429
    assert time.monotonic() - started < 1.5


def test_other_errors_are_not_retried(sync_store, fault_proxy):
    fault_proxy.inject("write", 413, 5)
    with pytest.raises(cosmos_errors.CosmosHttpResponseError) as error:
        sync_store.put(NS, "too-big", {"v": 1})
    assert error.value.status_code == 413
    assert len(fault_proxy.injected("write")) == 1
