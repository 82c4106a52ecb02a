"""How the agent reaches a store, a model or a graph: awaited under
``ainvoke``, on worker threads under ``invoke``.

Each node's logic (and each ``Sessions`` method) is written once, as a
coroutine whose outside calls go through ``call``. Under ``graph.ainvoke`` it
is awaited and every call uses the async API. Under ``graph.invoke`` (Flask,
Django, Celery, scripts; sync savers and stores such as ``SqliteSaver`` and
``SqliteStore``) the same coroutine runs on a private event loop in the graph's
worker thread (``run_sync``), and every call runs the sync API on a thread of
its own: every LangGraph store, saver, graph and chat model has both, and an
async store or saver serves sync calls from other threads. No client is ever
shared between two event loops.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from langchain_core.runnables import RunnableLambda
from langgraph.runtime import get_runtime

T = TypeVar("T")

_on_threads: contextvars.ContextVar[bool] = contextvars.ContextVar("agent_calls_on_threads", default=False)


async def call(sync: Callable[..., T], asynchronous: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
    """``await asynchronous(*args, **kwargs)``, or, inside ``run_sync``,
    ``sync(*args, **kwargs)`` on a worker thread."""
    if _on_threads.get():
        return await asyncio.to_thread(sync, *args, **kwargs)
    return await asynchronous(*args, **kwargs)


async def call_list(sync: Callable[..., Iterable[T]], asynchronous: Callable[..., AsyncIterable[T]], /,
                    *args: Any, **kwargs: Any) -> list[T]:
    """``call`` for listings (``list``/``alist``, ``get_state_history``/...): all their items."""
    if _on_threads.get():
        return await asyncio.to_thread(lambda: list(sync(*args, **kwargs)))
    return [item async for item in asynchronous(*args, **kwargs)]


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion from sync code, its calls on threads.
    Called from a thread that already runs an event loop, it runs on a fresh
    thread instead, since a thread runs one loop at a time."""

    def run() -> T:
        _on_threads.set(True)
        return asyncio.run(coroutine)

    context = contextvars.copy_context()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return context.run(run)
    with ThreadPoolExecutor(1, thread_name_prefix="agent-sync") as pool:
        return pool.submit(context.run, run).result()


def node(function: Callable[..., Coroutine[Any, Any, Any]]) -> RunnableLambda:
    """A graph node for ``function(state, config, runtime)`` that serves both
    ``invoke`` and ``ainvoke`` from its one implementation."""

    def sync(state: Any, config: Any) -> Any:
        return run_sync(function(state, config, get_runtime()))

    async def asynchronous(state: Any, config: Any) -> Any:
        return await function(state, config, get_runtime())

    return RunnableLambda(sync, afunc=asynchronous, name=function.__name__)
