"""Every session leaves an episode written by the model, including sessions
the customer never ended.

record-episode keeps an ``open`` episode current after every turn (no model
call). A session left open for ``SESSION_IDLE_MINUTES`` is finalised: the
model writes its sentence once and the episode becomes ``ended``. That
happens when the customer's next session starts (``Sessions.send``) and for
every customer with ``bank-agent memory finalize`` (for a scheduler). A
session whose conversation is still in the checkpointer is ended like
``bank-agent end`` (from its summary and messages, and it takes no more
turns); one whose thread has expired is finalised from its per-turn record.

Exactly once: the episode is keyed by the session id, so a session never has
two; and it is re-read right before the model is called and skipped unless
still ``open``. ``BaseStore`` has no conditional write, so two replicas that
pass that check within the same model call both write the sentence, and the
last write wins: still one ended episode, with one of two equivalent
sentences.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from langchain_core.messages import SystemMessage

from agent import memory, settings
from agent.calls import call
from agent.errors import MemoryUnavailable, ModelUnavailable
from agent.models import call_model
from agent.prompts import EPISODE

if TYPE_CHECKING:
    from agent.sessions import Sessions

log = logging.getLogger(__name__)


def idle_threshold() -> timedelta:
    """How long a session may stay silent before it counts as abandoned."""
    return timedelta(minutes=settings.session_idle_minutes())


def _last_active(episode: dict[str, Any]) -> datetime:
    try:
        moment = datetime.fromisoformat(str(episode.get("updated_at") or episode.get("started_at")))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


async def finalize_idle(sessions: "Sessions", customer_id: str, *, idle: timedelta | None = None,
                        skip: str | None = None) -> list[dict[str, Any]]:
    """Finalise the customer's open sessions idle for longer than ``idle``
    (default ``SESSION_IDLE_MINUTES``); returns the episodes written."""
    from agent.sessions import SessionUnavailable

    store = sessions.graph.store
    cutoff = datetime.now(timezone.utc) - (idle_threshold() if idle is None else idle)
    namespace = memory.episodes_namespace(customer_id)
    open_ones = await memory.bounded(call(store.search, store.asearch, namespace, filter={"status": "open"}, limit=1000))
    written = []
    for item in open_ones:
        if item.key == skip or _last_active(item.value) > cutoff:
            continue
        current = await memory.bounded(call(store.get, store.aget, namespace, item.key))
        if current is None or current.value.get("status") != "open":
            continue  # another replica finalised it
        try:
            written.append(await sessions.end(customer_id, item.key))
        except SessionUnavailable:
            # Ended meanwhile by another replica (``end`` holds the session's
            # lease, so only one writes), or its conversation expired: then
            # finalise from the per-turn record.
            latest = await memory.bounded(call(store.get, store.aget, namespace, item.key))
            if latest is not None and latest.value.get("status") == "open":
                written.append(await _finalize_record(sessions, customer_id, latest.value))
    return written


async def _finalize_record(sessions: "Sessions", customer_id: str, episode: dict[str, Any]) -> dict[str, Any]:
    topics = ", ".join(episode.get("topics") or []) or "none recorded"
    summary = f"{episode.get('summary', '')}\n(The session was not ended by the customer; topics: {topics}.)"
    sentence = await call_model(sessions.model.bind(max_tokens=200), [SystemMessage(EPISODE.format(summary=summary))])
    final = {**episode, "summary": str(sentence.content).strip() or episode.get("summary", ""),
             "status": "ended", "ended_at": memory.now_iso()}
    if await memory.awrite(sessions.graph.store, [memory.episode_put(customer_id, final)], []):
        raise MemoryUnavailable("long-term memory is unavailable; finalise again later")
    return final


async def finalize_before_new_session(sessions: "Sessions", customer_id: str) -> None:
    """At the start of a customer's new session: finalise their abandoned ones,
    without ever holding up or failing the new session's turn."""
    try:
        await finalize_idle(sessions, customer_id)
    except (MemoryUnavailable, ModelUnavailable) as problem:
        log.warning("abandoned sessions not finalised yet: %s", problem)


async def finalize_all(sessions: "Sessions", *, idle: timedelta | None = None) -> int:
    """``bank-agent memory finalize``: every customer's abandoned sessions."""
    store = sessions.graph.store
    count, offset = 0, 0
    while True:
        namespaces = await call(store.list_namespaces, store.alist_namespaces, prefix=("customers",), suffix=("episodes",),
                                limit=100, offset=offset)
        for namespace in namespaces:
            count += len(await finalize_idle(sessions, namespace[1], idle=idle))
        if len(namespaces) < 100:
            return count
        offset += len(namespaces)
