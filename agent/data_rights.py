"""A customer's rights over their data: export all of it, erase all of it, or
delete one session.

What the bank keeps about a customer lives in two places: the store items
under ``("customers", id, ...)`` (profile, facts, episodes, anything added
later) and the customer's threads in the checkpointer. Threads are found two
ways, so a thread whose turn never finished is found as well: every run
started by ``Sessions`` carries ``metadata.customer_id``, which LangGraph
copies into every checkpoint it writes (the input checkpoint included), and
every session that completed a turn has an episode keyed by its thread id.

Erasure deletes the threads first, then the store items, episodes last
(they name the threads): a run interrupted at any point leaves what is left
findable, so erasing again finishes the job.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore, Item, PutOp

from agent import memory, memory_index
from agent.calls import call, call_list
from agent.errors import SessionOwnershipError


PAGE = 500


def customer_prefix(customer_id: str) -> tuple[str, str]:
    return ("customers", customer_id)


async def customer_items(store: BaseStore, customer_id: str) -> list[Item]:
    """Every store item in the customer's namespaces, read without renewing any TTL."""
    items: list[Item] = []
    while True:
        page = await call(store.search, store.asearch, customer_prefix(customer_id), limit=PAGE, offset=len(items),
                          refresh_ttl=False)
        items += page
        if len(page) < PAGE:
            return items


async def customer_threads(graph: CompiledStateGraph, customer_id: str) -> list[str]:
    """The customer's thread ids: found from checkpoint metadata and episode
    keys, kept when the thread's own owner (``session_owner``) is the customer.
    Metadata alone is not trusted: a run's caller can write into it."""
    found: dict[str, None] = {}
    saver = graph.checkpointer
    for checkpoint in await call_list(saver.list, saver.alist, None, filter={"customer_id": customer_id}):
        found[checkpoint.config["configurable"]["thread_id"]] = None
    for item in await customer_items(graph.store, customer_id):
        if item.namespace == memory.episodes_namespace(customer_id):
            found[item.key] = None
    return [thread for thread in found if await session_owner(graph, thread) in (customer_id, None)]


def _message(message: BaseMessage) -> dict[str, Any]:
    entry = {"role": message.type, "content": message.content}
    if getattr(message, "tool_calls", None):
        entry["tool_calls"] = [{"name": c["name"], "args": c["args"]} for c in message.tool_calls]
    return entry


async def transcript(graph: CompiledStateGraph, session_id: str) -> dict[str, Any] | None:
    """The session as the checkpointer holds it: every message still in any of
    its checkpoints (those folded into the summary too), oldest first, and the
    current summary; ``None`` for a thread that is gone."""
    config = {"configurable": {"thread_id": session_id}}
    history = await call_list(graph.get_state_history, graph.aget_state_history, config)
    if not history:
        return None
    messages: dict[str, BaseMessage] = {}
    for snapshot in reversed(history):
        for message in snapshot.values.get("messages", []):
            messages.setdefault(message.id, message)
    latest = history[0].values
    return {
        "session_id": session_id,
        "started_at": latest.get("started_at"),
        "ended": bool(latest.get("ended")),
        "summary": latest.get("summary", ""),
        "messages": [_message(m) for m in messages.values()],
    }


def _item(item: Item) -> dict[str, Any]:
    return {
        "namespace": list(item.namespace), "key": item.key, "value": item.value,
        "created_at": item.created_at.isoformat(), "updated_at": item.updated_at.isoformat(),
    }


async def export_customer(graph: CompiledStateGraph, customer_id: str) -> dict[str, Any]:
    """Everything kept about the customer, as JSON-ready data: profile, facts,
    episodes, any other memory items, and every live session's transcript."""
    items = await customer_items(graph.store, customer_id)
    kinds = {"profile": memory.profile_namespace(customer_id), "facts": memory.facts_namespace(customer_id),
             "episodes": memory.episodes_namespace(customer_id)}
    by_kind = {kind: [_item(i) for i in items if i.namespace == ns] for kind, ns in kinds.items()}
    sessions = [found for thread in await customer_threads(graph, customer_id)
                if (found := await transcript(graph, thread)) is not None]
    return {
        "customer_id": customer_id,
        "exported_at": memory.now_iso(),
        "profile": by_kind["profile"][0]["value"] if by_kind["profile"] else None,
        "facts": by_kind["facts"],
        "episodes": by_kind["episodes"],
        "other_memory": [_item(i) for i in items if i.namespace not in kinds.values()],
        "sessions": sessions,
    }


async def _delete_items(store: BaseStore, items: list[Item]) -> None:
    episodes_last = sorted(items, key=lambda item: item.namespace[-1] == "episodes")
    for start in range(0, len(episodes_last), PAGE):
        await call(store.batch, store.abatch, [PutOp(i.namespace, i.key, None) for i in episodes_last[start:start + PAGE]])


async def erase_customer(graph: CompiledStateGraph, customer_id: str) -> dict[str, int]:
    """Delete every thread and every store item of the customer; idempotent.
    Uses the store's ``adelete_partition`` (a Cosmos DB partition delete)
    when it has one, as a customer's namespaces are one partition there."""
    threads = await customer_threads(graph, customer_id)
    for thread_id in threads:
        await call(graph.checkpointer.delete_thread, graph.checkpointer.adelete_thread, thread_id)
    items = await customer_items(graph.store, customer_id)
    if hasattr(graph.store, "adelete_partition"):
        await call(graph.store.delete_partition, graph.store.adelete_partition, customer_prefix(customer_id))
    else:
        await _delete_items(graph.store, items)
    memory_index.forget(graph.store, customer_id)
    return {"sessions": len(threads), "memory_items": len(items)}


async def session_owner(graph: CompiledStateGraph, session_id: str) -> str | None:
    """The customer a thread belongs to, from its state or its checkpoints' metadata."""
    config = {"configurable": {"thread_id": session_id}}
    snapshot = await call(graph.get_state, graph.aget_state, config)
    owner = (snapshot.values or {}).get("customer_id") or (snapshot.metadata or {}).get("customer_id")
    if owner is None:
        for checkpoint in await call_list(graph.checkpointer.list, graph.checkpointer.alist, config):
            owner = owner or checkpoint.metadata.get("customer_id")
    return owner


async def delete_session(graph: CompiledStateGraph, customer_id: str, session_id: str) -> bool:
    """Delete the session's thread and its episode; ``False`` if neither
    existed. Refused with ``SessionOwnershipError`` for another customer's session."""
    owner = await session_owner(graph, session_id)
    if owner not in (None, customer_id):
        raise SessionOwnershipError("this session belongs to another customer")
    episode = await call(graph.store.get, graph.store.aget, memory.episodes_namespace(customer_id), session_id,
                         refresh_ttl=False)
    if owner is None and episode is None:
        return False
    await call(graph.checkpointer.delete_thread, graph.checkpointer.adelete_thread, session_id)
    if episode is not None:
        await call(graph.store.batch, graph.store.abatch, [PutOp(memory.episodes_namespace(customer_id), session_id, None)])
        memory_index.forget(graph.store, customer_id)
    return True
