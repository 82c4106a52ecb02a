"""Plain-Redis checkpoint savers (no modules), sync and async.

Thin shells: ``plain_base`` decides what to read and write; these classes only
execute its calls on a redis-py client (``Redis`` or ``RedisCluster``, sync or
asyncio).
"""

from __future__ import annotations

from typing import Any

from checkpointers.redis.api import AsyncSaverAPI, SyncSaverAPI
from checkpointers.redis.calls import Scan
from checkpointers.redis.plain_base import PlainRedisBase


class PlainRedisSaver(SyncSaverAPI, PlainRedisBase):
    """Checkpoints in plain Redis through a synchronous redis-py client."""

    def setup(self) -> None:
        """Load the Lua scripts (see ``_load_scripts``)."""
        self._run_sync(self._load_scripts())

    def _execute(self, call: Any) -> Any:
        method, args, kwargs = self._invocation(call)
        result = method(*args, **kwargs)
        return list(result) if isinstance(call, Scan) else result


class AsyncPlainRedisSaver(AsyncSaverAPI, PlainRedisBase):
    """Checkpoints in plain Redis through a ``redis.asyncio`` client."""

    async def asetup(self) -> None:
        """Load the Lua scripts (see ``_load_scripts``)."""
        await self._run(self._load_scripts())

    async def _aexecute(self, call: Any) -> Any:
        method, args, kwargs = self._invocation(call)
        if isinstance(call, Scan):
            return [key async for key in method(*args, **kwargs)]
        return await method(*args, **kwargs)
