"""Facts that stay true over time: learning, superseding, correcting, forgetting.

A new fact supersedes the current facts it contradicts: those with the same
``memory.subject_key`` (category and ``subject``; ``risk_tolerance`` has one
subject, as a customer has one risk tolerance at a time), and the one the
model names in ``replaces``. The
old fact stays in the store as history, marked ``superseded_at`` (the time it
stopped being true) and ``superseded_by``; recall shows only current facts, so
contradicting facts never both show as current. Forgetting erases a fact's
text and keeps a ``forgotten_at`` tombstone, so every replica's recall index
drops it too. Facts are named by the short ids the prompt shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from langgraph.store.base import PutOp

from agent import memory
from agent.memory_prompt import short_id
from agent.recall import Memo, RecallIndex

class UnknownFact(LookupError):
    """The id names no current fact of this customer."""


def find(index: RecallIndex, fact_id: str) -> Memo:
    """The current fact shown with ``fact_id``."""
    wanted = fact_id.strip().lower().removeprefix("id ").strip()
    found = [m for m in index.current("fact") if short_id(m.key) == wanted]
    if len(found) != 1:
        raise UnknownFact(f"no current fact with id {wanted[:12]!r}")
    return found[0]


@dataclass
class Change:
    """The store writes of one learned, corrected or forgotten fact."""

    writes: list[PutOp]
    result: str


def learn(index: RecallIndex, customer_id: str, session_id: str, category: str, fact: str,
          *, replaces: str = "") -> Change:
    """Remember ``fact``; supersede what it contradicts."""
    new = memory.fact_put(customer_id, category, fact, session_id)
    key = memory.subject_key(new.value)
    old = [m for m in index.current("fact") if key and memory.subject_key(m.value) == key]
    if replaces:
        old.append(find(index, replaces))
    stamp = memory.now_iso()
    writes = [new] + [
        PutOp(new.namespace, m.key, {**m.value, "superseded_at": stamp, "superseded_by": new.key})
        for m in {m.key: m for m in old}.values() if m.key != new.key
    ]
    replaced = ", ".join(short_id(w.key) for w in writes[1:])
    return Change(writes, f"remembered as {short_id(new.key)}" + (f", replacing {replaced}" if replaced else ""))


def forget(index: RecallIndex, customer_id: str, session_id: str, fact_id: str) -> Change:
    """Erase the fact shown with ``fact_id``, leaving a tombstone."""
    old = find(index, fact_id)
    tombstone = {"category": old.value.get("category", "other"), "forgotten_at": memory.now_iso(), "forgotten_in": session_id}
    return Change([PutOp(memory.facts_namespace(customer_id), old.key, tombstone)], f"forgot {short_id(old.key)}")
