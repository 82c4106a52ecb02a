"""``redis://`` and ``rediss://``: checkpoints in Redis, with or without modules.

URL: ``redis[s]://[user][:password@]host[:port][/db][?option=value&...]``.
Each option may also be passed to ``connect`` / ``aconnect`` as a keyword
argument, which wins over the URL.

``mode``
    ``auto`` (default) asks the server once at connect (``MODULE LIST``, or
    probing ``FT._LIST`` / ``JSON.TYPE`` where ``MODULE LIST`` is refused) and
    logs the choice on the ``checkpointers.redis`` logger. ``modules`` needs
    RediSearch + RedisJSON (Redis 8, Redis Stack, Azure Managed Redis) and uses
    ``langgraph-checkpoint-redis``, fixed (``modules.py``; channel values live
    in a hash per thread beside upstream's documents, so upstream's own savers
    see checkpoints written here without their values). ``plain`` uses only
    core commands (Azure Cache for Redis Basic/Standard/Premium, Valkey,
    ElastiCache, Redis 6/7) and works on Redis Cluster (``plain_base.py``).
``ttl``
    Minutes (fractions allowed) a thread is kept after its last read or write;
    every read or write re-arms it for the whole thread. Unset: kept forever.
    In modules mode upstream counts whole seconds (at least 1 s), and our
    whole-thread re-arm runs at most every TTL/10, so a thread stays whole
    while touched at least every 0.9 x TTL.
``prefix``
    Key prefix of the plain mode (default ``lgcp``).
``cluster``
    ``auto`` (default: ``INFO cluster`` decides), ``yes`` or ``no``.
``connect_timeout`` / ``timeout``
    Socket connect and command timeouts in seconds (defaults 5 and 10), so an
    unreachable server fails fast instead of hanging.
``entra``
    ``1``: authenticate with a Microsoft Entra ID token from ``azure-identity``'s
    ``DefaultAzureCredential``; the URL's username is the identity's object id.
    A username with no password implies it. Azure with an access key instead:
    ``rediss://:<access-key>@<name>.redis.cache.windows.net:6380``.
``ssl_cert_reqs`` / ``ssl_ca_certs``
    For ``rediss://``: ``required`` (default) or ``none``, and a CA bundle path.

Errors: an unreachable server, a refused password, or ``mode=modules`` on a
server without the modules raise ``RedisCheckpointerError`` (a
``ConnectionError``) naming the URL with its password replaced by ``***``,
within about twice the timeouts above (one quick retry; a dropped connection,
e.g. after a Redis restart, is retried on a new one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
from langgraph.checkpoint.serde.base import SerializerProtocol
from redis.exceptions import RedisError, ResponseError

from checkpointers.redis.modules import AsyncModulesRedisSaver, ModulesRedisSaver
from checkpointers.redis.options import RedisOptions
from checkpointers.redis.plain import AsyncPlainRedisSaver, PlainRedisSaver
from checkpointers.redis.sansio import Operation
from backends.registry import redact

MAX_CONNECTIONS = 64

logger = logging.getLogger("checkpointers.redis")

__all__ = [
    "AsyncModulesRedisSaver",
    "AsyncPlainRedisSaver",
    "ModulesRedisSaver",
    "PlainRedisSaver",
    "RedisCheckpointerError",
    "RedisOptions",
    "aconnect",
    "connect",
]


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
    """Check the server answers; return (is_cluster, has_modules).

    Yields commands; a refused command comes back as its ``ResponseError``."""
    info = yield ("INFO", "cluster")
    is_cluster = options.cluster.lower() in ("1", "yes", "true") or (
        options.cluster == "auto" and isinstance(info, dict) and bool(info.get("cluster_enabled"))
    )
    if options.mode == "plain":
        return is_cluster, False
    modules = yield ("MODULE", "LIST")
    if not isinstance(modules, ResponseError):
        return is_cluster, {"search", "rejson"} <= _module_names(modules)
    # Managed services may refuse MODULE LIST: try the commands themselves.
    search = yield ("FT._LIST",)
    json = yield ("JSON.TYPE", "checkpointers:probe")
    return is_cluster, not isinstance(search, ResponseError) and not isinstance(json, ResponseError)


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


def _ttl_config(options: RedisOptions) -> dict[str, Any] | None:
    if not options.ttl:
        return None
    # Upstream truncates to whole seconds, and EXPIRE 0 would delete at once.
    return {"default_ttl": max(options.ttl, 1 / 60), "refresh_on_read": True}


def _probe(client: Any, command: tuple) -> Any:
    try:
        return client.execute_command(*command)
    except ResponseError as refused:
        return refused


async def _aprobe(client: Any, command: tuple) -> Any:
    try:
        return await client.execute_command(*command)
    except ResponseError as refused:
        return refused


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


def _handshake_sync(options: RedisOptions) -> tuple[Any, str]:
    client = _waiting_pool(
        redis.Redis(db=options.db, **options.client_kwargs()), redis.BlockingConnectionPool, options
    )
    try:
        handshake = _handshake(options)
        command = next(handshake)
        while True:
            command = handshake.send(_probe(client, command))
    except StopIteration as done:
        is_cluster, has_modules = done.value
    except (RedisError, OSError) as error:
        client.close()
        raise _failure(options, error) from error
    if is_cluster:
        client.close()
        client = redis.RedisCluster(**options.client_kwargs())
    return client, _choose(options, has_modules)


async def _handshake_async(options: RedisOptions) -> tuple[Any, str]:
    client = _waiting_pool(
        redis.asyncio.Redis(db=options.db, **options.client_kwargs(asyncio=True)),
        redis.asyncio.BlockingConnectionPool, options,
    )
    try:
        handshake = _handshake(options)
        command = next(handshake)
        while True:
            command = handshake.send(await _aprobe(client, command))
    except StopIteration as done:
        is_cluster, has_modules = done.value
    except (RedisError, OSError) as error:
        await client.aclose()
        raise _failure(options, error) from error
    if is_cluster:
        await client.aclose()
        client = QueueingRedisCluster(**options.client_kwargs(asyncio=True))
    return client, _choose(options, has_modules)


@contextmanager
def connect(url: str, serde: SerializerProtocol | None = None,
            **options: Any) -> Iterator[PlainRedisSaver | ModulesRedisSaver]:
    """A synchronous saver for ``url``, storing values with ``serde`` (e.g. an
    ``EncryptedSerializer``); see the module docstring for options."""
    parsed = RedisOptions.parse(url, options)
    client, mode = _handshake_sync(parsed)
    try:
        if mode == "plain":
            saver = PlainRedisSaver(client, ttl_minutes=parsed.ttl, prefix=parsed.prefix, serde=serde)
        else:
            saver = ModulesRedisSaver(redis_client=client, ttl=_ttl_config(parsed), serde=serde)
        saver.setup()
        yield saver
    finally:
        client.close()


@asynccontextmanager
async def aconnect(url: str, serde: SerializerProtocol | None = None,
                   **options: Any) -> AsyncIterator[AsyncPlainRedisSaver | AsyncModulesRedisSaver]:
    """An asyncio saver for ``url``, storing values with ``serde``; see the
    module docstring for options. Its sync methods serve other threads."""
    parsed = RedisOptions.parse(url, options)
    client, mode = await _handshake_async(parsed)
    try:
        if mode == "plain":
            saver = AsyncPlainRedisSaver(client, ttl_minutes=parsed.ttl, prefix=parsed.prefix, serde=serde)
        else:
            saver = AsyncModulesRedisSaver(redis_client=client, ttl=_ttl_config(parsed), serde=serde)
        await saver.asetup()
        yield saver
    finally:
        await client.aclose()
