"""Customer sessions over the graph: the front door for apps and the CLI.

Every check happens before the graph runs, so a refused request leaves the
stored conversation exactly as it was: the customer id and message are
validated, a session is bound to the customer who started it, an ended or
expired session is never silently replaced by an empty one under the same id,
and an interrupted turn can be retried.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import uuid
from dataclasses import dataclass
from typing import Any, AsyncIterator

from langchain_core.messages import HumanMessage
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from agent import data_rights, episodes, memory
from agent.budget import budget_for
from agent.calls import call, run_sync
from agent.context import Context
from agent.errors import SessionBusy, SessionOwnershipError, SessionUnavailable
from agent.graph import model_of
from agent.guard import clean_message
from agent.models import model_name_of
from agent.nodes import END_SESSION
from agent.settings import session_busy_wait_seconds
from agent.store_circuit import begin_turn
from agent.tokens import counter_for
from agent.leases import lease_for


@dataclass
class Reply:
    session_id: str
    text: str


def shown(session_id: object) -> str:
    """A session id as it may appear in an error: as given when it is short and
    printable, else escaped (``repr``) and cut to 60 characters."""
    text = str(session_id)
    if text.isprintable() and len(text) <= 60:
        return text
    escaped = repr(text)
    return escaped if len(escaped) <= 60 else escaped[:57] + "..."


def still_running(session_id: str) -> SessionBusy:
    return SessionBusy(f"the last turn of session {shown(session_id)} is still running: wait for its answer")


def new_session_id() -> str:
    """An unguessable session id: a random UUID (122 bits from ``os.urandom``),
    the thread id form ``langgraph dev`` and Studio require. Older ``s-…`` ids
    stay valid for resuming."""
    return str(uuid.uuid4())


class Sessions:
    """Starts, continues, retries and ends customer sessions on a compiled graph."""

    def __init__(self, graph: CompiledStateGraph):
        self.lease = lease_for(graph.checkpointer)
        self.graph = graph.copy({"checkpointer": self.lease.fenced(graph.checkpointer)})
        # Messages are checked against the budget as the graph's model counts tokens.
        self.counter = counter_for(model_name_of(model_of(graph)))

    def _config(self, session_id: str, customer_id: str) -> dict:
        # The owner goes into every checkpoint's metadata, so a customer's
        # threads can be listed (``alist(None, filter={"customer_id": ...})``).
        return {"configurable": {"thread_id": session_id}, "metadata": {"customer_id": customer_id}}

    async def _state(self, context: Context, session_id: str) -> dict:
        """The session's state, after checking it may be continued by this customer."""
        snapshot = await call(self.graph.get_state, self.graph.aget_state, self._config(session_id, context.customer_id))
        values = snapshot.values or {}
        owner = values.get("customer_id") or (snapshot.metadata or {}).get("customer_id")
        if values and owner != context.customer_id:
            raise SessionOwnershipError("this session belongs to another customer")
        if not values:
            store = self.graph.store
            episode = await call(store.get, store.aget, memory.episodes_namespace(context.customer_id), session_id)
            if episode is not None:
                raise SessionUnavailable(
                    f"session {shown(session_id)} has expired; its record is kept: start a new session"
                )
            raise SessionUnavailable(f"no session {shown(session_id)}: start a new session")
        if values.get("ended"):
            raise SessionUnavailable(f"session {shown(session_id)} has ended: start a new session")
        # A node's writes are saved before the step's checkpoint, and ``next``
        # omits tasks that already wrote: a turn killed in that gap shows only
        # in ``tasks``. A finished turn's checkpoint has neither.
        return {"values": values, "pending": bool(snapshot.next or snapshot.tasks)}

    async def _run(self, graph_input: Any, context: Context, session_id: str) -> dict:
        return await call(self.graph.invoke, self.graph.ainvoke, graph_input,
                          self._config(session_id, context.customer_id), context=context)

    async def _checkpoint_between_turns(self, customer_id: str, session_id: str) -> None:
        """Checkpoint the session as between turns, owned by ``customer_id``:
        a new session's first checkpoint (so no saved state of it, even a first
        turn that dies at once, lacks its owner), or, before a session ends, one
        that sets aside a turn that was interrupted and never retried."""
        await call(self.graph.update_state, self.graph.aupdate_state,
                   self._config(session_id, customer_id), {"customer_id": customer_id}, as_node="record-episode")

    async def pending_turn(self, customer_id: str, session_id: str) -> bool:
        """Whether the session's last turn was interrupted before it finished
        (a turn still running elsewhere is not: a send waits for it)."""
        state = await self._state(Context(customer_id=customer_id), session_id)
        return state["pending"] and not await self.turn_running(session_id)

    async def turn_running(self, session_id: str) -> bool:
        """Whether a turn of the session is running now, in any process."""
        return await self.lease.busy(session_id)

    @contextlib.asynccontextmanager
    async def _turn(self, session_id: str, *, wait: float | None = None) -> AsyncIterator[None]:
        """Hold the session's lease: one turn at a time, whichever process sends it."""
        wait = session_busy_wait_seconds() if wait is None else wait
        try:
            async with self.lease.hold(session_id, wait):
                yield
        except SessionBusy:
            if wait:
                raise SessionBusy(
                    f"session {shown(session_id)} is busy: another turn is still running after "
                    f"{wait:g} s (SESSION_BUSY_WAIT_SECONDS); send again shortly"
                ) from None
            raise still_running(session_id) from None

    async def send(self, customer_id: str, message: str, session_id: str | None = None, *, token_budget: int | None = None) -> Reply:
        """The agent's answer to ``message``, in a new session unless ``session_id`` is given."""
        context = Context(customer_id=customer_id, **({"token_budget": token_budget} if token_budget is not None else {}))
        text = clean_message(message, budget_for(context.token_budget, self.counter))
        new = session_id is None
        session_id = new_session_id() if new else session_id
        if new:
            await episodes.finalize_before_new_session(self, context.customer_id)
        async with self._turn(session_id):
            if new:
                await self._checkpoint_between_turns(context.customer_id, session_id)
            elif (await self._state(context, session_id))["pending"]:
                raise SessionUnavailable(
                    f"the last turn of session {shown(session_id)} was interrupted: retry it before sending more"
                )
            result = await self._run({"messages": [HumanMessage(text)]}, context, session_id)
        return Reply(session_id, str(result["messages"][-1].content))

    async def retry(self, customer_id: str, session_id: str) -> Reply:
        """Finish a turn that was interrupted (crash, model outage) from its last checkpoint."""
        context = Context(customer_id=customer_id)
        await self._state(context, session_id)
        async with self._turn(session_id, wait=0):
            await self._state(context, session_id)
            begin_turn(session_id)  # a retried turn may wait for the store again
            result = await self._run(None, context, session_id)
        return Reply(session_id, str(result["messages"][-1].content))

    async def end(self, customer_id: str, session_id: str, *, token_budget: int | None = None) -> dict | None:
        """Close the session through the graph's end-session node: the model
        writes its episode sentence (one call, within ``token_budget``), the
        episode is marked ended and the session takes no more turns. Returns
        the episode. Refused with ``MemoryUnavailable`` while the store cannot
        take the record; the session then stays open."""
        context = Context(customer_id=customer_id, token_budget=token_budget)
        async with self._turn(session_id):
            if (await self._state(context, session_id))["pending"]:
                await self._checkpoint_between_turns(customer_id, session_id)
            result = await self._run(Command(goto=END_SESSION), context, session_id)
        return result.get("episode")

    async def finalize(self, customer_id: str, session_id: str) -> dict | None:
        """End an abandoned session, live or expired from the checkpointer,
        unless it has been ended meanwhile: under the session's lease, so of
        replicas racing to finalise it exactly one writes its episode. Returns
        the episode written, or None."""
        context = Context(customer_id=customer_id)
        store = self.graph.store
        async with self._turn(session_id, wait=0):
            current = await memory.bounded(call(store.get, store.aget, memory.episodes_namespace(customer_id), session_id))
            if current is None or current.value.get("status") != "open":
                return None
            snapshot = await call(self.graph.get_state, self.graph.aget_state, self._config(session_id, customer_id))
            if (snapshot.values.get("customer_id") or customer_id) != customer_id:
                raise SessionOwnershipError("this session belongs to another customer")
            # An expired session is ended from its per-turn record, through a
            # stand-in thread that is deleted afterwards.
            expired = not snapshot.values
            if expired or snapshot.next or snapshot.tasks:
                await self._checkpoint_between_turns(customer_id, session_id)
            try:
                result = await self._run(Command(goto=END_SESSION), context, session_id)
            finally:
                if expired:
                    saver = self.graph.checkpointer
                    await call(saver.delete_thread, saver.adelete_thread, session_id)
        return result.get("episode")

    async def history(self, customer_id: str) -> list[dict]:
        """The customer's sessions (episodes), most recent first."""
        known = await memory.aload(self.graph.store, Context(customer_id=customer_id).customer_id)
        return known.episodes

    async def export_customer(self, customer_id: str) -> dict:
        """Everything kept about the customer (``agent.data_rights.export_customer``)."""
        return await data_rights.export_customer(self.graph, Context(customer_id=customer_id).customer_id)

    async def erase_customer(self, customer_id: str) -> dict[str, int]:
        """Forget the customer: every session and every memory item; safe to repeat."""
        return await data_rights.erase_customer(self.graph, Context(customer_id=customer_id).customer_id)

    async def delete_session(self, customer_id: str, session_id: str) -> None:
        """Delete one of the customer's sessions and its episode."""
        if not await data_rights.delete_session(self.graph, Context(customer_id=customer_id).customer_id, session_id):
            raise SessionUnavailable(f"no session {session_id}")


class SyncSessions:
    """``Sessions`` for sync code (Flask, Django, Celery, scripts): the same
    methods, blocking, on sync persistence (``checkpointers.connect``,
    ``stores.connect``) or async persistence opened on another thread."""

    def __init__(self, graph: CompiledStateGraph):
        self.sessions = Sessions(graph)

    def __getattr__(self, name: str):
        method = getattr(self.sessions, name)
        if not inspect.iscoroutinefunction(method):
            return method

        @functools.wraps(method)
        def blocking(*args, **kwargs):
            return run_sync(method(*args, **kwargs))

        return blocking
