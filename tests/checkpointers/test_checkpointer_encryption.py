"""Encryption at rest (issue 13): with ``BANK_AGENT_ENCRYPTION_KEY`` set, a
phrase sent through a graph is nowhere in clear in the raw back end (every
Redis key and value on every node, every SQLite row, the memory saver's
storage), the conversation still reads back, and with a rotated key list the
threads written under an old key stay readable."""

import base64
import os
import sqlite3
import uuid

import pytest
import redis

from checkpointers import aconnect, connect
from checkpointers.encryption import CheckpointDecryptionError, EncryptionKeyError
from tests.support.fixtures_redis import new_thread_id
from tests.support.redis_graph import contents, conversation_graph, turn


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _marker() -> str:
    return f"my card note {uuid.uuid4().hex} says hello"


def _config(thread_id: str) -> dict:
    return {"configurable": {"thread_id": thread_id}}


async def _converse(url: str, thread_id: str, text: str) -> None:
    async with aconnect(url) as saver:
        await conversation_graph().compile(checkpointer=saver).ainvoke(turn(text), _config(thread_id))


def _read_back(url: str, thread_id: str) -> list[str]:
    """The thread's messages as a sync saver on a fresh connection reads them."""
    with connect(url) as saver:
        return contents(conversation_graph().compile(checkpointer=saver).get_state(_config(thread_id)).values)


def _redis_contents(ports: list[int]) -> bytes:
    """Every key and value on every server, whatever its type."""
    readers = {b"string": lambda c, k: [c.get(k)], b"hash": lambda c, k: [x for kv in c.hgetall(k).items() for x in kv],
               b"zset": lambda c, k: c.zrange(k, 0, -1), b"list": lambda c, k: c.lrange(k, 0, -1),
               b"set": lambda c, k: list(c.smembers(k)),
               b"ReJSON-RL": lambda c, k: [c.execute_command("JSON.GET", k)]}
    found = []
    for port in ports:
        client = redis.Redis(port=port)
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            assert kind in readers, f"unscanned Redis type {kind!r} of {key!r}"
            found += [key, *[v if isinstance(v, bytes) else str(v).encode() for v in readers[kind](client, key) if v]]
        client.close()
    return b"\n".join(found)


def _sqlite_contents(path: str) -> bytes:
    """Every row of every table."""
    found = []
    with sqlite3.connect(path) as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in db.execute(f'SELECT * FROM "{table}"'):  # names from the schema itself
                found += [v if isinstance(v, bytes) else str(v).encode() for v in row]
    return b"\n".join(found)


async def _stores_nothing_in_clear(url: str, raw_contents, monkeypatch) -> None:
    monkeypatch.setenv("BANK_AGENT_ENCRYPTION_KEY", _key())
    thread_id, marker = new_thread_id(), _marker()
    await _converse(url, thread_id, marker)
    raw = raw_contents()
    assert thread_id.encode() in raw  # the scan does see this thread's keys / rows
    assert marker.encode() not in raw
    assert _read_back(url, thread_id)[0] == marker


async def _old_threads_stay_readable(url: str, monkeypatch) -> None:
    old_key, new_key = _key(), _key()
    old_thread, new_thread = new_thread_id(), new_thread_id()
    monkeypatch.setenv("BANK_AGENT_ENCRYPTION_KEY", old_key)
    await _converse(url, old_thread, "written under the old key")
    monkeypatch.setenv("BANK_AGENT_ENCRYPTION_KEY", new_key)
    monkeypatch.setenv("BANK_AGENT_ENCRYPTION_OLD_KEYS", old_key)
    assert _read_back(url, old_thread)[0] == "written under the old key"
    await _converse(url, new_thread, "written under the new key")
    monkeypatch.delenv("BANK_AGENT_ENCRYPTION_OLD_KEYS")
    assert _read_back(url, new_thread)[0] == "written under the new key"  # the new key wrote it
    with pytest.raises(CheckpointDecryptionError, match="BANK_AGENT_ENCRYPTION_OLD_KEYS"):
        _read_back(url, old_thread)


async def test_redis_stores_no_message_in_clear(clean_redis_target, monkeypatch):
    target = clean_redis_target
    await _stores_nothing_in_clear(target.url, lambda: _redis_contents(target.ports), monkeypatch)


async def test_sqlite_stores_no_message_in_clear(tmp_path, monkeypatch):
    path = str(tmp_path / "checkpoints.db")
    await _stores_nothing_in_clear(f"sqlite:///{path}", lambda: _sqlite_contents(path), monkeypatch)


async def test_redis_reads_threads_of_rotated_keys(clean_redis_target, monkeypatch):
    await _old_threads_stay_readable(clean_redis_target.url, monkeypatch)


async def test_sqlite_reads_threads_of_rotated_keys(tmp_path, monkeypatch):
    await _old_threads_stay_readable(f"sqlite:///{tmp_path / 'checkpoints.db'}", monkeypatch)


async def test_memory_saver_keeps_no_message_in_clear(monkeypatch):
    monkeypatch.setenv("BANK_AGENT_ENCRYPTION_KEY", _key())
    marker = _marker()
    async with aconnect("memory://") as saver:
        graph = conversation_graph().compile(checkpointer=saver)
        await graph.ainvoke(turn(marker), _config("t"))
        assert contents((await graph.aget_state(_config("t"))).values)[0] == marker
        assert marker not in repr((saver.storage, saver.writes, saver.blobs))


@pytest.mark.parametrize("value", ["not-base64!", base64.b64encode(b"fifteen bytes!!").decode()])
def test_a_bad_key_is_refused_without_showing_it(monkeypatch, value):
    monkeypatch.setenv("BANK_AGENT_ENCRYPTION_KEY", f"{_key()},{value}")
    with pytest.raises(EncryptionKeyError, match="BANK_AGENT_ENCRYPTION_KEY: key 2 ") as refused:
        connect("memory://")
    assert value not in str(refused.value)


def test_old_keys_without_a_current_key_are_refused(monkeypatch):
    monkeypatch.setenv("BANK_AGENT_ENCRYPTION_OLD_KEYS", _key())
    with pytest.raises(EncryptionKeyError, match="BANK_AGENT_ENCRYPTION_KEY is not"):
        connect("memory://")
