"""TTL covers the whole thread: reads keep all its history alive, and after
the TTL every key of the thread is gone (counted with SCAN)."""

import asyncio

from checkpointers import aconnect
from tests.fixtures_redis import new_thread_id
from tests.redis_graph import conversation_graph, turn


async def test_whole_thread_expires_after_ttl(redis_target):
    thread_id = new_thread_id()
    config = {"configurable": {"thread_id": thread_id}}
    async with aconnect(redis_target.with_options(ttl=0.02)) as saver:  # 1.2 s
        graph = conversation_graph().compile(checkpointer=saver)
        await graph.ainvoke(turn("balance?"), config)
        ttls = redis_target.ttls_of(thread_id)
        assert ttls and all(0 < ttl <= 1200 for ttl in ttls.values()), ttls
        await asyncio.sleep(1.6)
        assert redis_target.keys_of(thread_id) == []
        assert (await graph.aget_state(config)).values == {}


async def test_reads_keep_the_whole_history_alive(redis_target):
    thread_id = new_thread_id()
    config = {"configurable": {"thread_id": thread_id}}
    async with aconnect(redis_target.with_options(ttl=0.05)) as saver:  # 3 s
        graph = conversation_graph().compile(checkpointer=saver)
        await graph.ainvoke(turn("balance?"), config)
        history = [s.config async for s in graph.aget_state_history(config)]
        key_count = len(redis_target.keys_of(thread_id))
        for _ in range(5):  # 5 s of activity, longer than the TTL
            await asyncio.sleep(1)
            assert (await graph.aget_state(config)).values["messages"]
        assert [s.config async for s in graph.aget_state_history(config)] == history
        assert len(redis_target.keys_of(thread_id)) == key_count
        await asyncio.sleep(3.5)
        assert redis_target.keys_of(thread_id) == []
