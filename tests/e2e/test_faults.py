"""Redis or Cosmos DB failing mid-session or down at startup: bounded errors,
degraded answers, a turn waiting for the store at most once, nothing lost."""

from __future__ import annotations

import signal
import time

import pytest
from langchain_core.messages import HumanMessage
from azure.core.pipeline.transport import AioHttpTransport
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

import checkpointers
import stores
from agent import build_graph, memory
from agent.errors import MemoryUnavailable
from agent.sessions import Sessions
from tests.support.fixtures_e2e import AgentWorld
from backends.devservers import CosmosServer, RedisServer, free_port


@pytest.fixture
def own_cosmos(cosmos_key):
    """A Cosmos DB server this test alone may stop."""
    server = CosmosServer().start()
    yield server
    server.process.send_signal(signal.SIGCONT)
    server.stop()


class ThrottlingTransport(AioHttpTransport):
    """The real HTTP transport, except that while ``throttled`` every answer from
    the Cosmos DB server becomes a 429 asking the client to wait 3 s."""

    throttled = False

    async def send(self, request, **kwargs):
        response = await super().send(request, **kwargs)
        if self.throttled and "/docs" in request.url:
            response.status_code = response.internal_response.status = 429
            response.headers["x-ms-retry-after-ms"] = "3000"
        return response


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.process.send_signal(signal.SIGCONT)
    server.stop()


async def test_cosmos_unreachable_gives_a_degraded_answer_and_writes_later(own_cosmos, model, monkeypatch):
    monkeypatch.setenv("MEMORY_TIMEOUT_SECONDS", "2")
    async with stores.aconnect(f"{own_cosmos.url}/bank/memory?tls=insecure") as store:
        await store.abatch([memory.profile_put("C-1", {"name": "Ana Lima"})])
        sessions = Sessions(build_graph(model=model, checkpointer=InMemorySaver(), store=store))
        first = await sessions.send("C-1", "Hello")
        assert "Hello Ana" in first.text

        own_cosmos.process.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        degraded = await sessions.send("C-1", "I prefer paper statements. What about savings?", first.session_id)
        assert time.monotonic() - started < 15, "bounded by MEMORY_TIMEOUT_SECONDS, never a hang"
        assert "temporarily unavailable" in degraded.text
        state = (await sessions.graph.aget_state({"configurable": {"thread_id": first.session_id}})).values
        said = [m.content for m in state["messages"] if m.type == "human"]
        assert said[-1] == "I prefer paper statements. What about savings?", "the customer's message is kept"
        assert {w["key"] for w in state["unsaved_memory"]} >= {first.session_id}

        own_cosmos.process.send_signal(signal.SIGCONT)
        await sessions.send("C-1", "Thanks!", first.session_id)
        state = (await sessions.graph.aget_state({"configurable": {"thread_id": first.session_id}})).values
        assert state["unsaved_memory"] == []
        facts = await store.asearch(memory.facts_namespace("C-1"))
        episode = await store.aget(memory.episodes_namespace("C-1"), first.session_id)
        assert [f.value["fact"] for f in facts] == ["I prefer paper statements"]
        assert episode.value["turns"] == 3 and "savings" in episode.value["topics"]


async def test_cosmos_throttling_mid_session_degrades_within_the_bound(cosmos_url, model, monkeypatch):
    monkeypatch.setenv("MEMORY_TIMEOUT_SECONDS", "2")
    transport = ThrottlingTransport(connection_verify=False)
    async with stores.aconnect(cosmos_url, transport=transport) as store:
        await store.abatch([memory.profile_put("C-6", {"name": "Ana Lima"})])
        sessions = Sessions(build_graph(model=model, checkpointer=InMemorySaver(), store=store))
        first = await sessions.send("C-6", "Hello")
        transport.throttled = True
        started = time.monotonic()
        degraded = await sessions.send("C-6", "I prefer email. Any fees?", first.session_id)
        assert time.monotonic() - started < 10 and "temporarily unavailable" in degraded.text
        transport.throttled = False
        await sessions.send("C-6", "Thanks", first.session_id)
        facts = await store.asearch(memory.facts_namespace("C-6"))
        episode = await store.aget(memory.episodes_namespace("C-6"), first.session_id)
    assert [f.value["fact"] for f in facts] == ["I prefer email"] and episode.value["turns"] == 3


async def test_ending_a_session_while_cosmos_throttles_keeps_it_open_and_loses_nothing(cosmos_url, model, monkeypatch):
    monkeypatch.setenv("MEMORY_TIMEOUT_SECONDS", "2")
    transport = ThrottlingTransport(connection_verify=False)
    async with stores.aconnect(cosmos_url, transport=transport) as store:
        sessions = Sessions(build_graph(model=model, checkpointer=InMemorySaver(), store=store))
        first = await sessions.send("C-14", "Any fees on my savings account?")
        transport.throttled = True
        with pytest.raises(MemoryUnavailable, match="end the session again later"):
            await sessions.end("C-14", first.session_id)
        transport.throttled = False
        config = {"configurable": {"thread_id": first.session_id}}
        assert not (await sessions.graph.aget_state(config)).values.get("ended"), "the session stays open"
        await sessions.send("C-14", "And on my current account?", first.session_id)  # it still takes turns
        episode = await sessions.end("C-14", first.session_id)
        stored = await store.aget(memory.episodes_namespace("C-14"), first.session_id)
    assert stored.value == episode and episode["status"] == "ended" and episode["turns"] == 2


