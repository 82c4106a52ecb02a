"""Drivers for operations written once as generators of calls (sans-I/O).

An operation yields a call and receives the reply; what it hands to its
caller it yields as ``Emit`` (a ``list`` operation many, others at most one:
their result). The
sync and async savers differ only in how they ``_execute`` one call, so each
operation's logic exists once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from typing import Any

Operation = Generator[Any, Any, Any]


@dataclass(frozen=True)
class Emit:
    """Not a call: a result handed to the caller (e.g. one listed checkpoint)."""

    item: Any


def advance(operation: Operation, reply: Any) -> Any:
    """The operation's next call or ``Emit``; None once it has finished."""
    try:
        return operation.send(reply)
    except StopIteration:
        return None


def outcome(items: list[Any]) -> Any:
    """An operation's result: the last item it emitted, if any."""
    return items[-1] if items else None


class SyncDriver:
    def _execute(self, call: Any) -> Any:
        raise NotImplementedError

    def _run(self, operation: Operation) -> Any:
        return outcome(list(self._stream(operation)))

    def _stream(self, operation: Operation) -> Iterator[Any]:
        reply = None
        while (step := advance(operation, reply)) is not None:
            if isinstance(step, Emit):
                yield step.item
            reply = None if isinstance(step, Emit) else self._execute(step)


class AsyncDriver:
    async def _execute(self, call: Any) -> Any:
        raise NotImplementedError

    async def _run(self, operation: Operation) -> Any:
        return outcome([item async for item in self._stream(operation)])

    async def _stream(self, operation: Operation) -> AsyncIterator[Any]:
        reply = None
        while (step := advance(operation, reply)) is not None:
            if isinstance(step, Emit):
                yield step.item
            reply = None if isinstance(step, Emit) else await self._execute(step)
