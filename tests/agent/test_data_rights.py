"""A customer's data rights on every checkpointer: export everything, erase
everything (threads whose turn never finished included), delete one session."""

from __future__ import annotations

import json
import sqlite3

import pytest
from langchain_core.messages import HumanMessage

import checkpointers
import stores
from agent import build_graph
from agent.context import Context
from agent.errors import ModelUnavailable, SessionOwnershipError, SessionUnavailable
from agent.sessions import Sessions
from tests.support.raw_backends import redis_contents, sqlite_contents

SAVERS = ["sqlite", "memory", "redis-modules", "redis-plain", "redis-cluster"]


@pytest.fixture(params=SAVERS)
def saver_url(request, tmp_path):
    """(checkpointer URL, Redis ports to scan or None) for each kind of checkpointer."""
    kind = request.param
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'checkpoints.db'}", None
    if kind == "memory":
        return "memory://", None
    server = request.getfixturevalue({"redis-modules": "redis_modules", "redis-plain": "redis_plain",
                                      "redis-cluster": "redis_cluster"}[kind])
    if kind == "redis-cluster":
        return f"{server.url}?mode=plain", [node.port for node in server.nodes]
    return f"{server.url}?mode={kind.split('-')[1]}", [server.port]


async def test_export_then_erase_leaves_nothing_of_the_customer_and_keeps_the_others(
    saver_url, tmp_path, fake_openai, model
):
    url, ports = saver_url
    customer, other = f"C-erase-{tmp_path.name[-8:]}", f"C-keep-{tmp_path.name[-8:]}"
    async with checkpointers.aconnect(url) as saver, stores.aconnect(f"sqlite:///{tmp_path / 'store.db'}") as store:
        sessions = Sessions(build_graph(model=model, checkpointer=saver, store=store))
        done = await sessions.send(customer, "I prefer paper statements, marker quokka-ember.")
        fake_openai.failures = [500, 500, 500]  # the client's retries spent: the turn never finishes
        with pytest.raises(ModelUnavailable):
            await sessions.send(customer, "Is the wombat-cipher loan still open?")
        kept = await sessions.send(other, "I prefer email.")

        exported = json.dumps(await sessions.export_customer(customer))
        for said in ["marker quokka-ember", "wombat-cipher", "paper statements"]:
            assert said in exported, said
        assert "I prefer email" not in exported

        with pytest.raises(SessionOwnershipError):
            await sessions.delete_session(other, done.session_id)
        assert await sessions.erase_customer(customer) == {"sessions": 2, "memory_items": 2}
        assert await sessions.erase_customer(customer) == {"sessions": 0, "memory_items": 0}

        assert await sessions.export_customer(customer) | {"exported_at": None} == {
            "customer_id": customer, "exported_at": None, "profile": None, "facts": [], "episodes": [],
            "other_memory": [], "sessions": [],
        }
        assert (await sessions.send(other, "And my statements?", kept.session_id)).text
        raw = sqlite_contents(tmp_path / "store.db")
        if ports:
            raw += redis_contents(ports)
        elif url.startswith("sqlite"):
            raw += sqlite_contents(tmp_path / "checkpoints.db")
        else:
            raw += repr((saver.storage, saver.writes, saver.blobs))
    for gone in [customer, done.session_id, "quokka-ember", "wombat-cipher", "paper statements"]:
        assert gone not in raw, gone
    assert other in raw and kept.session_id in raw


async def test_deleting_a_session_removes_its_thread_and_episode_only(tmp_path, fake_openai, model):
    async with checkpointers.aconnect(f"sqlite:///{tmp_path / 'c.db'}") as saver, \
            stores.aconnect(f"sqlite:///{tmp_path / 's.db'}") as store:
        sessions = Sessions(build_graph(model=model, checkpointer=saver, store=store))
        first = await sessions.send("C-1", "I prefer calls, marker heron-basalt.")
        second = await sessions.send("C-1", "What about the kestrel-onyx mortgage?")
        await sessions.delete_session("C-1", first.session_id)
        with pytest.raises(SessionUnavailable, match="no session"):
            await sessions.delete_session("C-1", first.session_id)
        assert [e["session_id"] for e in await sessions.history("C-1")] == [second.session_id]
    with sqlite3.connect(tmp_path / "c.db") as db:
        threads = {row[0] for table in ("checkpoints", "writes")
                   for row in db.execute(f"SELECT DISTINCT thread_id FROM {table}")}
    assert threads == {second.session_id}


async def test_a_thread_whose_metadata_names_another_customer_is_not_theirs_to_export_or_erase(tmp_path, model):
    """An API caller can write a run's metadata; the thread's owner is its state's."""
    async with checkpointers.aconnect(f"sqlite:///{tmp_path / 'c.db'}") as saver, \
            stores.aconnect(f"sqlite:///{tmp_path / 's.db'}") as store:
        graph = build_graph(model=model, checkpointer=saver, store=store)
        config = {"configurable": {"thread_id": "t-of-a"}, "metadata": {"customer_id": "C-B"}}
        await graph.ainvoke({"messages": [HumanMessage("My salary is 4,000, marker ibis-granite.")]}, config,
                            context=Context(customer_id="C-A"))
        sessions = Sessions(graph)
        assert "ibis-granite" not in json.dumps(await sessions.export_customer("C-B"))
        assert await sessions.erase_customer("C-B") == {"sessions": 0, "memory_items": 0}
        assert "ibis-granite" in json.dumps(await sessions.export_customer("C-A"))
