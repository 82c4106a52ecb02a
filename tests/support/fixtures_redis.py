"""Fixtures for the Redis checkpointer tests (cluster, per-test clean state)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import redis
from langgraph.checkpoint.base import BaseCheckpointSaver

from backends.devservers import RedisClusterServers

REDIS_MODES = ["modules", "plain", "cluster"]


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """Three plain Redis masters forming a Redis Cluster (plain mode only)."""
    cluster = RedisClusterServers(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=REDIS_MODES)
def redis_target(request) -> RedisTarget:
    """Each kind of Redis with the checkpointer URL that selects its mode."""
    if request.param == "modules":
        server = request.getfixturevalue("redis_modules")
        return RedisTarget("modules", f"{server.url}?mode=modules", [server.port])
    if request.param == "plain":
        server = request.getfixturevalue("redis_plain")
        return RedisTarget("plain", f"{server.url}?mode=plain", [server.port])
    cluster = request.getfixturevalue("redis_cluster")
    return RedisTarget("cluster", f"{cluster.url}?mode=plain", [n.port for n in cluster.nodes])


@contextlib.contextmanager
def keys_removed_after(ports: list[int]) -> Iterator[None]:
    """Delete every key a test adds to these servers (a worker runs one test at
    a time): threads encrypted under a test's own key would otherwise break the
    later tests that list every thread of the server."""
    clients = [redis.Redis(port=port) for port in ports]
    before = [set(client.scan_iter(count=1000)) for client in clients]
    try:
        yield
    finally:
        for client, kept in zip(clients, before):
            added = [key for key in client.scan_iter(count=1000) if key not in kept]
            for key in added:
                client.delete(key)
            client.close()


@pytest.fixture
def clean_redis_target(redis_target):
    """``redis_target``, left as the test found it."""
    with keys_removed_after(redis_target.ports):
        yield redis_target


class RedisTarget:
    """A checkpointer URL and the server ports behind it."""

    def __init__(self, name: str, url: str, ports: list[int]) -> None:
        self.name, self.url, self.ports = name, url, ports

    def with_options(self, **options: Any) -> str:
        return self.url + "".join(f"&{k}={v}" for k, v in options.items())

    def keys_of(self, thread_id: str) -> list[bytes]:
        """Every key (on every node) whose name contains ``thread_id``."""
        return list(self.ttls_of(thread_id))

    def ttls_of(self, thread_id: str) -> dict[bytes, int]:
        """Those keys with their remaining time to live in ms (-1: none)."""
        ttls: dict[bytes, int] = {}
        for port in self.ports:
            client = redis.Redis(port=port)
            for key in client.scan_iter(match=f"*{thread_id}*", count=1000):
                ttls[key] = client.pttl(key)
            client.close()
        return ttls


def new_thread_id() -> str:
    """A fresh thread id: each test gets its own namespace of keys."""
    return f"t-{uuid.uuid4()}"


class SyncSaverUnderTest(BaseCheckpointSaver):
    """Presents a sync saver to the async-only conformance suite: each async
    method runs the sync one in a worker thread, so the sync code is what
    gets tested."""

    def __init__(self, saver: BaseCheckpointSaver) -> None:
        super().__init__(serde=saver.serde)
        self.saver = saver

    def get_next_version(self, current: Any, channel: Any) -> Any:
        return self.saver.get_next_version(current, channel)

    async def aget_tuple(self, config):
        return await asyncio.to_thread(self.saver.get_tuple, config)

    async def alist(self, config, *, filter=None, before=None, limit=None):
        items = await asyncio.to_thread(
            lambda: list(self.saver.list(config, filter=filter, before=before, limit=limit))
        )
        for item in items:
            yield item

    async def aput(self, config, checkpoint, metadata, new_versions):
        return await asyncio.to_thread(self.saver.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config, writes, task_id, task_path=""):
        await asyncio.to_thread(self.saver.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await asyncio.to_thread(self.saver.delete_thread, thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await asyncio.to_thread(self.saver.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await asyncio.to_thread(self.saver.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await asyncio.to_thread(self.saver.prune, thread_ids, strategy=strategy)
