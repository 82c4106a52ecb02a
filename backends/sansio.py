"""The one driver of every back end's operations, written once as generators (sans-I/O).

An *operation* is a generator that decides what to read and write and does no
I/O itself. It yields *calls* (typed, frozen dataclasses that its back end
defines, e.g. ``checkpointers.redis.calls.Command``) and receives each call's
reply as the value of the ``yield``. If executing a call raises, the error is
thrown into the operation at that ``yield`` (``operation.throw(error)``), so
the operation may catch what it expects (a refused command, a rejected query)
and let anything else propagate to its caller unchanged::

    def handshake() -> Operation:
        info = yield Command(("INFO", "cluster"))
        try:
            modules = yield Command(("MODULE", "LIST"))
        except ResponseError:  # a managed service may refuse it
            modules = []
        return info, modules           # the operation's result

An operation hands back its result with ``return`` (``run`` / ``arun`` give
it); one that hands out many items as it goes (``list``) yields each as
``Emit(item)``, and ``stream`` / ``astream`` turn those into an iterator, so a
caller that stops early stops the operation too. Operations compose with
``result = yield from other_operation()``.

A back end supplies one *executor* per flavour: ``execute(call) -> reply``
for its sync client and ``async aexecute(call) -> reply`` for its asyncio one,
usually a ``match`` on the call's type. The executors are the only difference
between a back end's sync and async classes::

    class Saver:
        def get(self, key):
            return run(self._get(key), self._execute)

    class AsyncSaver:
        async def aget(self, key):
            return await arun(self._get(key), self._aexecute)

The driver hands each call to the executor untouched, so a call may bundle
work (e.g. a list of requests the executor runs concurrently). Every exception
an executor raises is thrown into the operation; there is no need to pick the
"expected" ones in the executor, as an uncaught one leaves the operation and
reaches the caller with its own type and traceback.

``run(operation, execute)`` and ``arun(operation, aexecute)`` drive an
operation to its result; ``stream(operation, execute)`` and
``astream(operation, aexecute)`` to its emitted items. ``Emit`` inside ``run``
and a return value inside ``stream`` are ignored: each operation is written
for one of the two.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

Operation = Generator[Any, Any, Any]
"""Yields calls (and ``Emit``s), receives replies, returns its result."""


@dataclass(frozen=True)
class Emit:
    """Not a call: an item the operation hands to its caller (e.g. one listed checkpoint)."""

    item: Any


def _step(operation: Operation, reply: Any, error: Exception | None) -> tuple[bool, Any]:
    """Hand the operation ``reply`` (or throw ``error`` into it): ``(False, its
    next call or Emit)``, or ``(True, its result)`` once it has returned."""
    try:
        return False, (operation.throw(error) if error is not None else operation.send(reply))
    except StopIteration as done:
        return True, done.value


def _drive(operation: Operation, execute: Callable[[Any], Any]) -> Generator[Any, None, Any]:
    reply: Any = None
    error: Exception | None = None
    while True:
        finished, step = _step(operation, reply, error)
        if finished:
            return step
        reply, error = None, None
        if isinstance(step, Emit):
            yield step.item
            continue
        try:
            reply = execute(step)
        except Exception as failure:  # the operation decides; uncaught, it propagates
            error = failure


def run(operation: Operation, execute: Callable[[Any], Any]) -> Any:
    """Run ``operation`` with the sync ``execute``; return its result."""
    items = _drive(operation, execute)
    while True:
        try:
            next(items)
        except StopIteration as done:
            return done.value


def stream(operation: Operation, execute: Callable[[Any], Any]) -> Iterator[Any]:
    """The items ``operation`` emits, run with the sync ``execute``."""
    try:
        yield from _drive(operation, execute)
    finally:
        operation.close()


async def arun(operation: Operation, aexecute: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run ``operation`` with the async ``aexecute``; return its result."""
    result: list[Any] = []
    async for _ in _adrive(operation, aexecute, result):
        pass
    return result[0]


async def astream(operation: Operation, aexecute: Callable[[Any], Awaitable[Any]]) -> AsyncIterator[Any]:
    """The items ``operation`` emits, run with the async ``aexecute``."""
    try:
        async for item in _adrive(operation, aexecute, []):
            yield item
    finally:
        operation.close()


async def _adrive(operation: Operation, aexecute: Callable[[Any], Awaitable[Any]],
                  result: list[Any]) -> AsyncIterator[Any]:
    # An async generator cannot return a value: the result goes into ``result``.
    reply: Any = None
    error: Exception | None = None
    while True:
        finished, step = _step(operation, reply, error)
        if finished:
            result.append(step)
            return
        reply, error = None, None
        if isinstance(step, Emit):
            yield step.item
            continue
        try:
            reply = await aexecute(step)
        except Exception as failure:
            error = failure
