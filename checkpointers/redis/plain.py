"""Plain-Redis checkpoint savers (no modules), sync and async.

Thin shells: ``plain_base`` decides what to read and write; these classes only
execute its calls on a redis-py client (``Redis`` or ``RedisCluster``, sync or
asyncio).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from checkpointers.redis.plain_base import PlainRedisBase, Scan
from checkpointers.redis.sansio import AsyncDriver, SyncDriver

Config = RunnableConfig | None


class PlainRedisSaver(SyncDriver, PlainRedisBase):
    """Checkpoints in plain Redis through a synchronous redis-py client."""

    def _execute(self, call: Any) -> Any:
        method, args, kwargs = self._invocation(call)
        result = method(*args, **kwargs)
        return list(result) if isinstance(call, Scan) else result

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._run(self._get_tuple(config))

    def list(self, config: Config, *, filter: dict[str, Any] | None = None, before: Config = None,
             limit: int | None = None) -> Iterator[CheckpointTuple]:
        return self._stream(self._list(config, filter, before, limit))

    def put(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
            new_versions: ChannelVersions) -> RunnableConfig:
        return self._run(self._put(config, checkpoint, metadata, new_versions))

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                   task_path: str = "") -> None:
        self._run(self._put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._run(self._delete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._run(self._delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._run(self._copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._run(self._prune(thread_ids, strategy))


class AsyncPlainRedisSaver(AsyncDriver, PlainRedisBase):
    """Checkpoints in plain Redis through a ``redis.asyncio`` client."""

    async def _execute(self, call: Any) -> Any:
        method, args, kwargs = self._invocation(call)
        if isinstance(call, Scan):
            return [key async for key in method(*args, **kwargs)]
        return await method(*args, **kwargs)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._run(self._get_tuple(config))

    async def alist(self, config: Config, *, filter: dict[str, Any] | None = None, before: Config = None,
                    limit: int | None = None) -> AsyncIterator[CheckpointTuple]:
        async for item in self._stream(self._list(config, filter, before, limit)):
            yield item

    async def aput(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
                   new_versions: ChannelVersions) -> RunnableConfig:
        return await self._run(self._put(config, checkpoint, metadata, new_versions))

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                          task_path: str = "") -> None:
        await self._run(self._put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._run(self._delete_thread(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._run(self._delete_for_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._run(self._copy_thread(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self._run(self._prune(thread_ids, strategy))
