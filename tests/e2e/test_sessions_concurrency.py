"""Concurrent sends to one session (issue 8, finding 2): turns are serialised by
a lease in the checkpointer's back end, across processes.

On every back end (SQLite file, Redis with modules, plain Redis, a Redis
Cluster): two one-shot ``chat --message`` processes send at the same moment,
then three long-lived replicas take 5 and then 20 messages at once. Every
message is answered and present exactly once, each replica's messages in the
order it sent them, each turn whole (no two customer messages without an
answer between them), and the turn count and the episode agree.
"""

from __future__ import annotations

import pytest

import checkpointers
import stores
from agent import build_graph, memory
from agent.offline_model import OfflineBankModel
from agent.sessions import Sessions
from tests.support.fixtures_e2e import AgentProcess, AgentWorld

pytestmark = pytest.mark.long

BUDGET = "100000"  # no summarising: every message stays in the thread to be counted


def checkpointer_url(backend: str, request, tmp_path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/checkpoints.db"
    if backend == "cluster":
        return f"{request.getfixturevalue('redis_cluster').url}?mode=plain"
    return f"{request.getfixturevalue('redis_' + backend).url}?mode={backend}"


async def first_turn(world: AgentWorld, customer: str, text: str) -> str:
    """A new session with one turn, started in this process; its id."""
    async with checkpointers.aconnect(world.checkpointer_url) as saver, stores.aconnect(world.store_url) as store:
        model = OfflineBankModel()
        sessions = Sessions(build_graph(model=model, checkpointer=saver, store=store))
        return (await sessions.send(customer, text, token_budget=int(BUDGET))).session_id


def answers(replica: AgentProcess, burst: list[str]) -> None:
    """Wait until the replica answered every message of its burst."""
    for _ in burst:
        replica.read_answer()


@pytest.mark.parametrize("backend", ["sqlite", "modules", "plain", "cluster"])
async def test_concurrent_sends_to_one_session_are_each_answered_once_in_order(
    backend, request, tmp_path, scripted_openai,
):
    world = AgentWorld(checkpointer_url(backend, request, tmp_path), f"sqlite:///{tmp_path}/store.db", scripted_openai)
    customer = world.new_customer()
    session = await first_turn(world, customer, "Hello, message 0.")
    sent = [["Hello, message 0."]]
    try:
        # The replicas start while the pair runs: process start-up is most of the cost.
        replicas = [world.replica(customer, session, "--budget", BUDGET) for _ in range(3)]
        pair = [f"Message {i} of the pair." for i in (1, 2)]
        results = world.run_together([["chat", "--customer", customer, "--session", session, "--message", text,
                                       "--budget", BUDGET] for text in pair])
        for result in results:
            assert result.returncode == 0 and "agent> " in result.stdout, result.stderr
        sent += [[text] for text in pair]

        for size in (5, 20):
            bursts = [[f"Burst of {size}, message {i}." for i in range(r, size, 3)] for r in range(3)]
            for replica, burst in zip(replicas, bursts):
                replica.send("".join(f"{text}\n" for text in burst))
            for replica, burst in zip(replicas, bursts):
                answers(replica, burst)
            sent += bursts
        for replica in replicas:
            assert replica.close() == 0, replica.stderr()
    finally:
        world.stop()

    values = (await world.snapshot(session)).values
    said = [m.content for m in values["messages"] if m.type == "human"]
    everything = [text for group in sent for text in group]
    assert sorted(said) == sorted(everything) and len(said) == len(set(said)), "each message exactly once"
    for group in sent:
        assert [text for text in said if text in group] == group, "a replica's messages in the order it sent them"
    kinds = [m.type for m in values["messages"] if m.type in ("human", "ai")]
    assert all(kinds[i + 1] == "ai" for i, kind in enumerate(kinds) if kind == "human"), "every turn answered whole"
    assert values["turns"] == len(everything) == 28
    async with stores.aconnect(world.store_url) as store:
        episode = await store.aget(memory.episodes_namespace(customer), session)
    assert episode.value["turns"] == len(everything)
