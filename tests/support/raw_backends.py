"""What the back ends hold, read raw (not through the project's savers and
stores), for tests that must prove something is or is not stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import redis


def redis_contents(ports: list[int]) -> str:
    """Every key and value on the servers (each node of a cluster), as text."""
    readers = {
        b"string": lambda c, k: [c.get(k)],
        b"hash": lambda c, k: [x for pair in c.hgetall(k).items() for x in pair],
        b"list": lambda c, k: c.lrange(k, 0, -1),
        b"set": lambda c, k: list(c.smembers(k)),
        b"zset": lambda c, k: c.zrange(k, 0, -1),
        b"ReJSON-RL": lambda c, k: [c.execute_command("JSON.GET", k)],
    }
    parts: list[bytes] = []
    for port in ports:
        client = redis.Redis(port=port)
        try:
            for key in client.scan_iter(count=1000):
                kind = client.type(key)
                assert kind in readers, f"no reader for Redis type {kind!r} (key {key!r})"
                parts += [key, *(v if isinstance(v, bytes) else str(v).encode() for v in readers[kind](client, key))]
        finally:
            client.close()
    return b"\n".join(parts).decode("utf-8", "replace")


def sqlite_contents(path: Path) -> str:
    """Every row of every table in the file, as text (bytes decoded leniently)."""
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = [row for table in tables for row in db.execute(f'SELECT * FROM "{table}"')]
    return "\n".join(
        " ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row) for row in rows
    )
