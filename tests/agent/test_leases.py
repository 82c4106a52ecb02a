"""Turn leases (issue 8, finding 2). In one process, concurrent sends to one
session take turns on every saver. The Redis lease (both modes, cluster) is
renewed while a turn runs longer than the lease, and fenced: a turn whose lease
was taken over writes nothing more."""

from __future__ import annotations

import asyncio

import pytest
import redis
from langchain_openai import ChatOpenAI
from langgraph.store.memory import InMemoryStore

import checkpointers
from agent import build_graph
from agent.sessions import Sessions
from agent.errors import LeaseLost
from agent.leases import RedisLease


@pytest.mark.parametrize("saver_url", ["memory://", "sqlite:///{tmp}/checkpoints.db"])
async def test_concurrent_sends_in_one_process_take_turns(saver_url, tmp_path, model):
    async with checkpointers.aconnect(saver_url.format(tmp=tmp_path)) as saver:
        sessions = Sessions(build_graph(model=model, checkpointer=saver, store=InMemoryStore()))
        first = await sessions.send("C-1", "Message 0")
        texts = [f"Message {i}" for i in range(1, 6)]
        await asyncio.gather(*(sessions.send("C-1", text, first.session_id) for text in texts))
        values = (await sessions.graph.aget_state({"configurable": {"thread_id": first.session_id}})).values
    said = [m.content for m in values["messages"] if m.type == "human"]
    assert sorted(said) == ["Message 0", *texts] and values["turns"] == 6
    kinds = [m.type for m in values["messages"] if m.type in ("human", "ai")]
    assert all(kinds[i + 1] == "ai" for i, kind in enumerate(kinds) if kind == "human"), "every turn answered whole"


@pytest.fixture
def redis_url(redis_target):
    return redis_target.url


@pytest.fixture
def client_model(scripted_openai):
    return ChatOpenAI(model="gpt-4", base_url=scripted_openai.base_url, api_key="sk-test", max_retries=0, timeout=30)


async def test_a_turn_longer_than_the_lease_keeps_it_by_renewal(redis_url, client_model, scripted_openai, monkeypatch):
    monkeypatch.setenv("SESSION_LEASE_SECONDS", "1")
    async with checkpointers.aconnect(redis_url) as saver:
        sessions = Sessions(build_graph(model=client_model, checkpointer=saver, store=InMemoryStore()))
        scripted_openai.delay = 2.5  # the model call outlasts two lease lifetimes
        reply = await sessions.send("C-1", "Hello")
        assert reply.text and not await sessions.turn_running(reply.session_id), "answered, and the lease released"


async def test_a_turn_whose_lease_was_taken_over_writes_nothing_more(redis_target, redis_url, client_model,
                                                                     scripted_openai):
    async with checkpointers.aconnect(redis_url) as saver:
        sessions = Sessions(build_graph(model=client_model, checkpointer=saver, store=InMemoryStore()))
        first = await sessions.send("C-1", "Hello")
        client = (redis.RedisCluster if redis_target.name == "cluster" else redis.Redis).from_url(redis_url.split("?")[0])

        def take_over(body: dict) -> None:  # another holder got the session while the model answered
            client.set(RedisLease.key(first.session_id), "another-holders-token", px=60_000)

        scripted_openai.on_request = take_over
        with pytest.raises(LeaseLost):
            await sessions.send("C-1", "Second message", first.session_id)
        scripted_openai.on_request = None
        values = (await sessions.graph.aget_state({"configurable": {"thread_id": first.session_id}})).values
        assert [m.content for m in values["messages"] if m.type == "ai"][1:] == [], "no answer was written"
        assert client.get(RedisLease.key(first.session_id)) == b"another-holders-token", "not released by the loser"
        client.close()
