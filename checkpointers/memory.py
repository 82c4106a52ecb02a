"""``memory://``: LangGraph's in-process saver, for tests and one-off runs."""

from contextlib import asynccontextmanager, contextmanager
from typing import AsyncIterator, Iterator

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.base import SerializerProtocol


@contextmanager
def connect(url: str, serde: SerializerProtocol | None = None) -> Iterator[InMemorySaver]:
    yield InMemorySaver(serde=serde)


@asynccontextmanager
async def aconnect(url: str, serde: SerializerProtocol | None = None) -> AsyncIterator[InMemorySaver]:
    yield InMemorySaver(serde=serde)
