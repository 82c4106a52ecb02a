"""Facts that stay true over time: learning, superseding, correcting, forgetting.

A new fact supersedes the current facts it contradicts: those with the same
``memory.subject_key`` (category and ``subject``; ``risk_tolerance`` has one
subject, as a customer has one risk tolerance at a time), and the one the
model names in ``replaces``. The
old fact stays in the store as history, marked ``superseded_at`` (the time it
stopped being true) and ``superseded_by``; recall shows only current facts, so
contradicting facts never both show as current. Forgetting erases a fact's
text and keeps a ``forgotten_at`` tombstone, so every replica's recall index
drops it too. The model names a fact by the id this turn's prompt shows for
it (``agent.memory_prompt``).
"""

from __future__ import annotations

from dataclasses import dataclass

from langgraph.store.base import PutOp

from agent import memory
from agent.memory_prompt import fact_id_of
from agent.recall import Memo, RecallIndex


class UnknownFact(LookupError):
    """The id names no current fact of this customer."""


def find(index: RecallIndex, fact_id: str, shown: dict[str, str]) -> Memo:
    """The current fact this turn's prompt shows as ``fact_id`` (``shown``: id -> key)."""
    wanted = fact_id_of(fact_id)
    found = index.get("fact", shown.get(wanted, ""))
    if found is None:
        raise UnknownFact(f"no current fact shown as {wanted[:12]!r}")
    return found


@dataclass
class Change:
    """The store writes of one learned, corrected or forgotten fact."""

    writes: list[PutOp]
    result: str


def learn(index: RecallIndex, customer_id: str, session_id: str, category: str, fact: str,
          *, replaces: str = "", subject: str = "", shown: dict[str, str] | None = None) -> Change:
    """Remember ``fact``; supersede what it contradicts: the current facts of
    its category and ``subject``, and the fact shown as ``replaces``."""
    new = memory.fact_put(customer_id, category, fact, session_id, subject=subject)
    key = memory.subject_key(new.value)
    old = [m for m in index.current("fact") if key and memory.subject_key(m.value) == key]
    if replaces:
        old.append(find(index, replaces, shown or {}))
    stamp = memory.now_iso()
    writes = [new] + [
        PutOp(new.namespace, m.key, {**m.value, "superseded_at": stamp, "superseded_by": new.key})
        for m in {m.key: m for m in old}.values() if m.key != new.key
    ]
    replaced = len(writes) - 1
    return Change(writes, "remembered" + (f", replacing {replaced} earlier fact(s)" if replaced else ""))


def forget(index: RecallIndex, customer_id: str, session_id: str, fact_id: str, shown: dict[str, str]) -> Change:
    """Erase the fact shown as ``fact_id``, leaving a tombstone."""
    old = find(index, fact_id, shown)
    tombstone = {"category": old.value.get("category", "other"), "forgotten_at": memory.now_iso(), "forgotten_in": session_id}
    return Change([PutOp(memory.facts_namespace(customer_id), old.key, tombstone)], f"forgot {fact_id_of(fact_id)}")
