"""Redis with AOF persistence restarted between turns, gracefully and by
SIGKILL: every thread survives and the next turn continues it, whether it is
served by a new process or by a server process that stayed up."""

from __future__ import annotations

import signal

import pytest

from tests.support.fixtures_e2e import redis_keys_of, session_of, user_texts
from backends.devservers import RedisServer

FIRST = "I am interested in a 12-month CD."
SECOND = "Can you tell me about mortgage rates?"
THIRD = "What did we talk about earlier?"


@pytest.fixture(params=["modules", "plain"])
def redis_aof(request, tmp_path):
    """A Redis with ``appendonly yes`` / ``appendfsync always``, with the modules
    (the checkpointer's modules mode) and without (its plain mode)."""
    server = RedisServer(tmp_path / "redis-aof", modules=request.param == "modules", appendonly=True).start()
    yield server
    server.stop()


def crash_and_restart(server: RedisServer) -> None:
    """SIGKILL: only what reached the append-only file survives."""
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    server.start()


async def test_threads_survive_redis_restarts_with_aof(agent_world_on, redis_aof):
    world = agent_world_on(redis_aof.url)
    customer = world.new_customer()
    first = world.chat(customer, FIRST)
    assert first.returncode == 0, first.stderr
    session = session_of(first.stdout)
    assert redis_keys_of(redis_aof.url, session), "the thread is stored under its id"

    redis_aof.restart()  # SIGTERM, then the same port: Redis replays its append-only file
    second = world.chat(customer, SECOND, session)
    assert second.returncode == 0, second.stderr
    assert user_texts(world.model.chat_requests()[-1]) == [FIRST, SECOND]

    crash_and_restart(redis_aof)
    third = world.chat(customer, THIRD, session)
    assert third.returncode == 0, third.stderr
    assert user_texts(world.model.chat_requests()[-1]) == [FIRST, SECOND, THIRD]
    snapshot = await world.snapshot(session)
    assert snapshot.next == () and snapshot.values["turns"] == 3
    assert [m.content for m in snapshot.values["messages"] if m.type == "human"] == [FIRST, SECOND, THIRD]
    world.assert_no_duplicates(customer, [session])


@pytest.mark.parametrize("redis_aof", ["modules"], indirect=True)  # both modes share the client settings
async def test_a_running_server_process_carries_on_after_redis_restarts(agent_world_on, redis_aof):
    """The agent process stays up while Redis restarts under it: its pooled
    connections are dead and the next command must reconnect, not fail the turn."""
    world = agent_world_on(redis_aof.url)
    customer = world.new_customer()
    replica = world.replica(customer)
    replica.say(FIRST)
    session = session_of("".join(replica.output))

    redis_aof.restart()
    assert "mortgage" in replica.say(SECOND)
    crash_and_restart(redis_aof)
    replica.say(THIRD)
    assert user_texts(world.model.chat_requests()[-1]) == [FIRST, SECOND, THIRD]
    assert replica.close() == 0, replica.stderr()
    snapshot = await world.snapshot(session)
    assert snapshot.next == () and snapshot.values["turns"] == 3
