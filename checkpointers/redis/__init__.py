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

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol

from checkpointers.redis.handshake import RedisCheckpointerError, ashake_hands, shake_hands
from checkpointers.redis.modules import AsyncModulesRedisSaver, ModulesRedisSaver
from checkpointers.redis.options import RedisOptions
from checkpointers.redis.plain import AsyncPlainRedisSaver, PlainRedisSaver

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


@contextmanager
def connect(url: str, serde: SerializerProtocol | None = None,
            **options: Any) -> Iterator[PlainRedisSaver | ModulesRedisSaver]:
    """A synchronous saver for ``url``, storing values with ``serde`` (e.g. an
    ``EncryptedSerializer``); see the module docstring for options."""
    parsed = RedisOptions.parse(url, options)
    client, mode = shake_hands(parsed)
    try:
        if mode == "plain":
            saver = PlainRedisSaver(client, ttl_minutes=parsed.ttl, prefix=parsed.prefix, serde=serde)
        else:
            saver = ModulesRedisSaver(redis_client=client, ttl=parsed.ttl_config(), serde=serde)
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
    client, mode = await ashake_hands(parsed)
    try:
        if mode == "plain":
            saver = AsyncPlainRedisSaver(client, ttl_minutes=parsed.ttl, prefix=parsed.prefix, serde=serde)
        else:
            saver = AsyncModulesRedisSaver(redis_client=client, ttl=parsed.ttl_config(), serde=serde)
        await saver.asetup()
        yield saver
    finally:
        await client.aclose()
