"""The first words with a Redis server: is it there, a cluster, with modules?

``connect`` / ``aconnect`` (the package's ``__init__``) run one handshake
operation on a fresh client, with the sync or async executor below
(``backends.sansio``), and get back the client to build the saver on and
the mode to use.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
from redis.exceptions import RedisError, ResponseError

from backends.registry import redact
from backends.sansio import Operation, arun, run
from checkpointers.redis.calls import Command
from checkpointers.redis.options import RedisOptions

MAX_CONNECTIONS = 64

logger = logging.getLogger("checkpointers.redis")


class RedisCheckpointerError(ConnectionError):
    """Redis cannot serve as the checkpointer: unreachable, refused, or lacking
    the modules that ``mode=modules`` needs. The message names the URL without
    its password."""


def _module_names(reply: Any) -> set[str]:
    names = set()
    for entry in reply:
        if isinstance(entry, (list, tuple)):
            entry = dict(zip(entry[::2], entry[1::2]))
        name = entry.get(b"name", entry.get("name", b""))
        names.add((name.decode() if isinstance(name, bytes) else str(name)).lower())
    return names


def _handshake(options: RedisOptions) -> Operation:
    """Check the server answers; return (is_cluster, has_modules)."""
    try:
        info = yield Command(("INFO", "cluster"))
    except ResponseError:  # an ACL may refuse INFO: then it is no cluster unless the URL says so
        info = None
    is_cluster = options.cluster.lower() in ("1", "yes", "true") or (
        options.cluster == "auto" and isinstance(info, dict) and bool(info.get("cluster_enabled"))
    )
    if options.mode == "plain":
        return is_cluster, False
    try:
        modules = yield Command(("MODULE", "LIST"))
        return is_cluster, {"search", "rejson"} <= _module_names(modules)
    except ResponseError:  # managed services may refuse MODULE LIST: try the commands themselves
        pass
    try:
        yield Command(("FT._LIST",))
        yield Command(("JSON.TYPE", "checkpointers:probe"))
    except ResponseError:
        return is_cluster, False
    return is_cluster, True


def _choose(options: RedisOptions, has_modules: bool) -> str:
    if options.mode == "modules" and not has_modules:
        raise RedisCheckpointerError(
            f"Redis at {redact(options.url)} lacks RediSearch + RedisJSON, which mode=modules "
            "needs; use mode=plain (or mode=auto) for a server without modules"
        )
    mode = options.mode if options.mode != "auto" else ("modules" if has_modules else "plain")
    logger.info("Redis checkpointer at %s: %s mode%s", redact(options.url), mode,
                " (detected)" if options.mode == "auto" else "")
    return mode


def _failure(options: RedisOptions, error: Exception) -> RedisCheckpointerError:
    return RedisCheckpointerError(
        f"cannot use Redis at {redact(options.url)} as checkpointer: "
        f"{type(error).__name__}: {error}"
    )


def _waiting_pool(client: Any, pool_class: type, options: RedisOptions) -> Any:
    # redis-py's default pool raises "Too many connections" once every
    # connection is busy; a blocking pool makes a burst of sessions queue for
    # up to the command timeout instead of failing.
    pool = client.connection_pool
    return type(client).from_pool(pool_class(
        connection_class=pool.connection_class, max_connections=MAX_CONNECTIONS,
        timeout=options.timeout, **pool.connection_kwargs,
    ))


class QueueingRedisCluster(redis.asyncio.cluster.RedisCluster):
    """redis-py's asyncio cluster client, whose commands wait for one of
    ``MAX_CONNECTIONS`` places in flight: its nodes' pools raise ``MaxConnectionsError``
    when full instead of waiting, as a single server's blocking pool does, so
    a burst of sessions would fail rather than queue."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight = asyncio.Semaphore(MAX_CONNECTIONS)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self._in_flight:
            return await super().execute_command(*args, **kwargs)


def shake_hands(options: RedisOptions) -> tuple[Any, str]:
    """A sync client for the server ``options`` name (a cluster client if it
    is one), and the mode to use; ``RedisCheckpointerError`` if it cannot serve."""
    client = _waiting_pool(
        redis.Redis(db=options.db, **options.client_kwargs()), redis.BlockingConnectionPool, options
    )
    try:
        is_cluster, has_modules = run(_handshake(options), lambda call: client.execute_command(*call.args))
    except (RedisError, OSError) as error:
        client.close()
        raise _failure(options, error) from error
    if is_cluster:
        client.close()
        client = redis.RedisCluster(**options.client_kwargs())
    return client, _choose(options, has_modules)


async def ashake_hands(options: RedisOptions) -> tuple[Any, str]:
    """``shake_hands`` with an asyncio client."""
    client = _waiting_pool(
        redis.asyncio.Redis(db=options.db, **options.client_kwargs(asyncio=True)),
        redis.asyncio.BlockingConnectionPool, options,
    )

    async def execute(call: Command) -> Any:
        return await client.execute_command(*call.args)

    try:
        is_cluster, has_modules = await arun(_handshake(options), execute)
    except (RedisError, OSError) as error:
        await client.aclose()
        raise _failure(options, error) from error
    if is_cluster:
        await client.aclose()
        client = QueueingRedisCluster(**options.client_kwargs(asyncio=True))
    return client, _choose(options, has_modules)
