"""``sqlite://`` with an embedding index: upstream's SqliteStore needs the
sqlite-vec extension, which some Pythons' sqlite3 cannot load."""

from __future__ import annotations

import sqlite3

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

import stores

CAN_LOAD_EXTENSIONS = hasattr(sqlite3.Connection, "enable_load_extension")


async def test_an_embedding_index_works_or_is_refused_with_a_clear_error(tmp_path):
    index = {"embed": DeterministicFakeEmbedding(size=8), "dims": 8, "fields": ["fact"]}
    opening = stores.aconnect(f"sqlite:///{tmp_path / 'store.db'}", index=index)
    if CAN_LOAD_EXTENSIONS:
        async with opening as store:
            await store.aput(("customers", "C-1", "facts"), "k", {"fact": "Prefers email"})
            assert [item.key for item in await store.asearch(("customers", "C-1"), query="email")] == ["k"]
    else:
        with pytest.raises(ValueError, match="cannot load the sqlite-vec extension. Unset STORE_EMBEDDINGS"):
            async with opening:
                pass
