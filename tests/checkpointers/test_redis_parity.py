"""The Redis savers behave as LangGraph's reference saver, ``InMemorySaver``
(issue 11, findings A-D), in every mode, sync and async: the same puts give
the same tuples, config values reach the metadata, async savers serve sync
calls from other threads, and bursts queue on a cluster."""

import asyncio
from contextlib import asynccontextmanager

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.memory import InMemorySaver

from checkpointers import aconnect, connect
from tests.support.fixtures_redis import SyncSaverUnderTest, new_thread_id
from tests.support.redis_graph import EXPECTED_AFTER_TWO_TURNS, contents, conversation_graph, turn

VERSIONS = [InMemorySaver().get_next_version(None, None)]
VERSIONS.append(InMemorySaver().get_next_version(VERSIONS[0], None))


@asynccontextmanager
async def _saver(url: str, api: str):
    """The saver under test, its sync API presented through async methods."""
    if api == "async":
        async with aconnect(url) as saver:
            yield saver
    else:
        with connect(url) as saver:
            yield SyncSaverUnderTest(saver)


def _checkpoint(step: int, messages: list, checkpoint_id: str | None = None) -> dict:
    """A checkpoint as LangGraph 1.x writes them (format 4: no ``pending_sends``)."""
    checkpoint = empty_checkpoint()
    del checkpoint["pending_sends"]
    checkpoint.update(
        v=4, id=checkpoint_id or str(uuid6(clock_seq=step)), ts="2026-11-26T00:00:00+00:00",
        channel_values={"messages": messages, "topic": f"step {step}"},
        channel_versions={"messages": VERSIONS[step], "topic": VERSIONS[step]},
        versions_seen={"agent": {"messages": VERSIONS[step]}},
        updated_channels=["messages", "topic"],
    )
    return checkpoint


async def _history(saver, thread_id: str, run_id: str, ids: list[str]) -> list:
    """A two-step thread (checkpoint ``ids``) put with LangGraph-API-style
    config values, a pending write, and what the saver then hands back."""
    messages = [HumanMessage("hello", id="m1")]
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": "", "run_id": run_id,
                               "test_config_1": "one", "assistant_id": "a"},
              "metadata": {"graph_id": "agent", "__private": "x"}}
    for step in range(2):
        checkpoint = _checkpoint(step, messages, ids[step])
        stored = await saver.aput(config, checkpoint, {"source": "loop", "step": step, "parents": {}},
                                  {"messages": VERSIONS[step], "topic": VERSIONS[step]})
        config = {**config, "configurable": {**config["configurable"], **stored["configurable"]}}
        messages = [*messages, AIMessage(f"answer {step}", id=f"a{step}")]
    await saver.aput_writes(stored, [("messages", [HumanMessage("next", id="m2")])], "task-1")
    return [await saver.aget_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}),
            *[t async for t in saver.alist({"configurable": {"thread_id": thread_id}})]]


@pytest.mark.parametrize("api", ["async", "sync"])
async def test_tuples_equal_in_memory_savers(redis_target, api):
    """Finding B (no extra checkpoint keys) and A (config values in metadata)."""
    thread_id, run_id, ids = new_thread_id(), str(uuid6()), [str(uuid6()), str(uuid6())]
    expected = await _history(InMemorySaver(), thread_id, run_id, ids)
    async with _saver(redis_target.url, api) as saver:
        found = await _history(saver, thread_id, run_id, ids)
    assert [t.checkpoint for t in found] == [t.checkpoint for t in expected]
    assert [t.metadata for t in found] == [t.metadata for t in expected]
    assert found[0].metadata["test_config_1"] == "one" and found[0].metadata["run_id"] == run_id
    assert [(t.config, t.parent_config, t.pending_writes) for t in found] == [
        (t.config, t.parent_config, t.pending_writes) for t in expected]


