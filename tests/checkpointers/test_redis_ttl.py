"""TTL covers the whole thread: reads keep all its history alive, and after
the TTL every key of the thread is gone (counted with SCAN)."""

import asyncio
from contextlib import asynccontextmanager

from checkpointers import aconnect
from tests.support.fixtures_redis import new_thread_id
from tests.support.redis_graph import conversation_graph, turn


@asynccontextmanager
async def one_turn_thread(target, ttl_minutes: float):
    """A graph on a saver with the given TTL, after one turn on a new thread."""
    thread_id = new_thread_id()
    config = {"configurable": {"thread_id": thread_id}}
    async with aconnect(target.with_options(ttl=ttl_minutes)) as saver:
        graph = conversation_graph().compile(checkpointer=saver)
        await graph.ainvoke(turn("balance?"), config)
        yield graph, config, thread_id


async def test_whole_thread_expires_after_ttl(redis_target):
    async with one_turn_thread(redis_target, 0.02) as (graph, config, thread_id):  # 1.2 s
        ttls = redis_target.ttls_of(thread_id)
        assert ttls and all(0 < ttl <= 1200 for ttl in ttls.values()), ttls
        await asyncio.sleep(1.6)
        assert redis_target.keys_of(thread_id) == []
        assert (await graph.aget_state(config)).values == {}


async def test_reads_keep_the_whole_history_alive(redis_target):
    async with one_turn_thread(redis_target, 0.05) as (graph, config, thread_id):  # 3 s
        history = [s.config async for s in graph.aget_state_history(config)]
        key_count = len(redis_target.keys_of(thread_id))
        for _ in range(5):  # 5 s of activity, longer than the TTL
            await asyncio.sleep(1)
            assert (await graph.aget_state(config)).values["messages"]
        assert [s.config async for s in graph.aget_state_history(config)] == history
        assert len(redis_target.keys_of(thread_id)) == key_count
        await asyncio.sleep(3.5)
        assert redis_target.keys_of(thread_id) == []
