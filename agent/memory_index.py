"""Each customer's recall index, kept in process and brought up to date from
the store at every turn by reading only what changed.

Every store that cannot rank on its server (``agent.recall_server``) takes
the same path: the customer's facts and episodes (one partition) are read
through the ``BaseStore`` API and ranked in process by ``agent.recall``. Reads are paged newest-first by the store's ``updated_at``
(SQLite and Cosmos DB order a query-less search that way), stopping at the
first item older than what the index already holds; so a steady-state turn
costs one ``abatch`` of three operations: the profile, one page of facts, one
page of episodes (on Cosmos DB three requests in one partition). A store that
does not order by ``updated_at`` (``InMemoryStore``, in process anyway) is
listed whole and only changed items are re-indexed. A full re-read every
``FULL_REFRESH_SECONDS`` catches items deleted by other systems.

SQLite stamps ``updated_at`` to the second, so items written within the
newest second are read again until that second is safely past.
"""

from __future__ import annotations

import gc
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from langgraph.store.base import BaseStore, GetOp, Item, SearchOp
from langgraph.store.memory import InMemoryStore

from agent.calls import call
from agent.recall import Memo, RecallIndex

FIRST_PAGE = 32  # a steady-state turn finds its few changes in here
PAGE = 500
FULL_REFRESH_SECONDS = 600
CACHED_MEMOS = 100_000  # per store (about 100 MB with embeddings); least recently used customers go first
SETTLE = timedelta(seconds=2)
FREEZE_AFTER = 1000  # memos indexed in one refresh


def fact_memo(item: Item) -> Memo | None:
    """A fact item as a recallable memo; ``None`` when it is history
    (superseded) or forgotten."""
    value = item.value
    if value.get("superseded_at") or value.get("forgotten_at") or not value.get("fact"):
        return None
    when = str(value.get("learned_at") or item.updated_at.isoformat())
    category = str(value.get("category", "")).replace("_", " ")
    # "other" says nothing about the fact, and would match every "the other day".
    text = " ".join([category if category != "other" else "", str(value.get("subject", "")), str(value["fact"])])
    return Memo("fact", item.key, value, text, when, item.updated_at)


def episode_memo(item: Item) -> Memo | None:
    value = item.value
    if not value.get("summary"):
        return None
    when = str(value.get("started_at") or item.updated_at.isoformat())
    text = " ".join([str(value.get("summary", "")), str(value.get("outcome", "")), *map(str, value.get("topics") or [])])
    return Memo("episode", item.key, value, text, when, item.updated_at)


KINDS = {"facts": ("fact", fact_memo), "episodes": ("episode", episode_memo)}


@dataclass
class _Watermark:
    newest: datetime | None = None
    settled: bool = False

    def reached(self, item: Item) -> bool:
        if self.newest is None:
            return False
        return item.updated_at <= self.newest if self.settled else item.updated_at < self.newest


@dataclass
class _Cached:
    index: RecallIndex = field(default_factory=RecallIndex)
    marks: dict[str, _Watermark] = field(default_factory=lambda: {k: _Watermark() for k in KINDS})
    full_at: float = 0.0


_indexes: "weakref.WeakKeyDictionary[BaseStore, OrderedDict[str, _Cached]]" = weakref.WeakKeyDictionary()


def _cached(store: BaseStore, customer_id: str) -> _Cached:
    per_store = _indexes.setdefault(store, OrderedDict())
    cached = per_store.pop(customer_id, None) or _Cached()
    per_store[customer_id] = cached
    while len(per_store) > 1 and sum(len(c.index) for c in per_store.values()) > CACHED_MEMOS:
        per_store.popitem(last=False)
    return cached


def forget(store: BaseStore, customer_id: str) -> None:
    """Drop the customer's index in this process, after their items were
    deleted: a refresh reads what changed, and deletions do not show."""
    _indexes.get(store, {}).pop(customer_id, None)


def _namespace(customer_id: str, part: str) -> tuple[str, ...]:
    return ("customers", customer_id, part)


async def aindex(store: BaseStore, customer_id: str) -> tuple[dict[str, Any] | None, RecallIndex]:
    """The customer's profile and up-to-date recall index, in one store batch
    in the steady state."""
    cached = _cached(store, customer_id)
    full = isinstance(store, InMemoryStore) or time.monotonic() - cached.full_at > FULL_REFRESH_SECONDS
    first = 1_000_000 if isinstance(store, InMemoryStore) else PAGE if full else FIRST_PAGE
    ops = [GetOp(_namespace(customer_id, "profile"), "profile")]
    ops += [SearchOp(_namespace(customer_id, part), limit=first) for part in KINDS]
    profile, *pages = await call(store.batch, store.abatch, ops)
    for part, page in zip(KINDS, pages):
        items, limit = list(page), first
        mark = None if full else cached.marks[part]
        while len(page) == limit and not (mark and any(mark.reached(i) for i in page)):
            limit = PAGE
            page = await call(store.search, store.asearch, _namespace(customer_id, part), limit=limit, offset=len(items))
            items += page
        _apply(cached, part, items, whole=full)
    if full:
        cached.full_at = time.monotonic()
    return (profile.value if profile else None), cached.index


def _apply(cached: _Cached, part: str, items: list[Item], *, whole: bool) -> None:
    kind, to_memo = KINDS[part]
    index, mark = cached.index, cached.marks[part]
    if whole:
        seen = {item.key for item in items}
        for memo in [m for m in index.memos if m is not None and m.kind == kind and m.key not in seen]:
            index.remove(kind, memo.key)
    changed = []
    for item in items:
        known = index.get(kind, item.key)
        # A version alone is not enough: SQLite's updated_at has one-second resolution.
        if known is not None and known.version == item.updated_at and known.value == item.value:
            continue
        memo = to_memo(item)
        if memo is None:
            index.remove(kind, item.key)
        else:
            changed.append(memo)
    index.upsert(changed)
    if len(changed) >= FREEZE_AFTER:
        # A big index is long-lived: moving it out of the collector's sight
        # keeps full garbage collections (tens of ms at 10,000 items) out of turns.
        gc.collect()
        gc.freeze()
    if items:
        newest = max(item.updated_at for item in items)
        if mark.newest is None or newest >= mark.newest:
            mark.newest = newest
    mark.settled = mark.newest is not None and datetime.now(timezone.utc) - _aware(mark.newest) > SETTLE


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def peek(store: BaseStore, customer_id: str) -> RecallIndex:
    """The customer's index as last read, without asking the store (for when it is down)."""
    cached = _indexes.get(store, {}).get(customer_id)
    return cached.index if cached else RecallIndex()