@pytest.mark.parametrize("api", ["async", "sync"])
async def test_runs_are_found_and_deleted_by_the_run_id_in_config(redis_target, api):
    """Finding A: the LangGraph API server passes ``run_id`` in the config and
    rolls a run back with ``delete_for_runs``."""
    thread_id, run_id, other_run = new_thread_id(), str(uuid6()), str(uuid6())
    async with _saver(redis_target.url, api) as saver:
        await _history(saver, thread_id, run_id, [str(uuid6()), str(uuid6())])
        other_thread = new_thread_id()
        await _history(saver, other_thread, other_run, [str(uuid6()), str(uuid6())])
        listed = [t async for t in saver.alist(None, filter={"run_id": run_id})]
        assert [t.config["configurable"]["thread_id"] for t in listed] == [thread_id, thread_id]
        await saver.adelete_for_runs([run_id])
        assert [t async for t in saver.alist({"configurable": {"thread_id": thread_id}})] == []
        assert len([t async for t in saver.alist({"configurable": {"thread_id": other_thread}})]) == 2


async def test_async_savers_serve_sync_calls_from_other_threads(redis_target):
    """Finding C: as ``AsyncSqliteSaver``, e.g. ``get_state_history`` run
    through ``asyncio.to_thread`` or a sync node calling ``subgraph.invoke``."""
    thread_id, copy_id = new_thread_id(), new_thread_id()
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}

    def sync_calls(saver):
        stored = saver.put(config, _checkpoint(0, [HumanMessage("hi", id="m1")]), {"step": 0},
                           {"messages": VERSIONS[0], "topic": VERSIONS[0]})
        saver.put_writes(stored, [("topic", "later")], "task-1")
        latest = saver.get_tuple(config)
        listed = list(saver.list(config))
        saver.copy_thread(thread_id, copy_id)
        copied = saver.get_tuple({"configurable": {"thread_id": copy_id, "checkpoint_ns": ""}})
        saver.prune([copy_id])
        saver.delete_for_runs(["no-such-run"])
        saver.delete_thread(thread_id)
        return latest, listed, copied, saver.get_tuple(config)

    async with aconnect(redis_target.url) as saver:
        latest, listed, copied, gone = await asyncio.to_thread(sync_calls, saver)
        assert latest.checkpoint["channel_values"]["messages"][0].content == "hi"
        assert latest.pending_writes == [("task-1", "topic", "later")]
        assert [t.config for t in listed] == [latest.config]
        assert copied.checkpoint == latest.checkpoint
        assert gone is None
        with pytest.raises(asyncio.InvalidStateError, match="aget_tuple"):
            saver.get_tuple(config)  # on the loop's own thread it would deadlock


async def test_bursts_queue_instead_of_failing(redis_target):
    """Finding D: more concurrent sessions than connections wait for one
    (redis-py's cluster client raises MaxConnectionsError at 100 per node)."""
    burst = 300  # on a 3-node cluster, 100 connections per node are not enough
    threads = [new_thread_id() for _ in range(burst)]
    async with aconnect(redis_target.url) as saver:
        await asyncio.gather(*(
            saver.aput({"configurable": {"thread_id": t, "checkpoint_ns": ""}},
                       _checkpoint(0, [HumanMessage(t)]), {"step": 0},
                       {"messages": VERSIONS[0], "topic": VERSIONS[0]}) for t in threads))
        found = await asyncio.gather(*(
            saver.aget_tuple({"configurable": {"thread_id": t, "checkpoint_ns": ""}}) for t in threads))
        assert [f.checkpoint["channel_values"]["messages"][0].content for f in found] == threads
        await asyncio.gather(*(saver.adelete_thread(t) for t in threads))


async def test_graph_history_from_a_worker_thread(redis_target):
    """Finding C as an app meets it: ``get_state_history`` via ``asyncio.to_thread``
    and a sync ``invoke`` in a worker thread, on a graph with an async saver."""
    config = {"configurable": {"thread_id": new_thread_id()}}
    async with aconnect(redis_target.url) as saver:
        graph = conversation_graph().compile(checkpointer=saver)
        await graph.ainvoke(turn("balance?"), config)
        await asyncio.to_thread(graph.invoke, turn("card?"), config)
        history = await asyncio.to_thread(lambda: list(graph.get_state_history(config)))
        assert [s.config for s in history] == [s.config async for s in graph.aget_state_history(config)]
        assert contents(history[0].values) == EXPECTED_AFTER_TWO_TURNS
