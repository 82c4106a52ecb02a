"""``sqlite:///path``: the savers of ``langgraph-checkpoint-sqlite`` on a local file."""

from contextlib import asynccontextmanager, contextmanager
from typing import AsyncIterator, Iterator

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from plugin_registry import sqlite_path


@contextmanager
def connect(url: str) -> Iterator[SqliteSaver]:
    with SqliteSaver.from_conn_string(sqlite_path(url)) as saver:
        saver.setup()
        yield saver

@asynccontextmanager
async def aconnect(url: str) -> AsyncIterator[AsyncSqliteSaver]:
    async with AsyncSqliteSaver.from_conn_string(sqlite_path(url)) as saver:
        await saver.setup()
        yield saver
