"""Drivers for operations written once as generators of calls (sans-I/O).

An operation yields a call, receives the reply, and finally returns its
result; a ``list`` operation also yields ``Emit`` items for its caller. The
sync and async savers differ only in how they ``_execute`` one call, so each
operation's logic exists once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import CheckpointTuple

Operation = Generator[Any, Any, Any]


@dataclass(frozen=True)
class Emit:
    """Not a call: a checkpoint tuple that a ``list`` operation hands out."""

    item: CheckpointTuple


class SyncDriver:
    def _execute(self, call: Any) -> Any:
        raise NotImplementedError

    def _run(self, operation: Operation) -> Any:
        reply = None
        while True:
            try:
                call = operation.send(reply)
            except StopIteration as done:
                return done.value
            reply = self._execute(call)

    def _stream(self, operation: Operation) -> Iterator[CheckpointTuple]:
        reply = None
        while True:
            try:
                call = operation.send(reply)
            except StopIteration:
                return
            if isinstance(call, Emit):
                reply = None
                yield call.item
            else:
                reply = self._execute(call)


class AsyncDriver:
    async def _execute(self, call: Any) -> Any:
        raise NotImplementedError

    async def _run(self, operation: Operation) -> Any:
        reply = None
        while True:
            try:
                call = operation.send(reply)
            except StopIteration as done:
                return done.value
            reply = await self._execute(call)

    async def _stream(self, operation: Operation) -> AsyncIterator[CheckpointTuple]:
        reply = None
        while True:
            try:
                call = operation.send(reply)
            except StopIteration:
                return
            if isinstance(call, Emit):
                reply = None
                yield call.item
            else:
                reply = await self._execute(call)
