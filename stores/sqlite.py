"""``sqlite:///path``: the stores of ``langgraph-checkpoint-sqlite`` on a local file."""

import sqlite3
from contextlib import asynccontextmanager, contextmanager
from typing import Any, AsyncIterator, Iterator

from langgraph.store.sqlite import SqliteStore
from langgraph.store.sqlite.aio import AsyncSqliteStore

from backends.registry import sqlite_path


def _upstream_index(index: Any) -> Any:
    if index and not hasattr(sqlite3.Connection, "enable_load_extension"):
        # Upstream's setup would fail on an AttributeError (and the agent then
        # start with its long-term memory unreachable).
        raise ValueError(
            "sqlite:// cannot keep an embedding index (STORE_EMBEDDINGS) with this Python: its sqlite3 cannot "
            "load the sqlite-vec extension. Unset STORE_EMBEDDINGS (recall ranks in process with its own "
            "embeddings), or use a Python built with SQLite extension loading"
        )
    # LangGraph's IndexConfig names the embedded paths ``fields``; upstream
    # SqliteStore reads ``text_fields`` and would embed whole items otherwise.
    if index and "fields" in index and "text_fields" not in index:
        return {**index, "text_fields": index["fields"]}
    return index


@contextmanager
def connect(url: str, *, index: Any = None, ttl: Any = None) -> Iterator[SqliteStore]:
    with SqliteStore.from_conn_string(sqlite_path(url), index=_upstream_index(index), ttl=ttl) as store:
        store.setup()
        yield store

@asynccontextmanager
async def aconnect(url: str, *, index: Any = None, ttl: Any = None) -> AsyncIterator[AsyncSqliteStore]:
    async with AsyncSqliteStore.from_conn_string(
        sqlite_path(url), index=_upstream_index(index), ttl=ttl
    ) as store:
        await store.setup()
        yield store
