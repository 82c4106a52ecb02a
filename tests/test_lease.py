"""The Redis turn lease (issue 8, finding 2): renewed while a turn runs longer
than the lease, and fenced: a turn whose lease was taken over writes nothing more."""

from __future__ import annotations

import pytest
import redis
from langchain_openai import ChatOpenAI
from langgraph.store.memory import InMemoryStore

import checkpointers
from agent import build_graph
from agent.sessions import Sessions
from checkpointers.lease import LeaseLost, RedisLease


@pytest.fixture(params=["modules", "plain"])
def redis_url(request):
    return f"{request.getfixturevalue('redis_' + request.param).url}?mode={request.param}"


@pytest.fixture
def client_model(scripted_openai):
    return ChatOpenAI(model="gpt-4", base_url=scripted_openai.base_url, api_key="sk-test", max_retries=0, timeout=30)


async def test_a_turn_longer_than_the_lease_keeps_it_by_renewal(redis_url, client_model, scripted_openai, monkeypatch):
    monkeypatch.setenv("SESSION_LEASE_SECONDS", "1")
    async with checkpointers.aconnect(redis_url) as saver:
        sessions = Sessions(build_graph(model=client_model, checkpointer=saver, store=InMemoryStore()), client_model)
        scripted_openai.delay = 2.5  # the model call outlasts two lease lifetimes
        reply = await sessions.send("C-1", "Hello")
        assert reply.text and not await sessions.turn_running(reply.session_id), "answered, and the lease released"


async def test_a_turn_whose_lease_was_taken_over_writes_nothing_more(redis_url, client_model, scripted_openai):
    async with checkpointers.aconnect(redis_url) as saver:
        sessions = Sessions(build_graph(model=client_model, checkpointer=saver, store=InMemoryStore()), client_model)
        first = await sessions.send("C-1", "Hello")
        client = redis.Redis.from_url(redis_url.split("?")[0])

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
