"""``memory://``: LangGraph's in-process store, for tests and one-off runs."""

from contextlib import asynccontextmanager, contextmanager
from typing import Any, AsyncIterator, Iterator

from langgraph.store.memory import InMemoryStore


@contextmanager
def connect(url: str, *, index: Any = None, ttl: Any = None) -> Iterator[InMemoryStore]:
    yield InMemoryStore(index=index)


@asynccontextmanager
async def aconnect(url: str, *, index: Any = None, ttl: Any = None) -> AsyncIterator[InMemoryStore]:
    yield InMemoryStore(index=index)