async def test_model_timeouts_are_retried_then_reported(fake_openai, monkeypatch):
    from langchain_openai import ChatOpenAI

    from agent.models import ModelUnavailable

    slow = ChatOpenAI(model="gpt-4", base_url=fake_openai.base_url, api_key="sk-test", max_retries=1, timeout=0.5)
    sessions = Sessions(build_graph(model=slow, checkpointer=InMemorySaver(), store=InMemoryStore()))
    fake_openai.delay = 2
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match="Timeout"):
        await sessions.send("C-7", "Hello")
    assert time.monotonic() - started < 10 and len(fake_openai.requests) == 2, "one retry, then the error"


async def test_cosmos_down_at_the_start_of_a_session_still_answers(own_cosmos, model, monkeypatch):
    monkeypatch.setenv("MEMORY_TIMEOUT_SECONDS", "2")
    async with stores.aconnect(f"{own_cosmos.url}/bank/memory?tls=insecure") as store:
        own_cosmos.stop()
        sessions = Sessions(build_graph(model=model, checkpointer=InMemorySaver(), store=store))
        started = time.monotonic()
        reply = await sessions.send("C-2", "What's my balance?")
        assert time.monotonic() - started < 15
        assert "temporarily unavailable" in reply.text and "balance" in reply.text


async def test_redis_unreachable_mid_session_is_a_clear_bounded_error(own_redis, model):
    url = f"{own_redis.url}?mode=plain&timeout=2&connect_timeout=2"
    async with checkpointers.aconnect(url) as saver:
        sessions = Sessions(build_graph(model=model, checkpointer=saver, store=InMemoryStore()))
        first = await sessions.send("C-3", "Hello")
        own_redis.process.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(Exception) as failure:
            await sessions.send("C-3", "Are you there?", first.session_id)
        assert time.monotonic() - started < 15
        assert "Timeout" in type(failure.value).__name__ or "timed out" in str(failure.value).lower()
        own_redis.process.send_signal(signal.SIGCONT)
        again = await sessions.send("C-3", "Are you there?", first.session_id)
        assert again.text.startswith("[offline model]")
        state = (await sessions.graph.aget_state({"configurable": {"thread_id": first.session_id}})).values
        assert [m.content for m in state["messages"] if m.type == "human"][-1] == "Are you there?"


def test_the_cli_answers_degraded_when_cosmos_is_down_at_startup(tmp_path, scripted_openai):
    down = f"cosmos://127.0.0.1:{free_port()}/bank/memory?tls=insecure"
    world = AgentWorld(f"sqlite:///{tmp_path}/checkpoints.db", down, scripted_openai)
    customer = world.new_customer()
    started = time.monotonic()
    answered = world.chat(customer, "What's my balance?")
    assert answered.returncode == 0, answered.stderr
    assert "temporarily unavailable" in answered.stdout and "Traceback" not in answered.stderr
    assert time.monotonic() - started < 60
    profile = world.run("profile", "--customer", customer)
    errors = [line for line in profile.stderr.splitlines() if line.startswith("error: ")]
    assert profile.returncode != 0 and len(errors) == 1 and "Traceback" not in profile.stderr, profile.stderr


@pytest.mark.parametrize("front", ["Sessions", "graph"])
async def test_a_turn_waits_for_a_stalled_store_at_most_once(own_cosmos, model, monkeypatch, front):
    """Through ``Sessions`` and straight through the graph, as the API server runs it."""
    monkeypatch.setenv("MEMORY_TIMEOUT_SECONDS", "2")
    async with stores.aconnect(f"{own_cosmos.url}/bank/memory?tls=insecure") as store:
        graph = build_graph(model=model, checkpointer=InMemorySaver(), store=store)
        sessions = Sessions(graph)
        first = await sessions.send("C-1", "Hello")

        async def send(text: str) -> str:
            if front == "Sessions":
                return (await sessions.send("C-1", text, first.session_id)).text
            config = {"configurable": {"thread_id": first.session_id}}
            result = await graph.ainvoke({"messages": [HumanMessage(text)]}, config, context={"customer_id": "C-1"})
            return str(result["messages"][-1].content)

        own_cosmos.process.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        # load-context, remember-facts and record-episode all reach for the store.
        degraded = await send("I prefer paper statements.")
        waited = time.monotonic() - started
        assert "temporarily unavailable" in degraded
        assert waited < 4, f"waited {waited:.1f} s: more than one MEMORY_TIMEOUT_SECONDS"
        own_cosmos.process.send_signal(signal.SIGCONT)
        await send("Thanks!")
        facts = await store.asearch(memory.facts_namespace("C-1"))
    assert [f.value["fact"] for f in facts] == ["I prefer paper statements"], "the deferred write went out"
