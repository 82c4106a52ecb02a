"""Savers for Redis with RedisJSON + RediSearch: langgraph-checkpoint-redis, fixed.

``RedisSaver`` / ``AsyncRedisSaver`` of ``langgraph-checkpoint-redis`` 0.5.2 are
subclassed, not forked. What is changed, and why:

- ``list``: upstream ignores the root namespace ``""`` (lists every namespace),
  rejects metadata filter keys other than source/step/run_id, and ignores
  ``before`` for uuid6 checkpoint ids (it expects ULIDs), so ``limit`` then cuts
  the wrong page. We push down what upstream gets right and check the rest here.
- sync ``list`` returns inline channel values (e.g. messages) still as stored
  JSON dicts; we deserialise them as upstream's async ``alist`` does.
- ``prune``: an empty thread list is a no-op, not a ``ValueError``.
- ``copy_thread`` and ``delete_for_runs``: missing upstream; built from its own
  primitives (list, put, put_writes, its search indexes and key layout).
- channel values: upstream stores all of them inline in every checkpoint's
  JSON document, so each put re-serialises and re-indexes the whole
  conversation (per-turn time grows tenfold over 200 turns, 220 MB for one
  thread). We keep upstream's documents, indexes, writes and pointers, but put
  each channel value once per version into one hash per thread,
  ``<checkpoint prefix>_blobs:<thread>`` (field ``ns\0channel\0version``), as
  langgraph's Postgres saver does, and hand upstream the checkpoint without
  them. Values found inline (documents written by upstream itself) still load.
- TTL: upstream refreshes only the checkpoint that was read, so the older
  history of an active thread still expires. After each put and read we also
  re-arm every key of the thread, at most every ``ttl / 10`` per thread and
  process: a thread touched at least every 0.9 x TTL keeps all its history.

Maintenance operations are generators of ``Call``s (see ``sansio``), so the
sync and async classes only execute calls.
"""

from __future__ import annotations

import inspect
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
)
from langgraph.checkpoint.redis import RedisSaver
from langgraph.checkpoint.redis.aio import AsyncRedisSaver
from langgraph.checkpoint.redis.util import from_storage_safe_str, to_storage_safe_id
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from redisvl.query import FilterQuery
from redisvl.query.filter import Tag

from checkpointers.redis.sansio import AsyncDriver, Emit, Operation, SyncDriver

# Blobs are ours: langgraph's msgpack serializer, several times faster than
# upstream's JSON one (LangChain to_json / revive with import lookups).
BLOB_SERDE = JsonPlusSerializer()
# Metadata keys upstream can filter on server-side.
PUSHDOWN_KEYS = {"source", "step"}
SEARCH_LIMIT = 10_000


@dataclass(frozen=True)
class Call:
    """Call ``method`` on the saver (``target="saver"``: ``a``-prefixed in async),
    on the saver without renaming (``"self"``) or on one of its attributes."""

    target: str
    method: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass
class ListPlan:
    """How one ``list`` call is split between upstream's query and our checks."""

    config: RunnableConfig | None
    filter: dict[str, Any] | None
    limit: int | None
    ns: str | None
    before_id: str | None
    checks: dict[str, Any]
    wanted: int | None
    handed_out: int = 0

    def admit(self, item: CheckpointTuple) -> bool:
        conf = item.config["configurable"]
        if (self.ns is not None and conf["checkpoint_ns"] != self.ns) or (
            self.before_id and item.checkpoint["id"] >= self.before_id
        ):
            return False
        if any(item.metadata.get(k) != v for k, v in self.checks.items()):
            return False
        self.handed_out += 1
        return True

    @property
    def full(self) -> bool:
        return self.wanted is not None and self.handed_out >= self.wanted


def _thread_config(thread_id: str, ns: str | None = None, checkpoint_id: str | None = None):
    conf: dict[str, Any] = {"thread_id": thread_id}
    if ns is not None:
        conf["checkpoint_ns"] = ns
    if checkpoint_id is not None:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


