"""Connection failures give a clear RedisCheckpointerError, fast, with the
password redacted; auto mode logs which mode it chose."""

import logging
import socket
import time

import pytest
import redis

from checkpointers import aconnect, connect
from checkpointers.redis import RedisCheckpointerError
from backends.devservers import RedisServer, free_port

BOUND_S = 4.0


def _fails_fast(url: str, **options) -> str:
    started = time.monotonic()
    with pytest.raises(RedisCheckpointerError) as raised, connect(url, **options):
        pass
    assert time.monotonic() - started < BOUND_S
    assert isinstance(raised.value, ConnectionError)
    return str(raised.value)


async def _afails_fast(url: str, **options) -> str:
    started = time.monotonic()
    with pytest.raises(RedisCheckpointerError) as raised:
        async with aconnect(url, **options):
            pass
    assert time.monotonic() - started < BOUND_S
    return str(raised.value)


async def test_unreachable_server():
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    for message in (_fails_fast(url), await _afails_fast(url)):
        assert "redis://:***@127.0.0.1" in message and "hunter2" not in message


async def test_server_that_never_answers_times_out():
    with socket.socket() as silent:  # accepts connections, never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}"
        assert "Timeout" in _fails_fast(url, timeout=1)
        assert "Timeout" in await _afails_fast(url, timeout=1)


@pytest.fixture(scope="module")
def redis_with_password(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis-auth")).start()
    client = redis.Redis(port=server.port)
    client.config_set("requirepass", "right-secret")
    client.close()
    yield server
    server.stop()


async def test_wrong_password(redis_with_password):
    url = f"redis://:wrong-secret@127.0.0.1:{redis_with_password.port}"
    for message in (_fails_fast(url), await _afails_fast(url)):
        assert "***" in message and "wrong-secret" not in message
    with connect(f"redis://:right-secret@127.0.0.1:{redis_with_password.port}") as saver:
        assert saver.get_tuple({"configurable": {"thread_id": "none"}}) is None


async def test_modules_mode_without_modules(redis_plain):
    url = redis_plain.url.replace("redis://", "redis://:pw@") + "?mode=modules"
    for message in (_fails_fast(url), await _afails_fast(url)):
        assert "mode=modules" in message and ":***@" in message and ":pw@" not in message


def test_auto_mode_logs_its_choice(redis_plain, redis_modules, caplog):
    caplog.set_level(logging.INFO, logger="checkpointers.redis")
    with connect(redis_plain.url) as plain, connect(redis_modules.url) as modules:
        assert type(plain).__name__ == "PlainRedisSaver"
        assert type(modules).__name__ == "ModulesRedisSaver"
    logged = [r.getMessage() for r in caplog.records if r.name == "checkpointers.redis"]
    assert f"Redis checkpointer at {redis_plain.url}: plain mode (detected)" in logged
    assert f"Redis checkpointer at {redis_modules.url}: modules mode (detected)" in logged


async def test_auto_mode_when_module_list_is_refused(tmp_path):
    server = RedisServer(tmp_path, modules=True,
                         extra_args=["--rename-command", "MODULE", ""]).start()
    try:
        with connect(server.url) as saver:
            assert type(saver).__name__ == "ModulesRedisSaver"
        async with aconnect(server.url) as saver:
            assert type(saver).__name__ == "AsyncModulesRedisSaver"
    finally:
        server.stop()
