"""A turn waits for the store at most once.

``MEMORY_TIMEOUT_SECONDS`` bounds each store call; without a circuit, a turn
against a stalled store would wait it out in load-context, remember-facts and
record-episode in turn. Each turn has a circuit, kept per session (thread) in
this process and opened afresh when a turn starts (load-context, or a retry):
after the first store timeout or failure in the turn, its later store calls
fail at once, and their writes are deferred to a later turn, as for any
outage. It is the graph's own, so runs started by the API server get it as
well as those started by ``Sessions``; one turn runs at a time per session.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from langgraph.config import get_config

SESSIONS_KEPT = 10_000  # circuits of the most recently active sessions in this process


@dataclass
class StoreCircuit:
    """Whether the store already failed in this turn."""

    tripped: bool = False


_circuits: OrderedDict[str, StoreCircuit] = OrderedDict()


def begin_turn(thread_id: str) -> None:
    """A new turn of the session starts: its store calls may wait again."""
    _circuits.pop(thread_id, None)
    _circuits[thread_id] = StoreCircuit()
    while len(_circuits) > SESSIONS_KEPT:
        _circuits.popitem(last=False)


def of_this_turn() -> StoreCircuit | None:
    """The circuit of the turn running this store call; None outside a graph run."""
    try:
        thread_id = get_config()["configurable"]["thread_id"]
    except (RuntimeError, KeyError, TypeError):
        return None
    circuit = _circuits.get(str(thread_id))
    if circuit is None:
        begin_turn(str(thread_id))  # a turn resumed in a new process
        circuit = _circuits[str(thread_id)]
    return circuit