class ModulesFixes:
    """What the sync and async module savers add to upstream; no I/O here."""

    ttl_config: dict[str, Any] | None
    _refreshed: dict[str, float]

    def _plan_list(self, config, filter, before, limit) -> ListPlan:
        ns = config["configurable"].get("checkpoint_ns") if config else None
        before_id = get_checkpoint_id(before) if before else None
        pushed = {k: v for k, v in (filter or {}).items() if k in PUSHDOWN_KEYS}
        # Upstream ignores the root namespace "" and `before`: then it may
        # return items we drop, so the limit must be applied here.
        exact = ns != "" and not before_id and set(filter or {}) <= PUSHDOWN_KEYS
        return ListPlan(
            config=config, filter=pushed or None, limit=limit if exact else None,
            ns=ns, before_id=before_id, checks=dict(filter or {}), wanted=limit,
        )

    # -- channel values, once per version -----------------------------------

    def _blob_key(self, thread_id: str) -> str:
        return f"{self._checkpoint_prefix}_blobs:{to_storage_safe_id(thread_id)}"

    def _ttl_ms(self) -> int:
        minutes = (self.ttl_config or {}).get("default_ttl")
        return round(minutes * 60_000) if minutes else 0

    def _put(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
             new_versions: ChannelVersions) -> Operation:
        thread_id = config["configurable"]["thread_id"]
        ns = config["configurable"].get("checkpoint_ns", "")
        values = checkpoint["channel_values"]
        blobs: list[Any] = []
        for channel, version in new_versions.items():
            type_, data = BLOB_SERDE.dumps_typed(values[channel]) if channel in values else ("empty", b"")
            blobs += [_blob_field(ns, channel, version), type_.encode() + b"\0" + data]
        key = self._blob_key(thread_id)
        if blobs:
            ttl = [("PEXPIRE", key, self._ttl_ms())] if self._ttl_ms() else []
            yield Call("self", "_pipeline", ([("HSET", key, *blobs), *ttl],))
        stored = yield Call("upstream", "put", (config, {**checkpoint, "channel_values": {}},
                                                metadata, new_versions))
        yield from self._refresh_thread(thread_id)
        yield Emit(stored)

    def _with_values(self, tuples: list[CheckpointTuple]) -> Operation:
        """The tuples with their channel values loaded from the blob hashes."""
        wanted = []
        for item in tuples:
            conf, versions = item.config["configurable"], item.checkpoint["channel_versions"]
            missing = [ch for ch in versions if ch not in item.checkpoint["channel_values"]]
            wanted.append((missing, [_blob_field(conf["checkpoint_ns"], ch, versions[ch]) for ch in missing]))
        commands = [("HMGET", self._blob_key(t.config["configurable"]["thread_id"]), *fields)
                    for t, (_, fields) in zip(tuples, wanted) if fields]
        replies = iter((yield Call("self", "_pipeline", (commands,))) if commands else [])
        filled = []
        for item, (missing, fields) in zip(tuples, wanted):
            # Inline values come from documents upstream wrote; its sync list
            # hands them out still in stored JSON form (its async one does not).
            values = self._recursive_deserialize(dict(item.checkpoint["channel_values"]))
            for channel, blob in zip(missing, next(replies) if fields else []):
                type_, _, data = (blob or b"empty\0").partition(b"\0")
                if type_ != b"empty":
                    values[channel] = BLOB_SERDE.loads_typed((type_.decode(), data))
            filled.append(item._replace(checkpoint={**item.checkpoint, "channel_values": values}))
        return filled

    def _get_tuple(self, config: RunnableConfig) -> Operation:
        found = yield Call("upstream", "get_tuple", (config,))
        yield from self._refresh_thread(config["configurable"]["thread_id"])
        if found is not None:
            yield Emit((yield from self._with_values([found]))[0])

    def _list(self, config, filter, before, limit) -> Operation:
        plan = self._plan_list(config, filter, before, limit)
        found = yield Call("upstream", "list", (plan.config,), {"filter": plan.filter, "limit": plan.limit})
        admitted = [item for item in found if not plan.full and plan.admit(item)]
        for item in (yield from self._with_values(admitted)):
            yield Emit(item)

    def _delete_thread(self, thread_id: str) -> Operation:
        yield Call("upstream", "delete_thread", (thread_id,))
        yield Call("self", "_pipeline", ([("DEL", self._blob_key(thread_id))],))

    # -- maintenance operations --------------------------------------------

    def _prune(self, thread_ids: Sequence[str], strategy: str) -> Operation:
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"unknown prune strategy {strategy!r}: use 'keep_latest' or 'delete'")
        for thread_id in thread_ids:
            if strategy == "delete":
                yield Call("saver", "delete_thread", (thread_id,))
                continue
            tuples = yield Call("saver", "list", (_thread_config(thread_id),))
            newest: dict[str, str] = {}
            for item in tuples:
                conf = item.config["configurable"]
                newest[conf["checkpoint_ns"]] = max(newest.get(conf["checkpoint_ns"], ""), conf["checkpoint_id"])
            doomed = [t for t in tuples if t.checkpoint["id"] != newest[t.config["configurable"]["checkpoint_ns"]]]
            yield from self._delete_checkpoints(thread_id, doomed, tuples)

    def _delete_for_runs(self, run_ids: Sequence[str]) -> Operation:
        doomed_by_thread: dict[str, list[CheckpointTuple]] = defaultdict(list)
        for run_id in run_ids:
            query = FilterQuery(
                filter_expression=Tag("run_id") == to_storage_safe_id(run_id),
                return_fields=["thread_id"], num_results=SEARCH_LIMIT,
            )
            found = yield Call("checkpoints_index", "search", (query,))
            for thread_id in {doc.thread_id for doc in found.docs}:
                tuples = yield Call("saver", "list", (_thread_config(thread_id),))
                doomed_by_thread[thread_id] += [t for t in tuples if t.metadata.get("run_id") == run_id]
        for thread_id, doomed in doomed_by_thread.items():
            tuples = yield Call("saver", "list", (_thread_config(thread_id),))
            yield from self._delete_checkpoints(thread_id, doomed, tuples)

    def _delete_checkpoints(
        self, thread_id: str, doomed: list[CheckpointTuple], tuples: list[CheckpointTuple]
    ) -> Operation:
        """Delete checkpoints with their writes and registry entries, and point
        each namespace's latest pointer at what survives."""
        doomed_ids = {t.checkpoint["id"] for t in doomed}
        if not doomed_ids:
            return
        keys = []
        for item in doomed:
            ns = item.config["configurable"]["checkpoint_ns"]
            keys.append(self._make_redis_checkpoint_key(thread_id, ns, item.checkpoint["id"]))
            if self._key_registry:
                keys.append(self._key_registry.make_write_keys_zset_key(thread_id, ns, item.checkpoint["id"]))
            found = yield Call("checkpoint_writes_index", "search", (FilterQuery(
                filter_expression=(Tag("thread_id") == to_storage_safe_id(thread_id))
                & (Tag("checkpoint_id") == to_storage_safe_id(item.checkpoint["id"])),
                return_fields=["checkpoint_id"], num_results=SEARCH_LIMIT),))
            keys += [doc.id for doc in found.docs]
        live = {_blob_field(t.config["configurable"]["checkpoint_ns"], ch, v)
                for t in tuples if t.checkpoint["id"] not in doomed_ids
                for ch, v in t.checkpoint["channel_versions"].items()}
        blob_key = self._blob_key(thread_id)
        (fields,) = yield Call("self", "_pipeline", ([("HKEYS", blob_key)],))
        dead = [f for f in fields if f not in live]
        # One DEL per key: on a cluster the keys live in different slots.
        deletes = [("DEL", key) for key in keys] + ([("HDEL", blob_key, *dead)] if dead else [])
        yield Call("self", "_pipeline", (deletes,))
        survivors: dict[str, str] = {}
        for item in tuples:
            if item.checkpoint["id"] not in doomed_ids:
                ns = item.config["configurable"]["checkpoint_ns"]
                survivors[ns] = max(survivors.get(ns, ""), item.checkpoint["id"])
        for ns in {t.config["configurable"]["checkpoint_ns"] for t in doomed}:
            pointer = self._make_redis_checkpoint_latest_key(thread_id, ns)
            if ns in survivors:
                latest = self._make_redis_checkpoint_key(thread_id, ns, survivors[ns])
                yield Call("_redis", "set", (pointer, latest))
            else:
                yield Call("self", "_pipeline", ([("DEL", pointer)],))

    def _copy_thread(self, source_thread_id: str, target_thread_id: str) -> Operation:
        tuples = yield Call("saver", "list", (_thread_config(source_thread_id),))
        for item in sorted(tuples, key=lambda t: t.checkpoint["id"]):
            ns = item.config["configurable"]["checkpoint_ns"]
            parent = get_checkpoint_id(item.parent_config) if item.parent_config else None
            stored = yield Call("saver", "put", (
                _thread_config(target_thread_id, ns, parent), item.checkpoint,
                item.metadata, dict(item.checkpoint["channel_versions"])))
            by_task: dict[str, list[tuple[str, Any]]] = defaultdict(list)
            for task_id, channel, value in item.pending_writes or []:
                by_task[task_id].append((channel, value))
            for task_id, writes in by_task.items():
                yield Call("saver", "put_writes", (stored, writes, task_id))

    def _refresh_thread(self, thread_id: str) -> Operation:
        """Re-arm the TTL of every key of the thread (throttled, see module doc)."""
        minutes = (self.ttl_config or {}).get("default_ttl")
        now = time.monotonic()
        if not minutes or now - self._refreshed.get(thread_id, -1e9) < minutes * 6:
            return
        self._refreshed[thread_id] = now
        keys: list[str] = []
        for index in ("checkpoints_index", "checkpoint_writes_index"):
            found = yield Call(index, "search", (FilterQuery(
                filter_expression=Tag("thread_id") == to_storage_safe_id(thread_id),
                return_fields=["checkpoint_ns", "checkpoint_id"], num_results=SEARCH_LIMIT),))
            keys += [doc.id for doc in found.docs]
            if index == "checkpoints_index":
                for doc in found.docs:
                    ns, cid = from_storage_safe_str(doc.checkpoint_ns), doc.checkpoint_id
                    keys.append(self._make_redis_checkpoint_latest_key(thread_id, ns))
                    if self._key_registry:
                        keys.append(self._key_registry.make_write_keys_zset_key(thread_id, ns, cid))
        keys.append(self._blob_key(thread_id))
        yield Call("self", "_pipeline", ([("PEXPIRE", key, self._ttl_ms()) for key in sorted(set(keys))],))

    def _target(self, call: Call, prefix: str) -> Any:
        if call.target == "saver":
            return getattr(self, prefix + call.method)
        if call.target == "upstream":  # the upstream class's own method
            return getattr(self.upstream, prefix + call.method).__get__(self)
        owner = self if call.target == "self" else getattr(self, call.target)
        return getattr(owner, call.method)


