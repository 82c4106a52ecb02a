"""Turn leases: one turn at a time on a session, across processes and replicas.

A turn holds its session's lease from before it reads the thread until its
last checkpoint is written, so two sends to one session are never forked,
lost or run twice: the second waits (at most ``SESSION_BUSY_WAIT_SECONDS``)
or is refused with ``SessionBusy``. The lease lives in the checkpointer's own
back end, chosen by ``lease_for(saver)``:

- Redis (modules or plain mode, cluster too): the key
  ``bank-agent:lease:{thread_id}`` set with ``SET NX PX`` to a random token,
  renewed every third of ``SESSION_LEASE_SECONDS`` and released only by its
  token. A holder that dies frees the session when the lease runs out.
  Fencing: before every checkpoint write the holder asks Redis, in one Lua
  call, whether its token still holds the key with at least a third of the
  lease left; if not, the write is refused (``LeaseLost``) and the turn stops,
  as it does when a renewal finds the lease gone. So a holder whose lease
  expired never writes after a new holder took over, unless a single
  checkpoint write is delayed by more than a third of the lease after its
  check (the guarantee is timing-based, as any lease without a store-side
  token check is; 10 s leases leave 3.3 s against a 10 s command timeout
  only in a stalled Redis, where the write fails anyway).
- SQLite file: an exclusive ``flock`` on a per-session file in
  ``<database>.leases/``. The kernel frees it when its process dies, so no
  expiry and no fencing are needed.
- In memory (``memory://``, ``:memory:``): an asyncio lock per session; the
  saver lives in one process only.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import inspect
import os
import secrets
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, AsyncIterator

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from agent.errors import LeaseLost, SessionBusy
from agent.settings import session_lease_seconds

POLL_SECONDS = 0.05


class TurnLease(ABC):
    """The lease of each session (thread), held for one turn at a time."""

    @abstractmethod
    async def _try_acquire(self, thread_id: str) -> Any:
        """A holder handle, or None if someone else holds the lease."""

    @abstractmethod
    async def _release(self, thread_id: str, handle: Any) -> None: ...

    @abstractmethod
    async def busy(self, thread_id: str) -> bool:
        """Whether some turn (in any process) holds the session's lease now."""

    def fenced(self, saver: BaseCheckpointSaver | None) -> BaseCheckpointSaver | None:
        """The saver the graph should write through while turns hold leases."""
        return saver

    async def _guard(self, thread_id: str, handle: Any) -> contextlib.AbstractAsyncContextManager:
        return contextlib.nullcontext()

    @contextlib.asynccontextmanager
    async def hold(self, thread_id: str, wait: float) -> AsyncIterator[None]:
        """Hold the session's lease for the block, waiting at most ``wait``
        seconds for a running turn; ``SessionBusy`` when it is still held."""
        deadline = time.monotonic() + wait
        while (handle := await self._try_acquire(thread_id)) is None:
            if time.monotonic() >= deadline:
                raise SessionBusy("another turn of this session is running")
            await asyncio.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0)))
        try:
            async with await self._guard(thread_id, handle):
                yield
        finally:
            await self._release(thread_id, handle)


class LocalLease(TurnLease):
    """Leases for a saver that lives in this process only."""

    def __init__(self) -> None:
        self._held: set[str] = set()

    async def _try_acquire(self, thread_id: str) -> Any:
        if thread_id in self._held:
            return None
        self._held.add(thread_id)
        return thread_id

    async def _release(self, thread_id: str, handle: Any) -> None:
        self._held.discard(thread_id)

    async def busy(self, thread_id: str) -> bool:
        return thread_id in self._held


class FileLease(LocalLease):
    """Leases as ``flock``s on files beside a SQLite database (in-process locks
    for an in-memory database)."""

    def __init__(self, connection: Any) -> None:
        super().__init__()
        self.connection = connection
        self.directory: Path | None = None

    async def _directory(self) -> Path | None:
        if self.directory is None:
            listing = self.connection.execute("PRAGMA database_list")
            if inspect.isawaitable(listing):  # aiosqlite (AsyncSqliteSaver); sqlite3 answers at once
                async with listing as cursor:
                    listing = await cursor.fetchall()
            database = next((row[2] for row in listing if row[1] == "main"), "")
            self.directory = Path(database + ".leases") if database else Path()
        return self.directory if self.directory.name else None

    def _path(self, directory: Path, thread_id: str) -> Path:
        return directory / hashlib.sha256(thread_id.encode()).hexdigest()[:32]

    async def _try_acquire(self, thread_id: str) -> Any:
        directory = await self._directory()
        if directory is None:
            return await super()._try_acquire(thread_id)
        directory.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self._path(directory, thread_id), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        return descriptor

    async def _release(self, thread_id: str, handle: Any) -> None:
        if isinstance(handle, int):
            os.close(handle)  # closing the file releases its flock
        else:
            await super()._release(thread_id, handle)

    async def busy(self, thread_id: str) -> bool:
        directory = await self._directory()
        if directory is None:
            return await super().busy(thread_id)
        if not self._path(directory, thread_id).exists():
            return False
        descriptor = await self._try_acquire(thread_id)
        if descriptor is None:
            return True
        os.close(descriptor)
        return False


ACQUIRE = "return redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0"
RENEW = """if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"""
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
EXISTS = "return redis.call('exists', KEYS[1])"
REMAINING = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pttl', KEYS[1]) else return -3 end"


