"""The calls the Cosmos DB store's operations yield (``stores/cosmos/plans.py``)
to the ``backends.sansio`` driver; the store's executors carry them out.

A plan may also yield a list of requests, which run concurrently and are
answered with the list of their answers. A request that relies on an
optional server feature names it in ``needs`` (a ``Capabilities`` field):
where the server refuses the request, the executor switches that capability
off for the store and throws ``Unsupported`` into the plan, which falls back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator, Union


@dataclass(frozen=True)
class ItemRequest:
    """A request about one item, addressed by id and partition key."""

    id: str
    pk: str


class PointRead(ItemRequest):
    """Answered with the document, or None if there is none."""


class Delete(ItemRequest):
    """Answered with None, whether or not the item existed."""


@dataclass(frozen=True)
class Patch(ItemRequest):
    """A partial update applied only if the item still has ``etag``; dropped
    (answered with None) if the item changed or went meanwhile."""

    operations: list[dict]
    etag: str


@dataclass(frozen=True)
class Query:
    """Answered with every document; ``pk`` None makes it cross-partition."""

    sql: str
    params: tuple[tuple[str, Any], ...]
    pk: str | None
    needs: str | None = None

    @property
    def parameters(self) -> list[dict[str, Any]]:
        return [{"name": name, "value": value} for name, value in self.params]


@dataclass(frozen=True)
class Upsert:
    body: dict


@dataclass(frozen=True)
class DeletePartition:
    """Every item with partition key ``pk``; answered with None (Cosmos DB
    deletes them in the background)."""

    pk: str

    needs = "delete_partition"


@dataclass(frozen=True)
class Create:
    """Answered with None; ``Conflict`` if the item exists."""

    body: dict


@dataclass(frozen=True)
class Replace:
    """Answered with None; ``Conflict`` unless the item still has ``etag``."""

    body: dict
    etag: str


@dataclass(frozen=True)
class Embed:
    """Not a Cosmos DB request: answered with the embedding model's vector
    for each of ``texts``, as a dict."""

    texts: tuple[str, ...]


@dataclass(frozen=True)
class Transaction:
    """Upserts into one partition that all apply or none do (Cosmos DB's
    transactional batch: at most ``MAX_OPERATIONS`` and ``MAX_BYTES``)."""

    pk: str
    upserts: tuple[Upsert, ...]

    needs = "transactional_batch"
    MAX_OPERATIONS = 100
    MAX_BYTES = 2 * 1024 * 1024


Request = Union[PointRead, Query, Upsert, Create, Replace, Delete, DeletePartition, Patch, Transaction, Embed, list]
Plan = Generator[Request, Any, Any]


class Conflict(Exception):
    """A conditional write lost to a concurrent one (412, or 409 on create);
    raised into the plan, which reads again and retries."""


class Unsupported(Exception):
    """The server refused a query form (e.g. DISTINCT, VectorDistance) or a
    request kind (transactional batch); the executors throw it into the plan
    so the plan can fall back."""
