"""``sqlite:///path``: the stores of ``langgraph-checkpoint-sqlite`` on a local file."""

from contextlib import asynccontextmanager, contextmanager
from typing import Any, AsyncIterator, Iterator

from langgraph.store.sqlite import SqliteStore
from langgraph.store.sqlite.aio import AsyncSqliteStore

from backends.registry import sqlite_path


@contextmanager
def connect(url: str, *, index: Any = None, ttl: Any = None) -> Iterator[SqliteStore]:
    with SqliteStore.from_conn_string(sqlite_path(url), index=index, ttl=ttl) as store:
        store.setup()
        yield store

@asynccontextmanager
async def aconnect(url: str, *, index: Any = None, ttl: Any = None) -> AsyncIterator[AsyncSqliteStore]:
    async with AsyncSqliteStore.from_conn_string(
        sqlite_path(url), index=index, ttl=ttl
    ) as store:
        await store.setup()
        yield store
