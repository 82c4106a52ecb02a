"""Storage layout, Lua scripts and (de)serialisation of the plain-Redis savers.

Only core commands are used (strings, hashes, sorted sets, Lua), so this runs
on any Redis >= 6, Valkey, ElastiCache and Azure Cache for Redis. Every key of
a thread carries the ``{thread_id}`` hash tag, so one thread lives in one
cluster slot and every script touches a single slot. A thread is five keys:

``<prefix>:{<thread>}:index``        sorted set (all scores 0, ordered by
                                     member): ``ns\\0checkpoint_id``
``<prefix>:{<thread>}:checkpoints``  hash ``ns\\0checkpoint_id`` -> record
``<prefix>:{<thread>}:blobs``        hash ``ns\\0channel\\0version`` -> value;
                                     a channel value is stored once per version,
                                     like langgraph's Postgres saver
``<prefix>:{<thread>}:writes``       sorted set of pending writes, ordered by
                                     ``ns\\0checkpoint\\0task_path\\0task_id\\0idx``
                                     with the value after it
``<prefix>:{<thread>}:runs``         sorted set ``run_id\\0ns\\0checkpoint_id``,
                                     for ``delete_for_runs``

A record is ``blob-field\\x1eblob-field...\\x1d<serde type>\\x1d<serde bytes>``:
the blob fields up front let a script load a checkpoint with its channel values
and pending writes in one round trip. Every script that writes or reads a
thread sets the same expiry on all five keys (refresh on read), so a thread
expires as a whole and leaves no orphaned keys.

The operations are generators that yield ``Script``, ``Command`` and ``Scan``
calls and receive their replies (``backends.sansio``), so the sync and async
savers in ``plain.py`` only execute calls.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from backends.sansio import Emit, Operation
from checkpointers.redis.calls import Command, Scan, Script
from checkpointers.redis.layout import EMPTY_BLOB, blob_field

KEY_SUFFIXES = ("index", "checkpoints", "blobs", "writes", "runs")
LIST_PAGE = 100
NUL, FIELD_SEP, HEADER_END = b"\x00", b"\x1e", b"\x1d"

_LUA_PRELUDE = """
local function touch(ttl)
  if tonumber(ttl) > 0 then
    for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
local function split(s, sep)
  local parts, start = {}, 1
  if s == '' then return parts end
  while true do
    local i = string.find(s, sep, start, true)
    if not i then parts[#parts + 1] = string.sub(s, start) return parts end
    parts[#parts + 1] = string.sub(s, start, i - 1)
    start = i + 1
  end
end
local function blob_fields(record)
  return split(string.sub(record, 1, string.find(record, '\\29', 1, true) - 1), '\\30')
end
local function prefixed(key, prefix)
  return redis.call('ZRANGEBYLEX', key, '[' .. prefix, '(' .. string.sub(prefix, 1, -2) .. '\\1')
end
"""

# KEYS: the five thread keys. ARGV: ttl_ms, member, record, run member or '',
# then blob field/value pairs.
PUT = _LUA_PRELUDE + """
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[1], 0, ARGV[2])
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[5], 0, ARGV[4]) end
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
touch(ARGV[1])
return 1
"""

# ARGV: ttl_ms, '1' to overwrite existing writes (special channels), then
# (prefix, member) pairs; a prefix names one (checkpoint, task, idx).
PUT_WRITES = _LUA_PRELUDE + """
for i = 3, #ARGV, 2 do
  local lo, hi = '[' .. ARGV[i], '(' .. string.sub(ARGV[i], 1, -2) .. '\\1'
  if ARGV[2] == '1' then
    redis.call('ZREMRANGEBYLEX', KEYS[4], lo, hi)
    redis.call('ZADD', KEYS[4], 0, ARGV[i + 1])
  elseif #redis.call('ZRANGEBYLEX', KEYS[4], lo, hi, 'LIMIT', 0, 1) == 0 then
    redis.call('ZADD', KEYS[4], 0, ARGV[i + 1])
  end
