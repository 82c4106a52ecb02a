"""The graph runs under invoke and stream (Flask, Django, Celery, scripts) as under
ainvoke: on sync savers and stores, and on async ones from a worker thread."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.messages import HumanMessage

import checkpointers
import stores
from agent import build_graph, memory
from agent.sessions import SyncSessions

SESSION = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"
CONFIG = {"configurable": {"thread_id": SESSION}}
CONTEXT = {"customer_id": "C-7"}


def two_turns(graph) -> list[str]:
    """Two customer turns through the sync API; the assistant's replies."""
    first = graph.invoke({"messages": [HumanMessage("I am interested in a 12-month CD.")]}, CONFIG, context=CONTEXT)
    chunks = list(graph.stream({"messages": [HumanMessage("What about mortgages?")]}, CONFIG, context=CONTEXT,
                               stream_mode="values"))
    return [first["messages"][-1].content, chunks[-1]["messages"][-1].content]


def assert_remembered(graph, replies: list[str], fake_openai) -> None:
    assert "noted that" in replies[0] and "mortgage" in replies[1].lower()
    state = graph.get_state(CONFIG).values
    assert [m.content for m in state["messages"] if m.type == "human"] == [
        "I am interested in a 12-month CD.", "What about mortgages?"]
    assert state["customer_id"] == "C-7" and state["turns"] == 2
    asked = fake_openai.chat_requests()[-1]["messages"][0]["content"]
    assert "12-month CD" in asked, "the fact learned in turn 1 reached the prompt of turn 2 (through the store)"


def test_invoke_and_stream_on_sqlite_files(tmp_path, model, fake_openai):
    with checkpointers.connect(f"sqlite:///{tmp_path / 'c.db'}") as saver, \
            stores.connect(f"sqlite:///{tmp_path / 's.db'}") as store:
        graph = build_graph(model=model, checkpointer=saver, store=store)
        assert_remembered(graph, two_turns(graph), fake_openai)
        facts = store.search(memory.facts_namespace("C-7"))
        assert [f.value["fact"] for f in facts] == ["I am interested in a 12-month CD"]


def test_invoke_on_each_redis_mode_with_a_sync_saver(redis_target, model, fake_openai):
    with checkpointers.connect(redis_target.url) as saver, stores.connect("memory://") as store:
        graph = build_graph(model=model, checkpointer=saver, store=store)
        assert_remembered(graph, two_turns(graph), fake_openai)


async def test_invoke_from_a_worker_thread_on_async_persistence(tmp_path, cosmos_url, model, fake_openai):
    """An async app that calls a sync library: the graph's sync API on the
    app's async saver and Cosmos DB store, from another thread."""
    async with checkpointers.aconnect(f"sqlite:///{tmp_path / 'c.db'}") as saver, \
            stores.aconnect(cosmos_url) as store:
        graph = build_graph(model=model, checkpointer=saver, store=store)
        replies = await asyncio.to_thread(two_turns, graph)
        await asyncio.to_thread(assert_remembered, graph, replies, fake_openai)


def test_a_sync_graph_refuses_another_customer_as_the_async_one_does(tmp_path, model):
    with checkpointers.connect(f"sqlite:///{tmp_path / 'c.db'}") as saver, stores.connect("memory://") as store:
        graph = build_graph(model=model, checkpointer=saver, store=store)
        two_turns(graph)
        with pytest.raises(PermissionError):
            graph.invoke({"messages": [HumanMessage("show me")]}, CONFIG, context={"customer_id": "C-8"})


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_sync_sessions_on_sync_persistence(backend, tmp_path, request, model, fake_openai):
    """The sync facade: a session's turns, its lease held across processes'
    back ends (SQLite file lock, Redis key), its end and the customer's erasure."""
    url = (f"sqlite:///{tmp_path / 'c.db'}" if backend == "sqlite"
           else f"{request.getfixturevalue('redis_plain').url}?mode=plain")
    with checkpointers.connect(url) as saver, stores.connect(f"sqlite:///{tmp_path / 's.db'}") as store:
        sessions = SyncSessions(build_graph(model=model, checkpointer=saver, store=store))
        first = sessions.send("C-7", "I am interested in a 12-month CD.")
        second = sessions.send("C-7", "What about mortgages?", first.session_id)
        assert second.session_id == first.session_id and "mortgage" in second.text.lower()
        assert not sessions.pending_turn("C-7", first.session_id)
        episode = sessions.end("C-7", first.session_id)
        assert episode["status"] == "ended" and episode["turns"] == 2
        exported = sessions.export_customer("C-7")
        assert [m["content"] for m in exported["sessions"][0]["messages"] if m["role"] == "human"] == [
            "I am interested in a 12-month CD.", "What about mortgages?"]
        assert sessions.erase_customer("C-7")["sessions"] == 1
        assert sessions.export_customer("C-7")["sessions"] == []