class RedisLease(TurnLease):
    """Fenced, renewed leases in the checkpointer's Redis (single server or cluster)."""

    def __init__(self, client: Any) -> None:
        self.client = client  # the saver's own: asyncio, or sync for a sync saver
        self.milliseconds = int(session_lease_seconds() * 1000)
        self._tokens: dict[str, str] = {}

    async def _eval(self, script: str, thread_id: str, *args: Any) -> Any:
        reply = self.client.eval(script, 1, self.key(thread_id), *args)
        return await reply if inspect.isawaitable(reply) else reply

    @staticmethod
    def key(thread_id: str) -> str:
        return f"bank-agent:lease:{{{thread_id}}}"

    async def _try_acquire(self, thread_id: str) -> Any:
        token = secrets.token_hex(16)
        if await self._eval(ACQUIRE, thread_id, token, self.milliseconds):
            self._tokens[thread_id] = token
            return token
        return None

    async def _release(self, thread_id: str, handle: Any) -> None:
        self._tokens.pop(thread_id, None)
        with contextlib.suppress(Exception):  # an unreleased lease runs out by itself
            await self._eval(RELEASE, thread_id, handle)

    async def busy(self, thread_id: str) -> bool:
        return bool(await self._eval(EXISTS, thread_id))

    async def confirm(self, thread_id: str) -> None:
        """Refuse (``LeaseLost``) a write by a turn whose lease is gone or nearly out."""
        token = self._tokens.get(thread_id)
        if token is None:
            return  # not a turn of this process: reads and state edits outside a turn
        remaining = await self._eval(REMAINING, thread_id, token)
        if remaining < self.milliseconds // 3:
            raise LeaseLost("this turn's session lease ran out; the turn stopped and can be retried")

    @contextlib.asynccontextmanager
    async def _renewing(self, thread_id: str, token: str) -> AsyncIterator[None]:
        turn = asyncio.current_task()
        lost, done = asyncio.Event(), asyncio.Event()

        async def renew() -> None:
            # Stopped by ``done``, never cancelled: a renewal cancelled in the
            # middle of its command could leave a pooled connection unreturned.
            expires = time.monotonic() + self.milliseconds / 1000
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), self.milliseconds / 3000)
                if done.is_set():
                    return
                try:
                    if not await self._eval(RENEW, thread_id, token, self.milliseconds):
                        break
                    expires = time.monotonic() + self.milliseconds / 1000
                except Exception:
                    if time.monotonic() >= expires:
                        break
            lost.set()
            turn.cancel()

        renewal = asyncio.create_task(renew())
        try:
            yield
        except asyncio.CancelledError:
            if lost.is_set():
                raise LeaseLost("this turn's session lease ran out; the turn stopped and can be retried") from None
            raise
        finally:
            done.set()
            await renewal

    async def _guard(self, thread_id: str, handle: Any) -> contextlib.AbstractAsyncContextManager:
        return self._renewing(thread_id, handle)

    def fenced(self, saver: BaseCheckpointSaver | None) -> BaseCheckpointSaver | None:
        return FencedSaver(saver, self) if saver is not None else None


class FencedSaver(BaseCheckpointSaver):
    """A saver whose checkpoint writes first confirm the turn still holds its lease;
    everything else is the wrapped saver's own."""

    OWN = frozenset({"put", "put_writes", "_confirm_blocking", "aput", "aput_writes", "with_allowlist", "_saver", "_lease", "__class__", "__dict__"})

    def __init__(self, saver: BaseCheckpointSaver, lease: RedisLease) -> None:
        self._saver, self._lease = saver, lease

    def __getattribute__(self, name: str) -> Any:
        if name in FencedSaver.OWN:
            return object.__getattribute__(self, name)
        return getattr(object.__getattribute__(self, "_saver"), name)

    def with_allowlist(self, extra_allowlist):
        return FencedSaver(self._saver.with_allowlist(extra_allowlist), self._lease)

    def put(self, config, checkpoint, metadata, new_versions):
        self._confirm_blocking(config)
        return self._saver.put(config, checkpoint, metadata, new_versions)

    def put_writes(self, config, writes, task_id, task_path=""):
        self._confirm_blocking(config)
        return self._saver.put_writes(config, writes, task_id, task_path)

    def _confirm_blocking(self, config) -> None:
        # A sync saver's client answers at once, so this loop never waits on another.
        asyncio.run(self._lease.confirm(str(config["configurable"]["thread_id"])))

    async def aput(self, config, checkpoint, metadata, new_versions):
        await self._lease.confirm(str(config["configurable"]["thread_id"]))
        return await self._saver.aput(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config, writes, task_id, task_path=""):
        await self._lease.confirm(str(config["configurable"]["thread_id"]))
        return await self._saver.aput_writes(config, writes, task_id, task_path)


def lease_for(saver: BaseCheckpointSaver | None) -> TurnLease:
    """The lease kind that matches the saver's back end."""
    client = getattr(saver, "client", None) or getattr(saver, "_redis", None)
    if client is not None and hasattr(client, "eval"):
        return RedisLease(client)
    connection = getattr(saver, "conn", None)
    if connection is not None and isinstance(saver, (AsyncSqliteSaver, SqliteSaver)):
        return FileLease(connection)
    return LocalLease()
