"""Ending a session is a run of the graph: its end-session node writes the
episode, whoever ends it (Sessions, an app holding the graph, the finaliser of
abandoned sessions), and racing replicas write it once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

import checkpointers
import stores
from agent import build_graph, episodes, memory
from agent.context import Context
from agent.sessions import Sessions

EPISODE_TASK = "## Task: write the episode record"


def episode_requests(fake_openai) -> list[dict]:
    return [r for r in fake_openai.requests if EPISODE_TASK in r["messages"][0]["content"]]


async def test_ending_a_session_runs_the_end_session_node_which_writes_the_episode(model, fake_openai):
    store, saver = InMemoryStore(), InMemorySaver()
    sessions = Sessions(build_graph(model=model, checkpointer=saver, store=store))
    reply = await sessions.send("C-1", "I'd like to ask about a mortgage.")
    episode = await sessions.end("C-1", reply.session_id)
    config = {"configurable": {"thread_id": reply.session_id}}
    ended, before = [t async for t in saver.alist(config, limit=2)]
    assert ended.checkpoint["channel_values"]["ended"] and ended.checkpoint["channel_values"]["episode"] == episode
    assert {channel for _, channel, _ in before.pending_writes} == {
        "branch:to:end-session", "ended", "unsaved_memory", "episode"}, "a run of the graph's end-session node"
    stored = await store.aget(memory.episodes_namespace("C-1"), reply.session_id)
    assert stored.value == episode and episode["status"] == "ended" and episode["ended_at"]
    assert len(episode_requests(fake_openai)) == 1 and episode["summary"] == "Asked about mortgage."


async def test_an_app_holding_the_graph_ends_a_session_with_a_command(model, fake_openai):
    store = InMemoryStore()
    graph = build_graph(model=model, checkpointer=InMemorySaver(), store=store)
    reply = await Sessions(graph).send("C-2", "Any fees on my savings account?")
    config = {"configurable": {"thread_id": reply.session_id}}
    ended = await graph.ainvoke(Command(goto="end-session"), config, context=Context(customer_id="C-2"))
    assert ended["episode"]["status"] == "ended" and "savings" in ended["episode"]["topics"]
    again = await graph.ainvoke(Command(goto="end-session"), config, context=Context(customer_id="C-2"))
    assert len(episode_requests(fake_openai)) == 1, "ending twice writes once"
    assert again["episode"] == ended["episode"]
    with pytest.raises(Exception, match="another customer"):
        await graph.ainvoke(Command(goto="end-session"), config, context=Context(customer_id="C-3"))


async def test_an_interrupted_last_turn_is_set_aside_when_the_session_ends(model, fake_openai):
    sessions = Sessions(build_graph(model=model, checkpointer=InMemorySaver(), store=InMemoryStore()))
    first = await sessions.send("C-4", "Hello")
    fake_openai.failures = [500] * 3  # the model is down: the second turn is interrupted before its answer
    with pytest.raises(Exception):
        await sessions.send("C-4", "What about my card?", first.session_id)
    assert await sessions.pending_turn("C-4", first.session_id)
    asked = len(fake_openai.chat_requests())
    await sessions.end("C-4", first.session_id)
    state = await sessions.graph.aget_state({"configurable": {"thread_id": first.session_id}})
    assert state.values["ended"] and not state.next and not state.tasks
    assert state.values["episode"]["status"] == "ended", "the interrupted turn did not reopen it"
    assert len(fake_openai.chat_requests()) == asked, "the interrupted answer was not run again"


async def test_replicas_racing_to_finalise_an_abandoned_session_write_its_episode_once(redis_plain, model, fake_openai, tmp_path):
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    async with checkpointers.aconnect(redis_plain.url) as saver_a, checkpointers.aconnect(redis_plain.url) as saver_b, \
            stores.aconnect(store_url) as store_a, stores.aconnect(store_url) as store_b:
        replica_a = Sessions(build_graph(model=model, checkpointer=saver_a, store=store_a))
        replica_b = Sessions(build_graph(model=model, checkpointer=saver_b, store=store_b))
        live = await replica_a.send("C-5", "I want to ask about a mortgage.")
        expired = {"session_id": "expired-1", "started_at": "2025-01-05T10:00:00+00:00",
                   "updated_at": "2025-01-05T10:00:00+00:00", "summary": "Asked about fees.",
                   "status": "open", "topics": ["fees"], "turns": 2}
        await store_a.abatch([memory.episode_put("C-5", expired)])
        fake_openai.delay = 0.5  # both replicas find the sessions open before either is done
        written = await asyncio.gather(*(episodes.finalize_idle(replica, "C-5", idle=timedelta(0))
                                         for replica in (replica_a, replica_b, replica_a, replica_b)))
        records = {i.key: i.value for i in await store_a.asearch(memory.episodes_namespace("C-5"))}
        stand_in = await replica_b.graph.aget_state({"configurable": {"thread_id": "expired-1"}})
    assert sorted(e["session_id"] for batch in written for e in batch) == sorted([live.session_id, "expired-1"])
    assert len(episode_requests(fake_openai)) == 2, "one episode sentence per session"
    assert {key: record["status"] for key, record in records.items()} == {live.session_id: "ended", "expired-1": "ended"}
    assert records["expired-1"]["turns"] == 2 and records["expired-1"]["ended_at"], "ended from its per-turn record"
    assert not stand_in.values, "the expired session's stand-in thread is gone again"


async def test_ending_through_the_graph_with_a_turn_left_interrupted_keeps_the_session_ended(model, fake_openai):
    """An API client may send the end command while its last turn is interrupted:
    LangGraph then runs the interrupted turn's rest alongside end-session."""
    store = InMemoryStore()
    graph = build_graph(model=model, checkpointer=InMemorySaver(), store=store)
    first = await Sessions(graph).send("C-6", "Hello")
    config, context = {"configurable": {"thread_id": first.session_id}}, Context(customer_id="C-6")
    fake_openai.failures = [500] * 3
    with pytest.raises(Exception):
        await graph.ainvoke({"messages": [{"role": "user", "content": "And my card?"}]}, config, context=context)
    await graph.ainvoke(Command(goto="end-session"), config, context=context)
    state = await graph.aget_state(config)
    stored = await store.aget(memory.episodes_namespace("C-6"), first.session_id)
    assert state.values["ended"] and stored.value["status"] == "ended" and stored.value == state.values["episode"]
