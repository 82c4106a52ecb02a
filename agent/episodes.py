"""Every session leaves an episode written by the model, including sessions
the customer never ended.

record-episode keeps an ``open`` episode current after every turn (no model
call). A session left open for ``SESSION_IDLE_MINUTES`` is finalised: the
model writes its sentence once and the episode becomes ``ended``. That
happens when the customer's next session starts (``Sessions.send``) and for
every customer with ``bank-agent memory finalize`` (for a scheduler). Either
way the session is ended through the graph's end-session node, like
``bank-agent end``: from its summary and messages while the conversation is
in the checkpointer, else from its per-turn record.

Exactly once: the episode is keyed by the session id, so a session never has
two; and ``Sessions.finalize`` holds the session's lease (a Redis lease
across replicas, a file lock for SQLite) while it re-reads the episode and
ends it, so of replicas racing to finalise a session one writes and the
others find it ended.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from agent import memory, settings
from agent.calls import call
from agent.errors import MemoryUnavailable, ModelUnavailable, SessionBusy

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
    store = sessions.graph.store
    cutoff = datetime.now(timezone.utc) - (idle_threshold() if idle is None else idle)
    namespace = memory.episodes_namespace(customer_id)
    open_ones = await memory.bounded(call(store.search, store.asearch, namespace, filter={"status": "open"}, limit=1000))
    written = []
    for item in open_ones:
        if item.key == skip or _last_active(item.value) > cutoff:
            continue
        try:
            episode = await sessions.finalize(customer_id, item.key)
        except SessionBusy:
            continue  # the customer is back in it: not abandoned
        if episode is not None:
            written.append(episode)
    return written


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
