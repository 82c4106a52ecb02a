"""Where memory lives, from the environment: the embedded default is SQLite
files under ``BANK_AGENT_DATA_DIR`` (default: the user's data directory); ``CHECKPOINTER_URL`` and ``STORE_URL``
choose Redis, Cosmos DB or any registered scheme instead.

``checkpointer()`` and ``store()`` are the factories ``langgraph.json`` points
``langgraph dev`` at, so Studio runs on the same persistence as production.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack, asynccontextmanager
from typing import AsyncIterator, Iterable

from langgraph.store.base import BaseStore, Op, Result

import checkpointers
import stores
from agent.models import default_embeddings
from agent.privacy import mask_persisted
from agent.settings import checkpointer_url, memory_timeout, model_settings, retention_minutes, store_url
from backends.registry import UnsupportedURL

log = logging.getLogger(__name__)


@asynccontextmanager
async def checkpointer() -> AsyncIterator:
    """The async checkpointer named by ``CHECKPOINTER_URL``."""
    async with checkpointers.aconnect(checkpointer_url()) as saver:
        yield mask_persisted(saver)


def store_index() -> dict | None:
    """LangGraph's ``IndexConfig`` for semantic search over facts and episodes
    when ``STORE_EMBEDDINGS`` names an embeddings model."""
    embeddings = default_embeddings()
    if embeddings is None:
        return None
    return {"embed": embeddings, "dims": model_settings().embedding_dims, "fields": ["fact", "summary"]}


@asynccontextmanager
async def store() -> AsyncIterator:
    """The async store named by ``STORE_URL``, indexed per ``STORE_EMBEDDINGS``,
    expiring facts and episodes per ``MEMORY_RETENTION_DAYS``."""
    retention = retention_minutes()
    ttl = {"default_ttl": None, "refresh_on_read": False} if retention else None
    async with stores.aconnect(store_url(), index=store_index(), ttl=ttl) as opened:
        if ttl and hasattr(opened, "sweep_ttl"):
            await opened.sweep_ttl()  # SQLite only deletes expired items when swept
        yield opened


class UnreachableStore(BaseStore):
    """Stands in for a store that could not be opened: every operation fails,
    so turns run degraded (memory unavailable, writes deferred in the session)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        raise ConnectionError(f"long-term memory is unreachable ({self.reason})")

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        self.batch(ops)


@asynccontextmanager
async def open_memory() -> AsyncIterator[tuple]:
    """Both, for apps and the CLI: ``async with open_memory() as (saver, store)``.
    A store that cannot be reached within ``MEMORY_TIMEOUT_SECONDS`` does not
    stop the agent: it answers without long-term memory (``UnreachableStore``)."""
    async with AsyncExitStack() as stack:
        saver = await stack.enter_async_context(checkpointer())
        timeout = memory_timeout()
        try:
            opened = await asyncio.wait_for(stack.enter_async_context(store()), timeout)
        except (UnsupportedURL, ValueError):
            raise
        except Exception as error:  # unreachable, refused or too slow: degrade, as during a turn
            log.warning("long-term memory unavailable at startup: %s", type(error).__name__)
            opened = UnreachableStore(type(error).__name__)
        yield saver, opened
