"""``BaseCheckpointSaver``'s API over a mode's operations, sync and async.

Each mode (``plain``, ``modules``) writes its operations (``_get_tuple``,
``_list``, ``_put``, ...) once as generators of calls (see ``backends.sansio``);
its sync and async savers differ only in the executor that runs one call
(``_execute`` / ``_aexecute``). An async saver also serves the sync API to other
threads (a sync node calling ``subgraph.invoke``, ``get_state_history`` run
through ``asyncio.to_thread``), as ``AsyncSqliteSaver`` does: each call runs on
the saver's event loop, where its asyncio client lives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from backends.sansio import Operation, arun, astream, run, stream

PRUNE_STRATEGIES = ("keep_latest", "delete")


def _checked(strategy: str) -> str:
    if strategy not in PRUNE_STRATEGIES:
        raise ValueError(f"unknown prune strategy {strategy!r}: use 'keep_latest' or 'delete'")
    return strategy


class SaverAPI:
    """``BaseCheckpointSaver``'s sync API over a mode's operations (``_get_tuple``,
    ``_list``, ``_put``, ...); a subclass says where they run (``_run_sync``,
    ``_stream_sync``)."""

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._run_sync(self._get_tuple(config))

    def list(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
             before: RunnableConfig | None = None, limit: int | None = None) -> Iterator[CheckpointTuple]:
        return self._stream_sync(self._list(config, filter, before, limit))

    def put(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
            new_versions: ChannelVersions) -> RunnableConfig:
        return self._run_sync(self._put(config, checkpoint, metadata, new_versions))

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                   task_path: str = "") -> None:
        self._run_sync(self._put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._run_sync(self._delete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._run_sync(self._delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._run_sync(self._copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._run_sync(self._prune(thread_ids, _checked(strategy)))


class SyncSaverAPI(SaverAPI):
    """Runs operations in the calling thread, each call with ``_execute`` on a sync client."""

    def _execute(self, call: Any) -> Any:
        raise NotImplementedError

    def _run_sync(self, operation: Operation) -> Any:
        return run(operation, self._execute)

    def _stream_sync(self, operation: Operation) -> Iterator[Any]:
        return stream(operation, self._execute)


class AsyncSaverAPI(SaverAPI):
    """``BaseCheckpointSaver``'s async API over a mode's operations, and its
    sync API for threads other than the event loop's."""

    loop: asyncio.AbstractEventLoop | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:  # built outside a loop: the first async call binds it
            self.loop = None

    async def _aexecute(self, call: Any) -> Any:
        raise NotImplementedError

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._run(self._get_tuple(config))

    async def alist(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
                    before: RunnableConfig | None = None, limit: int | None = None) -> AsyncIterator[CheckpointTuple]:
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
        await self._run(self._prune(thread_ids, _checked(strategy)))

    async def _run(self, operation: Operation) -> Any:
        self.loop = self.loop or asyncio.get_running_loop()
        return await arun(operation, self._aexecute)

    async def _stream(self, operation: Operation) -> AsyncIterator[Any]:
        self.loop = self.loop or asyncio.get_running_loop()
        async for item in astream(operation, self._aexecute):
            yield item

    # -- the sync API, for other threads -------------------------------------

    def _run_sync(self, operation: Operation) -> Any:
        return self._on_loop(self._run(operation))

    def _stream_sync(self, operation: Operation) -> Iterator[Any]:
        items = self._stream(operation)
        while True:
            try:
                yield self._on_loop(anext(items))
            except StopAsyncIteration:
                return

    def _on_loop(self, awaitable: Any) -> Any:
        """Run ``awaitable`` on the saver's loop and wait for it in this thread."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self.loop is None or running is self.loop:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise asyncio.InvalidStateError(
                f"{type(self).__name__}'s sync methods serve other threads while its event loop "
                "runs; on the loop's own thread (or before the saver is used there) await the "
                "a-prefixed method instead (e.g. aget_tuple), or use checkpointers.connect's sync saver"
            )
        return asyncio.run_coroutine_threadsafe(_awaited(awaitable), self.loop).result()


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
