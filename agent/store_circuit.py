"""A turn waits for the store at most once.

``MEMORY_TIMEOUT_SECONDS`` bounds each store call; without a circuit, a turn
against a stalled store would wait it out in load-context, remember-facts and
record-episode in turn. ``one_store_wait()`` opens a circuit for one turn: after
the first store timeout or failure in it, the turn's later store calls fail
at once (their writes are deferred to a later turn, as for any outage).
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator


@dataclass
class StoreCircuit:
    """Whether the store already failed in this turn."""

    tripped: bool = False


# The graph copies the context into each node's task; the circuit object is
# shared by all of them, so one node's failure is seen by the next.
current: ContextVar[StoreCircuit | None] = ContextVar("store_circuit", default=None)


@contextlib.contextmanager
def one_store_wait() -> Iterator[StoreCircuit]:
    """A fresh circuit for the turn run inside the block."""
    token = current.set(StoreCircuit())
    try:
        yield current.get()
    finally:
        current.reset(token)
