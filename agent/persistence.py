"""Where memory lives, from the environment: the embedded default is SQLite
files under ``BANK_AGENT_DATA_DIR``; ``CHECKPOINTER_URL`` and ``STORE_URL``
choose Redis, Cosmos DB or any registered scheme instead.

``checkpointer()`` and ``store()`` are the factories ``langgraph.json`` points
``langgraph dev`` at, so Studio runs on the same persistence as production.
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Iterable

from langgraph.store.base import BaseStore, Op, Result

import checkpointers
import stores
from agent.models import default_embeddings
from plugin_registry import UnsupportedURL

log = logging.getLogger(__name__)


def data_dir() -> Path:
    return Path(os.environ.get("BANK_AGENT_DATA_DIR", ".data"))


def checkpointer_url() -> str:
    return os.environ.get("CHECKPOINTER_URL") or f"sqlite:///{data_dir() / 'checkpoints.db'}"


def store_url() -> str:
    return os.environ.get("STORE_URL") or f"sqlite:///{data_dir() / 'store.db'}"


@asynccontextmanager
async def checkpointer() -> AsyncIterator:
    """The async checkpointer named by ``CHECKPOINTER_URL``."""
    async with checkpointers.aconnect(checkpointer_url()) as saver:
        yield saver


def store_index() -> dict | None:
    """LangGraph's ``IndexConfig`` for semantic search over facts and episodes
    when ``STORE_EMBEDDINGS`` names an embeddings model."""
    embeddings = default_embeddings()
    if embeddings is None:
        return None
    dims = int(os.environ.get("STORE_EMBEDDING_DIMS", "1536"))
    return {"embed": embeddings, "dims": dims, "fields": ["fact", "summary"]}


@asynccontextmanager
async def store() -> AsyncIterator:
    """The async store named by ``STORE_URL``, indexed per ``STORE_EMBEDDINGS``."""
    async with stores.aconnect(store_url(), index=store_index()) as opened:
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
        timeout = float(os.environ.get("MEMORY_TIMEOUT_SECONDS", "10"))
        try:
            opened = await asyncio.wait_for(stack.enter_async_context(store()), timeout)
        except (UnsupportedURL, ValueError):
            raise
        except Exception as error:  # unreachable, refused or too slow: degrade, as during a turn
            log.warning("long-term memory unavailable at startup: %s", type(error).__name__)
            opened = UnreachableStore(type(error).__name__)
        yield saver, opened