def _blob_field(ns: str, channel: str, version: Any) -> bytes:
    return f"{ns}\x00{channel}\x00{version}".encode()


class ModulesRedisSaver(SyncDriver, ModulesFixes, RedisSaver):
    """``langgraph-checkpoint-redis``'s ``RedisSaver`` with its gaps fixed."""

    upstream = RedisSaver

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refreshed = {}

    def _execute(self, call: Call) -> Any:
        result = self._target(call, "")(*call.args, **call.kwargs)
        return list(result) if isinstance(result, Iterator) else result

    def _pipeline(self, commands: list[tuple]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return pipe.execute()

    def list(self, config, *, filter=None, before=None, limit=None) -> Iterator[CheckpointTuple]:
        return self._stream(self._list(config, filter, before, limit))

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._run(self._get_tuple(config))

    def put(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
            new_versions: ChannelVersions) -> RunnableConfig:
        return self._run(self._put(config, checkpoint, metadata, new_versions))

    def delete_thread(self, thread_id: str) -> None:
        self._run(self._delete_thread(thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._run(self._prune(thread_ids, strategy))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._run(self._delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._run(self._copy_thread(source_thread_id, target_thread_id))


class AsyncModulesRedisSaver(AsyncDriver, ModulesFixes, AsyncRedisSaver):
    """``langgraph-checkpoint-redis``'s ``AsyncRedisSaver`` with its gaps fixed."""

    upstream = AsyncRedisSaver

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refreshed = {}

    async def _execute(self, call: Call) -> Any:
        result = self._target(call, "a")(*call.args, **call.kwargs)
        if inspect.isasyncgen(result):
            return [item async for item in result]
        return await result if inspect.isawaitable(result) else result

    async def _pipeline(self, commands: list[tuple]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return await pipe.execute()

    async def alist(self, config, *, filter=None, before=None, limit=None) -> AsyncIterator[CheckpointTuple]:
        async for item in self._stream(self._list(config, filter, before, limit)):
            yield item

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._run(self._get_tuple(config))

    async def aput(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
                   new_versions: ChannelVersions) -> RunnableConfig:
        return await self._run(self._put(config, checkpoint, metadata, new_versions))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._run(self._delete_thread(thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self._run(self._prune(thread_ids, strategy))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._run(self._delete_for_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._run(self._copy_thread(source_thread_id, target_thread_id))
