"""``memory://``: LangGraph's in-process saver, for tests and one-off runs."""

from contextlib import asynccontextmanager, contextmanager
from typing import AsyncIterator, Iterator

from langgraph.checkpoint.memory import InMemorySaver


@contextmanager
def connect(url: str) -> Iterator[InMemorySaver]:
    yield InMemorySaver()


@asynccontextmanager
async def aconnect(url: str) -> AsyncIterator[InMemorySaver]:
    yield InMemorySaver()
