"""Recall ranked by the store's server, where it can rank (Cosmos DB on Azure
with ``?search=hybrid`` and an embedding index: ``VectorDistance`` and
``FullTextScore`` fused by ``RRF`` in one query), instead of the in-process
index of ``agent.memory_index``.

One store batch of three reads, all in the customer's partition, none
depending on another (the store sends them concurrently): the profile, the
customer's current items ranked for the query by the server, and their
newest current items. The two lists are fused here as ``agent.recall`` fuses
its own rankings: the server's ranking (itself a fusion of the lexical and
the semantic ranking) weighs what those two weigh in process, recency less.
History is left out by the query's filter (a superseded or forgotten fact),
and checked again here as the in-process index does (``fact_memo``,
``episode_memo``).
"""

from __future__ import annotations

from typing import Any

from langgraph.store.base import BaseStore, GetOp, Item, SearchOp

from agent.calls import call
from agent.memory_index import KINDS
from agent.recall import WEIGHTS, Memo, fuse

CANDIDATES = 100  # per query; the newest then come in one response (Cosmos DB pages 100 items by default)
CURRENT = {"superseded_at": None, "forgotten_at": None}  # a fact that is history is not recalled
FUSED_WEIGHTS = {"relevance": WEIGHTS["lexical"] + WEIGHTS["semantic"], "recency": WEIGHTS["recency"]}


def ranks_on_server(store: BaseStore) -> bool:
    """Whether ``store`` ranks a search with a query by relevance on its
    server, so recall asks it rather than indexing the customer in process."""
    return bool(getattr(store, "ranks_on_server", False))


def memos_of(items: list[Item]) -> list[Memo]:
    """The current facts and episodes among ``items``, in their order."""
    to_memo = {part: convert for part, (_, convert) in KINDS.items()}
    found = (to_memo[i.namespace[2]](i) for i in items if len(i.namespace) == 3 and i.namespace[2] in to_memo)
    return [memo for memo in found if memo is not None]


def fused(relevant: list[Memo], newest: list[Memo]) -> list[Memo]:
    """The server's ranking fused with recency (by the memos' own time, since
    the store orders by its write time): best first, each memo once."""
    by_key = {(m.kind, m.key): m for m in newest + relevant}
    recent = sorted(newest, key=lambda m: m.when, reverse=True)
    order = fuse({"relevance": [(m.kind, m.key) for m in relevant],
                  "recency": [(m.kind, m.key) for m in recent]}, FUSED_WEIGHTS)
    return [by_key[key] for key in order]


async def arecall(store: BaseStore, customer_id: str, query: str) -> tuple[dict[str, Any] | None, list[Memo]]:
    """The customer's profile and current facts and episodes, the most
    relevant to ``query`` first, ranked by the store's server."""
    partition = ("customers", customer_id)
    profile, relevant, newest = await call(store.batch, store.abatch, [
        GetOp(partition + ("profile",), "profile"),
        SearchOp(partition, filter=CURRENT, limit=CANDIDATES, query=query),
        SearchOp(partition, filter=CURRENT, limit=CANDIDATES),
    ])
    return (profile.value if profile else None), fused(memos_of(relevant), memos_of(newest))
