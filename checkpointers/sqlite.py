"""``sqlite:///path``: the savers of ``langgraph-checkpoint-sqlite`` on a local file."""

import sqlite3
from contextlib import asynccontextmanager, closing, contextmanager
from typing import AsyncIterator, Iterator

import aiosqlite
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from backends.registry import sqlite_path


@contextmanager
def connect(url: str, serde: SerializerProtocol | None = None) -> Iterator[SqliteSaver]:
    # As SqliteSaver.from_conn_string, which takes no serde.
    with closing(sqlite3.connect(sqlite_path(url), check_same_thread=False)) as conn:
        saver = SqliteSaver(conn, serde=serde)
        saver.setup()
        yield saver

@asynccontextmanager
async def aconnect(url: str, serde: SerializerProtocol | None = None) -> AsyncIterator[AsyncSqliteSaver]:
    async with aiosqlite.connect(sqlite_path(url)) as conn:
        saver = AsyncSqliteSaver(conn, serde=serde)
        await saver.setup()
        yield saver
