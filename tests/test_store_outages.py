"""Store outages (issue 8, finding 7): the CLI answers, degraded, when Cosmos DB
cannot be reached at startup, and a turn waits for a stalled store at most once."""

from __future__ import annotations

import signal
import time

import pytest
from langgraph.checkpoint.memory import InMemorySaver

import stores
from agent import build_graph, memory
from agent.sessions import Sessions
from tests.fixtures_e2e import AgentWorld
from tests.services import CosmosServer, free_port


@pytest.fixture
def own_cosmos(cosmos_key):
    """A Cosmos DB server this test alone may stop."""
    server = CosmosServer().start()
    yield server
    server.process.send_signal(signal.SIGCONT)
    server.stop()


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


async def test_a_turn_waits_for_a_stalled_store_at_most_once(own_cosmos, model, monkeypatch):
    monkeypatch.setenv("MEMORY_TIMEOUT_SECONDS", "2")
    async with stores.aconnect(f"{own_cosmos.url}/bank/memory?tls=insecure") as store:
        sessions = Sessions(build_graph(model=model, checkpointer=InMemorySaver(), store=store), model)
        first = await sessions.send("C-1", "Hello")
        own_cosmos.process.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        # load-context, remember-facts and record-episode all reach for the store.
        degraded = await sessions.send("C-1", "I prefer paper statements.", first.session_id)
        waited = time.monotonic() - started
        assert "temporarily unavailable" in degraded.text
        assert waited < 4, f"waited {waited:.1f} s: more than one MEMORY_TIMEOUT_SECONDS"
        own_cosmos.process.send_signal(signal.SIGCONT)
        await sessions.send("C-1", "Thanks!", first.session_id)
        facts = await store.asearch(memory.facts_namespace("C-1"))
    assert [f.value["fact"] for f in facts] == ["I prefer paper statements"], "the deferred write went out"