end
touch(ARGV[1])
return 1
"""

# ARGV: ttl_ms, max, min (ZREVRANGEBYLEX bounds), count (-1: all).
# Returns, newest first, {member, record, {blob values}, {write members}}.
LOAD = _LUA_PRELUDE + """
local members = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[2], ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
local found = {}
for _, member in ipairs(members) do
  local record = redis.call('HGET', KEYS[2], member)
  if record then
    local fields, blobs = blob_fields(record), {}
    if #fields > 0 then blobs = redis.call('HMGET', KEYS[3], unpack(fields)) end
    found[#found + 1] = {member, record, blobs, prefixed(KEYS[4], member .. '\\0')}
  end
end
if #found > 0 then touch(ARGV[1]) end
return found
"""

# ARGV: ttl_ms, 'latest' (keep the newest checkpoint of each namespace) or
# 'runs' followed by run ids. Deletes the chosen checkpoints, their writes and
# run entries, then the blobs no remaining checkpoint refers to.
DELETE = _LUA_PRELUDE + """
local doomed, gone = {}, {}
if ARGV[2] == 'latest' then
  local members = redis.call('ZRANGE', KEYS[1], 0, -1)
  for i = 1, #members - 1 do
    local ns = string.sub(members[i], 1, string.find(members[i], '\\0', 1, true))
    if string.sub(members[i + 1], 1, #ns) == ns then doomed[#doomed + 1] = members[i] end
  end
else
  for i = 3, #ARGV do
    for _, entry in ipairs(prefixed(KEYS[5], ARGV[i] .. '\\0')) do
      doomed[#doomed + 1] = string.sub(entry, #ARGV[i] + 2)
    end
  end
end
if #doomed == 0 then return 0 end
for _, member in ipairs(doomed) do
  gone[member] = true
  redis.call('HDEL', KEYS[2], member)
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZREMRANGEBYLEX', KEYS[4], '[' .. member .. '\\0', '(' .. member .. '\\1')
end
for _, entry in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
  if gone[string.sub(entry, string.find(entry, '\\0', 1, true) + 1)] then
    redis.call('ZREM', KEYS[5], entry)
  end
end
local live = {}
for _, record in ipairs(redis.call('HVALS', KEYS[2])) do
  for _, field in ipairs(blob_fields(record)) do live[field] = true end
end
for _, field in ipairs(redis.call('HKEYS', KEYS[3])) do
  if not live[field] then redis.call('HDEL', KEYS[3], field) end
end
touch(ARGV[1])
return #doomed
"""

# ARGV: ttl_ms. Returns a thread's whole content, for copy_thread.
DUMP = _LUA_PRELUDE + """
local dump = {
  redis.call('HGETALL', KEYS[2]), redis.call('ZRANGE', KEYS[1], 0, -1),
  redis.call('HGETALL', KEYS[3]), redis.call('ZRANGE', KEYS[4], 0, -1),
  redis.call('ZRANGE', KEYS[5], 0, -1)}
touch(ARGV[1])
return dump
"""

# ARGV: ttl_ms, then the lengths of DUMP's five sections, then their items.
RESTORE = _LUA_PRELUDE + """
local pos = 7
local function take(n)
  local items = {}
  for i = 1, n do items[i] = ARGV[pos] pos = pos + 1 end
  return items
end
local checkpoints, index = take(tonumber(ARGV[2])), take(tonumber(ARGV[3]))
local blobs, writes, runs = take(tonumber(ARGV[4])), take(tonumber(ARGV[5])), take(tonumber(ARGV[6]))
for i = 1, #checkpoints, 2 do redis.call('HSET', KEYS[2], checkpoints[i], checkpoints[i + 1]) end
for i = 1, #blobs, 2 do redis.call('HSET', KEYS[3], blobs[i], blobs[i + 1]) end
for _, member in ipairs(index) do redis.call('ZADD', KEYS[1], 0, member) end
for _, member in ipairs(writes) do redis.call('ZADD', KEYS[4], 0, member) end
for _, member in ipairs(runs) do redis.call('ZADD', KEYS[5], 0, member) end
touch(ARGV[1])
return 1
"""

SCRIPTS = {"put": PUT, "put_writes": PUT_WRITES, "load": LOAD, "delete": DELETE,
           "dump": DUMP, "restore": RESTORE}


def _text(value: bytes) -> str:
    return value.decode()


def _encode_idx(idx: int) -> bytes:
    # Fixed width and offset so negative (special) indexes sort first, as numbers.
    return b"%011d" % (idx + 2**31)


def _matches(metadata: CheckpointMetadata, filter: dict[str, Any] | None) -> bool:
    return not filter or all(metadata.get(k) == v for k, v in filter.items())


class PlainRedisBase(BaseCheckpointSaver[str]):
    """What the sync and async plain-Redis savers share: everything but I/O."""

    def __init__(
        self,
        client: Any,
        *,
        ttl_minutes: float | None = None,
        prefix: str = "lgcp",
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(serde=serde)
        self.client = client
        self.prefix = prefix
        self.ttl_ms = round(ttl_minutes * 60_000) if ttl_minutes else 0
        self._scripts = {name: client.register_script(text) for name, text in SCRIPTS.items()}

    # -- keys and encoding -------------------------------------------------

    def thread_keys(self, thread_id: str) -> list[str]:
        """The five keys holding ``thread_id`` (all in one cluster slot)."""
        return [f"{self.prefix}:{{{thread_id}}}:{suffix}" for suffix in KEY_SUFFIXES]

    def _thread_of(self, key: bytes | str, suffix: str) -> str:
        key = key.decode() if isinstance(key, bytes) else key
        return key[len(self.prefix) + 2 : -len(suffix) - 2]

    def _typed(self, value: Any) -> bytes:
        type_, data = self.serde.dumps_typed(value)
        return type_.encode() + NUL + data

    def _untyped(self, blob: bytes) -> Any:
        type_, data = blob.split(NUL, 1)
        return self.serde.loads_typed((type_.decode(), data))

    def get_next_version(self, current: str | None, channel: None) -> str:
        # Same scheme as InMemorySaver and the Postgres saver: sortable strings.
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"

    def _tuple(self, thread_id: str, found: list[Any]) -> CheckpointTuple:
        member, record, blobs, writes = found
        ns, checkpoint_id = map(_text, member.split(NUL, 1))
        header, type_, data = record.split(HEADER_END, 2)
        body = self.serde.loads_typed((type_.decode(), data))
        values = {}
        for field, blob in zip(header.split(FIELD_SEP) if header else [], blobs):
            if blob is not None and not blob.startswith(EMPTY_BLOB):
                values[_text(field.split(NUL)[1])] = self._untyped(blob)
        pending = []
        for write in writes:
            *_, task_id, _idx, channel, type_, data = write.split(NUL, 7)
            value = self.serde.loads_typed((type_.decode(), data))
            pending.append((_text(task_id), _text(channel), value))
        parent = body["parent"]
        return CheckpointTuple(
            config=_config(thread_id, ns, checkpoint_id),
            checkpoint={**body["checkpoint"], "channel_values": values},
            metadata=body["metadata"],
            parent_config=_config(thread_id, ns, parent) if parent else None,
            pending_writes=pending,
        )

    # -- operations (generators of calls) ----------------------------------

    def _load_scripts(self) -> Operation:
        """Load the scripts on the server (every primary of a cluster) at
        connect, which also has a cluster client map the cluster. A first burst
        on a fresh async cluster client otherwise failed here (every
        ``EVALSHA`` falling back to ``SCRIPT LOAD`` at once, then a connection
        used after it was closed, in redis-py 8.1)."""
        for text in SCRIPTS.values():
            yield Command(("SCRIPT LOAD", text))  # one name: the cluster client sends it to every primary

    def _get_tuple(self, config: RunnableConfig) -> Operation:
        thread_id = config["configurable"]["thread_id"]
        ns = config["configurable"].get("checkpoint_ns", "").encode()
        if checkpoint_id := get_checkpoint_id(config):
            high = low = b"[" + ns + NUL + checkpoint_id.encode()
        else:
            high, low = b"(" + ns + b"\x01", b"[" + ns + NUL
        found = yield self._load(thread_id, high, low, 1)
        return self._tuple(thread_id, found[0]) if found else None

    def _invocation(self, call: Script | Scan | Command) -> tuple[Any, tuple, dict]:
        """The client callable, positional and keyword arguments for ``call``."""
        if isinstance(call, Script):
            return self._scripts[call.name], (), {"keys": call.keys, "args": call.args}
        if isinstance(call, Scan):
            return self.client.scan_iter, (), {"match": call.pattern, "count": 1000}
        return self.client.execute_command, call.args, {}

    def _load(self, thread_id: str, high: bytes, low: bytes, count: int) -> Script:
        return Script("load", self.thread_keys(thread_id), [self.ttl_ms, high, low, count])

    def _list(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Operation:
        if config is None:
            keys = yield Scan(f"{self.prefix}:{{*}}:index")
            threads = sorted({self._thread_of(key, "index") for key in keys})
        else:
            threads = [config["configurable"]["thread_id"]]
        ns = config["configurable"].get("checkpoint_ns") if config else None
        wanted_id = get_checkpoint_id(config) if config else None
        before_id = get_checkpoint_id(before) if before else None
        remaining = limit if limit is not None else -1
        for thread_id in threads:
            high, low, count = _list_range(ns, wanted_id, before_id)
            while True:
                if count > 0 and not filter and remaining > 0:
                    count = min(count, remaining)
                found = yield self._load(thread_id, high, low, count)
                page = [self._tuple(thread_id, f) for f in found]
                # Across namespaces the index is ordered by namespace first.
                page.sort(key=lambda t: t.checkpoint["id"], reverse=True)
                for item in page:
                    if remaining == 0:
                        return
                    cid = item.checkpoint["id"]
                    if (before_id and cid >= before_id) or (wanted_id and cid != wanted_id):
                        continue
                    if _matches(item.metadata, filter):
                        remaining -= 1
                        yield Emit(item)
                if count < 0 or len(found) < count:
                    break
                high = b"(" + found[-1][0]

    def _put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Operation:
        thread_id = config["configurable"]["thread_id"]
        ns = config["configurable"].get("checkpoint_ns", "")
        body = checkpoint.copy()
        values = body.pop("channel_values")  # type: ignore[misc]
        metadata = get_checkpoint_metadata(config, metadata)
        blob_args: list[bytes] = []
        for channel, version in new_versions.items():
            blob_args.append(blob_field(ns, channel, version))
            blob_args.append(self._typed(values[channel]) if channel in values else EMPTY_BLOB)
        header = FIELD_SEP.join(
            blob_field(ns, ch, v) for ch, v in checkpoint["channel_versions"].items()
        )
        type_, data = self.serde.dumps_typed(
            {"checkpoint": body, "metadata": metadata,
             "parent": config["configurable"].get("checkpoint_id")}
        )
        record = header + HEADER_END + type_.encode() + HEADER_END + data
        member = ns.encode() + NUL + checkpoint["id"].encode()
        run_id = metadata.get("run_id")
        run_member = str(run_id).encode() + NUL + member if run_id else b""
        yield Script("put", self.thread_keys(thread_id),
                     [self.ttl_ms, member, record, run_member, *blob_args])
        return _config(thread_id, ns, checkpoint["id"])

    def _put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> Operation:
        conf = config["configurable"]
        head = NUL.join(
            s.encode() for s in (conf.get("checkpoint_ns", ""), conf["checkpoint_id"], task_path, task_id)
        )
        args: list[Any] = [self.ttl_ms, b"1" if all(c in WRITES_IDX_MAP for c, _ in writes) else b"0"]
        for idx, (channel, value) in enumerate(writes):
            prefix = head + NUL + _encode_idx(WRITES_IDX_MAP.get(channel, idx)) + NUL
            args += [prefix, prefix + channel.encode() + NUL + self._typed(value)]
        yield Script("put_writes", self.thread_keys(conf["thread_id"]), args)

    def _delete_thread(self, thread_id: str) -> Operation:
        yield Command(("DEL", *self.thread_keys(thread_id)))

    def _prune(self, thread_ids: Sequence[str], strategy: str) -> Operation:
        for thread_id in thread_ids:
            if strategy == "delete":
                yield from self._delete_thread(thread_id)
            else:
                yield Script("delete", self.thread_keys(thread_id), [self.ttl_ms, "latest"])

    def _delete_for_runs(self, run_ids: Sequence[str]) -> Operation:
        # Runs carry no thread id: find the threads that have run entries. A
        # SCAN over the keyspace, acceptable for a rare rollback.
        if not run_ids:
            return
        keys = yield Scan(f"{self.prefix}:{{*}}:runs")
        for thread_id in {self._thread_of(key, "runs") for key in keys}:
            yield Script("delete", self.thread_keys(thread_id), [self.ttl_ms, "runs", *run_ids])

    def _copy_thread(self, source_thread_id: str, target_thread_id: str) -> Operation:
        # Two scripts, not one: on a cluster the two threads live in different slots.
        sections = yield Script("dump", self.thread_keys(source_thread_id), [self.ttl_ms])
        if any(sections):
            items = [item for section in sections for item in section]
            yield Script("restore", self.thread_keys(target_thread_id),
                         [self.ttl_ms, *map(len, sections), *items])


def _list_range(ns: str | None, wanted_id: str | None, before_id: str | None):
    """ZREVRANGEBYLEX bounds and page size for listing one thread."""
    if ns is None:  # every namespace: one load, filtered and sorted client-side
        return b"+", b"-", -1
    prefix = ns.encode() + NUL
    if wanted_id:
        return b"[" + prefix + wanted_id.encode(), b"[" + prefix + wanted_id.encode(), 1
    high = b"(" + prefix + before_id.encode() if before_id else b"(" + ns.encode() + b"\x01"
    return high, b"[" + prefix, LIST_PAGE


def _config(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns,
                             "checkpoint_id": checkpoint_id}}
