"""A Redis restart with AOF on keeps threads (both modes), and savers kept
open across the restart reconnect."""

import pytest

from checkpointers import aconnect, connect
from tests.support.fixtures_redis import new_thread_id
from tests.support.redis_graph import (
    EXPECTED_AFTER_TWO_TURNS,
    contents,
    conversation_graph,
    turn,
)
from backends.devservers import RedisServer


@pytest.fixture(params=["modules", "plain"])
def aof_redis(request, tmp_path):
    """A Redis with ``appendonly yes``, its checkpointer URL for the mode, and
    the config of a new thread."""
    mode = request.param
    server = RedisServer(tmp_path, modules=mode == "modules", appendonly=True).start()
    yield server, f"{server.url}?mode={mode}", {"configurable": {"thread_id": new_thread_id()}}
    server.stop()


async def test_threads_survive_a_restart_with_aof(aof_redis):
    server, url, config = aof_redis
    async with aconnect(url) as saver:
        await conversation_graph().compile(checkpointer=saver).ainvoke(turn("balance?"), config)
    server.restart()
    async with aconnect(url) as saver:
        graph = conversation_graph().compile(checkpointer=saver)
        assert len([s async for s in graph.aget_state_history(config)]) == 4
        assert contents(await graph.ainvoke(turn("card?"), config)) == EXPECTED_AFTER_TWO_TURNS


async def test_a_saver_kept_open_reconnects_after_a_restart(aof_redis):
    """Pooled connections die with the server; the next call must reconnect."""
    server, url, config = aof_redis
    async with aconnect(url) as asaver:
        with connect(url) as saver:
            graph = conversation_graph().compile(checkpointer=asaver)
            await graph.ainvoke(turn("balance?"), config)
            assert saver.get_tuple(config) is not None
            server.restart()
            assert contents(await graph.ainvoke(turn("card?"), config)) == EXPECTED_AFTER_TWO_TURNS
            assert len(list(saver.list(config))) == 8
