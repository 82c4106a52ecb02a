"""The customer's long-term and episodic memory in a LangGraph ``BaseStore``.

Namespaces, one customer each, so a customer's reads stay in one partition:
``("customers", id, "profile")`` holds the key ``profile``;
``("customers", id, "facts")`` one item per learned fact, keyed by a hash of
its text so learning it again is idempotent;
``("customers", id, "episodes")`` one item per session, keyed by the session's
thread id so a session has exactly one episode however often it is written.
The layout and its fields are a public contract (README, *Long-term memory*):
items other systems write there are recalled like the agent's own. Each turn
recalls what the customer's words need (``arecall``), not the newest items.

Every write built here is masked first (``agent.privacy``). With
``MEMORY_RETENTION_DAYS`` set, facts and episodes expire that many days after
they were last written (the store's TTL); unset, they are kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.store.base import BaseStore, PutOp

from agent import memory_index, memory_prompt, recall_server, settings, store_circuit
from agent.calls import call
from agent.errors import MemoryUnavailable
from agent.privacy import mask, mask_value
from agent.recall import Memo, terms

log = logging.getLogger(__name__)

PROFILE_KEY = "profile"
SELF_CONTAINED_TERMS = 4  # content words that make a message a query of its own


def profile_namespace(customer_id: str) -> tuple[str, ...]:
    return ("customers", customer_id, "profile")


def facts_namespace(customer_id: str) -> tuple[str, ...]:
    return ("customers", customer_id, "facts")


def episodes_namespace(customer_id: str) -> tuple[str, ...]:
    return ("customers", customer_id, "episodes")


def now_iso() -> str:
    # Microseconds: items are ordered by these stamps, not by the store's
    # updated_at (one-second resolution on SQLite), so a bulk write keeps its order.
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass
class CustomerMemory:
    """What the store knows of one customer."""

    profile: dict[str, Any] | None = None
    memos: list[Memo] = field(default_factory=list)
    """Current facts and episodes, in the order the prompt should take them."""

    @property
    def facts(self) -> list[dict[str, Any]]:
        return [m.value for m in self.memos if m.kind == "fact"]

    @property
    def episodes(self) -> list[dict[str, Any]]:
        """Each with its ``session_id`` (the item's key, for episodes other systems wrote without one)."""
        return [{"session_id": m.key, **m.value} for m in self.memos if m.kind == "episode"]

    @property
    def is_new(self) -> bool:
        return not (self.profile or self.memos)


async def bounded(operation):
    """``operation``'s result, or ``MemoryUnavailable`` once the store fails or
    takes longer than ``MEMORY_TIMEOUT_SECONDS``."""
    circuit = store_circuit.of_this_turn()
    if circuit is not None and circuit.tripped:
        operation.close()
        raise MemoryUnavailable("the store already failed in this turn")
    timeout = settings.memory_timeout()
    try:
        return await asyncio.wait_for(operation, timeout)
    except Exception as error:  # any store failure degrades the turn rather than failing it
        log.warning("long-term memory unavailable: %s", type(error).__name__)
        if circuit is not None:
            circuit.tripped = True
        raise MemoryUnavailable(type(error).__name__) from None


async def aload(store: BaseStore, customer_id: str, *, skip_episode: str | None = None) -> CustomerMemory:
    """The customer's profile and every current fact and episode, newest
    first. ``skip_episode`` leaves out the running session's own episode.
    Raises ``MemoryUnavailable`` when the store fails or takes longer than
    ``MEMORY_TIMEOUT_SECONDS``."""
    return await arecall(store, customer_id, "", skip_episode=skip_episode)


async def arecall(store: BaseStore, customer_id: str, query: str, *, skip_episode: str | None = None) -> CustomerMemory:
    """The customer's profile and current facts and episodes, the most
    relevant to ``query`` first; newest first without one. Ranked by the
    store's server where it can (``agent.recall_server``), else in process
    (``agent.memory_index``, ``agent.recall``)."""
    if query.strip() and recall_server.ranks_on_server(store):
        profile, memos = await bounded(recall_server.arecall(store, customer_id, query))
    else:
        profile, index = await bounded(memory_index.aindex(store, customer_id))
        memos = index.rank(query) if query.strip() else index.current("fact") + index.current("episode")
    return CustomerMemory(profile, [
        m for m in _current_per_subject(memos) if not (m.kind == "episode" and m.key == skip_episode)
    ])


SINGLE_SUBJECT = {"risk_tolerance": "risk tolerance"}


def subject_key(fact: dict[str, Any]) -> tuple[str, str] | None:
    """What a fact is about, when known: two current facts with the same key
    contradict each other (a customer has one risk tolerance at a time)."""
    category = str(fact.get("category", ""))
    subject = SINGLE_SUBJECT.get(category) or " ".join(str(fact.get("subject", "")).lower().split())
    return (category, subject) if subject else None


def _current_per_subject(memos: list[Memo]) -> list[Memo]:
    # Facts written by other systems are never superseded in the store; of
    # two that share a subject, only the newer one is shown as current.
    keys = {id(m): subject_key(m.value) for m in memos if m.kind == "fact"}
    newest: dict[tuple[str, str], Memo] = {}
    for memo in memos:
        key = keys.get(id(memo))
        if key and (key not in newest or memo.when > newest[key].when):
            newest[key] = memo
    return [m for m in memos if not keys.get(id(m)) or newest[keys[id(m)]] is m]


def recall_query(messages: list[BaseMessage], newest: str) -> str:
    """What recall looks for: the customer's newest message, and when it says
    little on its own ("and the rates?"), their previous one or two as well."""
    if len(terms(newest)) >= SELF_CONTAINED_TERMS:
        return newest
    said = [str(m.content) for m in messages if isinstance(m, HumanMessage)]
    return " ".join([*said[-2:], newest])


render = memory_prompt.render


def fact_key(category: str, fact: str) -> str:
    normalized = " ".join(fact.lower().split())
    return hashlib.sha256(f"{category}\n{normalized}".encode()).hexdigest()[:24]


def fact_put(customer_id: str, category: str, fact: str, session_id: str, *, subject: str = "", learned_at: str = "") -> PutOp:
    """The write that remembers one fact; the same fact always lands on the same key."""
    fact = mask(fact)  # the key too is derived from the masked text
    value = {"category": category, "fact": fact, "learned_at": learned_at or now_iso(), "session_id": session_id}
    return PutOp(facts_namespace(customer_id), fact_key(category, fact),
                 {**value, **({"subject": mask(subject)} if subject else {})}, ttl=settings.retention_minutes())


def episode_put(customer_id: str, episode: dict[str, Any]) -> PutOp:
    """The write that keeps a session's single episode current."""
    return PutOp(episodes_namespace(customer_id), episode["session_id"], mask_value(episode), ttl=settings.retention_minutes())


def profile_put(customer_id: str, profile: dict[str, Any]) -> PutOp:
    return PutOp(profile_namespace(customer_id), PROFILE_KEY, mask_value(profile))


async def awrite(store: BaseStore, writes: list[PutOp], unsaved: list[dict]) -> list[dict]:
    """Write ``unsaved`` (left over from earlier turns) and ``writes`` in one
    batch; what the store could not take is returned, to be kept in the
    session's state and written on a later turn."""
    ops = [PutOp(tuple(w["namespace"]), w["key"], w["value"], ttl=w.get("ttl")) for w in unsaved] + writes
    if not ops:
        return []
    try:
        await bounded(call(store.batch, store.abatch, ops))
    except MemoryUnavailable:
        return [{"namespace": list(op.namespace), "key": op.key, "value": op.value, "ttl": op.ttl} for op in ops]
    return []
