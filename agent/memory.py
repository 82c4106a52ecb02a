"""The customer's long-term and episodic memory in a LangGraph ``BaseStore``.

Namespaces, one customer each, so a customer's reads stay in one partition:
``("customers", id, "profile")`` holds the key ``profile``;
``("customers", id, "facts")`` one item per learned fact, keyed by a hash of
its text so learning it again is idempotent;
``("customers", id, "episodes")`` one item per session, keyed by the session's
thread id so a session has exactly one episode however often it is written.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from langgraph.store.base import BaseStore, GetOp, Item, PutOp, SearchOp

from agent import store_circuit
from agent.prompts import MEMORY_UNAVAILABLE, NEW_CUSTOMER
from agent.tokens import TokenCounter

log = logging.getLogger(__name__)

PROFILE_KEY = "profile"
RECALL_LIMIT = 50  # newest facts and episodes read per turn


def profile_namespace(customer_id: str) -> tuple[str, ...]:
    return ("customers", customer_id, "profile")


def facts_namespace(customer_id: str) -> tuple[str, ...]:
    return ("customers", customer_id, "facts")


def episodes_namespace(customer_id: str) -> tuple[str, ...]:
    return ("customers", customer_id, "episodes")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class CustomerMemory:
    """What the store knows of one customer."""

    profile: dict[str, Any] | None = None
    facts: list[dict[str, Any]] = field(default_factory=list)
    episodes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_new(self) -> bool:
        return not (self.profile or self.facts or self.episodes)


class MemoryUnavailable(RuntimeError):
    """The store did not answer in time or failed; the turn goes on without it."""


async def _bounded(operation):
    circuit = store_circuit.current.get()
    if circuit is not None and circuit.tripped:
        operation.close()
        raise MemoryUnavailable("the store already failed in this turn")
    timeout = float(os.environ.get("MEMORY_TIMEOUT_SECONDS", "10"))
    try:
        return await asyncio.wait_for(operation, timeout)
    except Exception as error:  # any store failure degrades the turn rather than failing it
        log.warning("long-term memory unavailable: %s", type(error).__name__)
        if circuit is not None:
            circuit.tripped = True
        raise MemoryUnavailable(type(error).__name__) from None


def _newest_first(items: list[Item], stamp: str) -> list[dict[str, Any]]:
    values = [item.value for item in items]
    return sorted(values, key=lambda value: str(value.get(stamp, "")), reverse=True)


async def aload(store: BaseStore, customer_id: str, *, skip_episode: str | None = None) -> CustomerMemory:
    """The customer's profile, newest facts and newest episodes, in one store batch.
    ``skip_episode`` leaves out the running session's own episode. Raises
    ``MemoryUnavailable`` when the store fails or takes longer than
    ``MEMORY_TIMEOUT_SECONDS``."""
    profile, facts, episodes = await _bounded(
        store.abatch(
            [
                GetOp(profile_namespace(customer_id), PROFILE_KEY),
                SearchOp(facts_namespace(customer_id), limit=RECALL_LIMIT),
                SearchOp(episodes_namespace(customer_id), limit=RECALL_LIMIT),
            ]
        )
    )
    return CustomerMemory(
        profile=profile.value if profile else None,
        facts=_newest_first(facts, "learned_at"),
        episodes=[
            episode
            for episode in _newest_first(episodes, "updated_at")
            if episode.get("session_id") != skip_episode
        ],
    )


def render(memory: CustomerMemory | None, counter: TokenCounter, limit: int) -> str:
    """The memory as a prompt section of at most ``limit`` tokens: profile first,
    then facts and episodes newest first; what does not fit is counted, not shown.
    ``None`` stands for a store that could not be read."""
    if memory is None:
        return MEMORY_UNAVAILABLE
    if memory.is_new:
        return NEW_CUSTOMER
    lines = ["## Customer memory", "### Profile"]
    profile = memory.profile or {}
    lines += [f"- {key}: {value}" for key, value in profile.items()] or ["- (no profile on file)"]
    sections = [
        ("### Known facts", [_fact_line(fact) for fact in memory.facts]),
        ("### Past sessions (most recent first)", [_episode_line(ep) for ep in memory.episodes]),
    ]
    reserve = 24  # room for the "not shown" notes
    text = counter.truncate("\n".join(lines), limit - reserve)
    for heading, entries in sections:
        text += "\n" + heading
        shown = 0
        for entry in entries:
            candidate = f"{text}\n{entry}"
            if counter.text(candidate) > limit - reserve:
                break
            text, shown = candidate, shown + 1
        if not entries:
            text += "\n- (none)"
        elif shown < len(entries):
            text += f"\n- ({len(entries) - shown} older entries not shown)"
    return text


def _fact_line(fact: dict[str, Any]) -> str:
    return f"- [{fact.get('category', 'note')}] {fact.get('fact', '')}"


def _episode_line(episode: dict[str, Any]) -> str:
    day = str(episode.get("started_at", ""))[:10] or "unknown date"
    outcome = f" ({episode['outcome']})" if episode.get("outcome") else ""
    return f"- {day}: {episode.get('summary', '')}{outcome}"


def fact_key(category: str, fact: str) -> str:
    normalized = " ".join(fact.lower().split())
    return hashlib.sha256(f"{category}\n{normalized}".encode()).hexdigest()[:24]


def fact_put(customer_id: str, category: str, fact: str, session_id: str) -> PutOp:
    """The write that remembers one fact; the same fact always lands on the same key."""
    return PutOp(
        facts_namespace(customer_id),
        fact_key(category, fact),
        {"category": category, "fact": fact, "learned_at": now_iso(), "session_id": session_id},
    )


def episode_put(customer_id: str, episode: dict[str, Any]) -> PutOp:
    """The write that keeps a session's single episode current."""
    return PutOp(episodes_namespace(customer_id), episode["session_id"], episode)


def profile_put(customer_id: str, profile: dict[str, Any]) -> PutOp:
    return PutOp(profile_namespace(customer_id), PROFILE_KEY, profile)


async def awrite(store: BaseStore, writes: list[PutOp], unsaved: list[dict]) -> list[dict]:
    """Write ``unsaved`` (left over from earlier turns) and ``writes`` in one
    batch; what the store could not take is returned, to be kept in the
    session's state and written on a later turn."""
    ops = [PutOp(tuple(w["namespace"]), w["key"], w["value"]) for w in unsaved] + writes
    if not ops:
        return []
    try:
        await _bounded(store.abatch(ops))
    except MemoryUnavailable:
        return [{"namespace": list(op.namespace), "key": op.key, "value": op.value} for op in ops]
    return []
