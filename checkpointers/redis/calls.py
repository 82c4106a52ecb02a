"""The typed calls the plain mode and the handshake yield (see ``backends.sansio``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    """Run one Redis command (its keys share one slot)."""

    args: tuple[Any, ...]


@dataclass(frozen=True)
class Script:
    """Run the named Lua script over one thread's keys."""

    name: str
    keys: list[str]
    args: list[Any]


@dataclass(frozen=True)
class Scan:
    """Every key matching ``pattern``, on every node of a cluster."""

    pattern: str
