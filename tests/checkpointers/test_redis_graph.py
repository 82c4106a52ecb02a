"""A LangGraph graph through every Redis mode: resumed by a fresh saver from the
same URL, same history as InMemorySaver, and delete_thread leaves no key."""

import redis.asyncio.cluster
from langgraph.checkpoint.memory import InMemorySaver

from checkpointers import aconnect, connect
from tests.support.fixtures_redis import new_thread_id
from tests.support.redis_graph import (
    EXPECTED_AFTER_TWO_TURNS,
    contents,
    conversation_graph,
    turn,
)


def _shape(history) -> list[tuple]:
    return [(s.metadata["step"], s.metadata["source"], tuple(contents(s.values)), s.next)
            for s in history]


def _reference_history() -> list[tuple]:
    graph = conversation_graph().compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "reference"}}
    graph.invoke(turn("balance?"), config)
    graph.invoke(turn("card?"), config)
    return _shape(graph.get_state_history(config))


async def test_async_graph_resumes_from_a_fresh_saver(redis_target):
    config = {"configurable": {"thread_id": new_thread_id()}}
    async with aconnect(redis_target.url) as saver:
        if redis_target.name == "cluster":
            assert isinstance(saver.client, redis.asyncio.cluster.RedisCluster)
        await conversation_graph().compile(checkpointer=saver).ainvoke(turn("balance?"), config)
    async with aconnect(redis_target.url) as saver:
        graph = conversation_graph().compile(checkpointer=saver)
        result = await graph.ainvoke(turn("card?"), config)
        history = [state async for state in graph.aget_state_history(config)]
    assert contents(result) == EXPECTED_AFTER_TWO_TURNS
    assert _shape(history) == _reference_history()


def test_sync_graph_resumes_and_delete_thread_leaves_no_key(redis_target):
    thread_id = new_thread_id()
    config = {"configurable": {"thread_id": thread_id}}
    with connect(redis_target.url) as saver:
        conversation_graph().compile(checkpointer=saver).invoke(turn("balance?"), config)
    with connect(redis_target.url) as saver:
        graph = conversation_graph().compile(checkpointer=saver)
        assert contents(graph.invoke(turn("card?"), config)) == EXPECTED_AFTER_TWO_TURNS
        assert _shape(graph.get_state_history(config)) == _reference_history()
        assert redis_target.keys_of(thread_id)
        saver.delete_thread(thread_id)
        assert redis_target.keys_of(thread_id) == []
        assert graph.get_state(config).values == {}


def test_channel_values_are_stored_once_per_version(redis_target):
    """One blob per (namespace, channel, version), not one per checkpoint."""
    thread_id = new_thread_id()
    config = {"configurable": {"thread_id": thread_id}}
    with connect(redis_target.url) as saver:
        graph = conversation_graph().compile(checkpointer=saver)
        graph.invoke(turn("balance?"), config)
        graph.invoke(turn("card?"), config)
        tuples = list(saver.list(config))
        if redis_target.name == "modules":
            fields = saver._redis.hkeys(saver._blob_key(thread_id))
        else:
            fields = saver.client.hkeys(saver.thread_keys(thread_id)[2])
    versions = {f"{t.config['configurable']['checkpoint_ns']}\0{channel}\0{version}".encode()
                for t in tuples for channel, version in t.checkpoint["channel_versions"].items()}
    assert set(fields) == versions
    assert len(fields) < sum(len(t.checkpoint["channel_versions"]) for t in tuples)
