"""Where memory lives, from the environment: the embedded default is SQLite
files under ``BANK_AGENT_DATA_DIR`` (default: the user's data directory); ``CHECKPOINTER_URL`` and ``STORE_URL``
choose Redis, Cosmos DB or any registered scheme instead.

``checkpointer()`` and ``store()`` are the factories ``langgraph.json`` points
``langgraph dev`` at, so Studio runs on the same persistence as production.
"""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from typing import AsyncIterator

import checkpointers
import stores
from agent.models import default_embeddings
from agent.privacy import mask_persisted
from agent.settings import checkpointer_url, model_settings, retention_minutes, store_url


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


@asynccontextmanager
async def open_memory() -> AsyncIterator[tuple]:
    """Both, for apps and the CLI: ``async with open_memory() as (saver, store)``."""
    async with AsyncExitStack() as stack:
        saver = await stack.enter_async_context(checkpointer())
        opened = await stack.enter_async_context(store())
        yield saver, opened
