"""The Cosmos DB requests the store's plans yield (see ``stores/cosmos_base.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator, Union




@dataclass(frozen=True)
class PointRead:
    id: str
    pk: str


@dataclass(frozen=True)
class Query:
    sql: str
    params: tuple[tuple[str, Any], ...]
    pk: str | None  # None: cross-partition

    @property
    def parameters(self) -> list[dict[str, Any]]:
        return [{"name": name, "value": value} for name, value in self.params]


@dataclass(frozen=True)
class Upsert:
    body: dict


@dataclass(frozen=True)
class Delete:
    id: str
    pk: str


@dataclass(frozen=True)
class Patch:
    """A partial update applied only if the item still has ``etag``."""

    id: str
    pk: str
    operations: list[dict]
    etag: str


Request = Union[PointRead, Query, Upsert, Delete, Patch, list]
Plan = Generator[Request, Any, Any]


class QueryRejected(Exception):
    """The server refused a query form (e.g. DISTINCT, VectorDistance); the
    executors raise it into the plan so the plan can fall back."""
