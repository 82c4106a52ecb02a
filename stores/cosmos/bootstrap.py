"""Connecting the Cosmos DB store: the container it needs (its settings,
creating it where allowed, checking a pre-provisioned one) and what the
server can do, as one sans-I/O operation (``open_container``) that
``connect`` and ``aconnect`` run with their own client.

``?create=if-missing`` (the default with an account key) creates the
database and container; ``?create=never`` (the default under Entra ID, whose
data-plane roles cannot create them) only reads the container's settings.
Either way a wrong partition key path is refused; under ``never`` so are a
null default TTL (Cosmos DB then ignores every item's ``ttl``) and missing
vector or full-text policies. Each refusal is one ``ContainerNotReady``
naming what to provision (README, "Provisioning").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Callable

from azure.cosmos import PartitionKey
from azure.cosmos import exceptions as cosmos_errors
from langgraph.store.base import IndexConfig

from backends.registry import UnsupportedURL
from backends.sansio import Operation
from stores.cosmos.plans import Capabilities

VECTOR_INDEX_TYPES = ("quantizedFlat", "diskANN", "flat")
FLAT_MAX_DIMS = 505  # Cosmos DB's limit for the flat vector index
TEXT_PATH = "/text"  # the item's searchable text (see stores/cosmos/plans.py)
# The only paths queries filter or sort on (stores/cosmos/query.py); the rest,
# values and vectors above all, stay out of the range index, which every
# write pays for.
INDEXED_PATHS = ("/pk/?", "/ns_text/?", "/updated_at/?", "/expires_at/?", "/multi_vector/?")


class ContainerNotReady(RuntimeError):
    """The container is missing, refused, or set up otherwise than the store needs."""


@dataclass(frozen=True)
class ContainerSpec:
    database: str
    container: str
    dims: int | None = None  # with embeddings: the vector policy's dimensions
    vector_index: str = "quantizedFlat"

    @classmethod
    def of(cls, database: str, container: str, index: IndexConfig | None, vector_index: str) -> "ContainerSpec":
        dims = index.get("dims") if index else None
        if vector_index not in VECTOR_INDEX_TYPES:
            raise UnsupportedURL(f"vector_index must be one of {', '.join(VECTOR_INDEX_TYPES)}, not {vector_index!r}")
        if vector_index == "flat" and dims and dims > FLAT_MAX_DIMS:
            raise UnsupportedURL(f"the flat vector index takes at most {FLAT_MAX_DIMS} dimensions, not {dims}: "
                                 "use vector_index=quantizedFlat or diskANN")
        return cls(database, container, dims, vector_index)

    def options(self) -> dict[str, Any]:
        """``create_container`` keywords: partition key ``/pk``, item TTL on
        with no default expiry, the lean indexing policy, a full-text policy
        on the item's text and, with embeddings, a cosine vector policy on
        ``/embedding`` (servers without these features ignore them)."""
        indexing: dict[str, Any] = {
            "indexingMode": "consistent", "automatic": True,
            "includedPaths": [{"path": path} for path in INDEXED_PATHS],
            "excludedPaths": [{"path": "/*"}],
            "fullTextIndexes": [{"path": TEXT_PATH}]}
        options: dict[str, Any] = dict(
            partition_key=PartitionKey(path="/pk"), default_ttl=-1, indexing_policy=indexing,
            full_text_policy={"defaultLanguage": "en-US",
                              "fullTextPaths": [{"path": TEXT_PATH, "language": "en-US"}]})
        if self.dims:
            options["vector_embedding_policy"] = {"vectorEmbeddings": [
                {"path": "/embedding", "dataType": "float32", "distanceFunction": "cosine",
                 "dimensions": self.dims}]}
            indexing["vectorIndexes"] = [{"path": "/embedding", "type": self.vector_index}]
        return options

    def problems(self, properties: dict, strict: bool) -> list[str]:
        """What differs between the container's ``properties`` and what the
        store needs; ``strict`` (``create=never``) includes the policies."""
        found: list[str] = []
        paths = (properties.get("partitionKey") or {}).get("paths")
        if paths != ["/pk"]:
            found.append(f"partition key path {paths} (needs ['/pk'])")
        if not strict:
            return found
        if properties.get("defaultTtl") is None:
            found.append("default TTL off (null), so Cosmos DB would ignore each item's ttl (needs -1)")
        if self.dims:
            vectors = (properties.get("vectorEmbeddingPolicy") or {}).get("vectorEmbeddings") or []
            wanted = {"path": "/embedding", "dimensions": self.dims, "distanceFunction": "cosine"}
            if not any(all(v.get(k) == w for k, w in wanted.items()) for v in vectors):
                found.append(f"no cosine vector embedding policy on /embedding with {self.dims} dimensions")
        texts = (properties.get("fullTextPolicy") or {}).get("fullTextPaths") or []
        if not any(t.get("path") == TEXT_PATH for t in texts):
            found.append(f"no full-text policy on {TEXT_PATH}")
        return found

    def check(self, properties: dict, strict: bool) -> None:
        if found := self.problems(properties, strict):
            raise ContainerNotReady(
                f"Cosmos DB container {self.database}/{self.container} is not set up as the store needs: "
                + "; ".join(found) + ". Provision it as README 'Provisioning' shows (or create a new "
                "container; partition key and policies cannot all be changed in place).")


def refused(error: cosmos_errors.CosmosHttpResponseError, spec: ContainerSpec, creating: bool) -> Exception | None:
    """One clear error for a 403 or a missing container at connect."""
    where = f"{spec.database}/{spec.container}"
    if error.status_code == 404:
        return ContainerNotReady(f"Cosmos DB container {where} does not exist, and create=never: "
                                 "provision it as README 'Provisioning' shows")
    if error.status_code == 403 and creating:
        return ContainerNotReady(
            f"Cosmos DB refused to create {where} (403): Entra ID data-plane roles cannot create databases "
            "or containers. Provision it as README 'Provisioning' shows and connect with ?create=never")
    if error.status_code == 403:
        return ContainerNotReady(
            f"Cosmos DB refused access to {where} (403): assign this identity the 'Cosmos DB Built-in Data "
            "Contributor' data-plane role on the account (README 'Provisioning')")
    return None


# --- connecting, sans-I/O ----------------------------------------------------------


@dataclass(frozen=True)
class CreateDatabase:
    database: str


@dataclass(frozen=True)
class CreateContainer:
    spec: ContainerSpec


@dataclass(frozen=True)
class ReadContainer:
    """Answered with the container's properties."""


@dataclass(frozen=True)
class ProbeRead:
    """A point read of an item that does not exist (404 on Cosmos DB, 500 on the open test server)."""

    id: str


@dataclass(frozen=True)
class ProbeBatch:
    """A transactional batch that reads an item that does not exist."""

    id: str


def setup_call(client: Any, container: Any, call: Any) -> tuple[Callable, tuple, dict[str, Any]]:
    """The client or container method, arguments and options that carry out
    ``call``: the same for the sync and the async SDK (one calls it, the
    other awaits it)."""
    match call:
        case CreateDatabase(database):
            return client.create_database_if_not_exists, (database,), {}
        case CreateContainer(spec):
            return client.get_database_client(spec.database).create_container_if_not_exists, (
                spec.container,), spec.options()
        case ReadContainer():
            return container.read, (), {}
        case ProbeRead(id):
            return container.read_item, (id,), {"partition_key": "probe"}
        case ProbeBatch(id):
            return container.execute_item_batch, ([("read", (id,))],), {"partition_key": "probe"}
    raise TypeError(f"unknown Cosmos DB setup call {type(call).__name__}")


def open_container(spec: ContainerSpec, create: bool) -> Operation:
    """Create or check the container, then probe the server (reads only);
    returns the ``Capabilities`` the store starts with.

    Replicas starting together race to create the database and container:
    the losers get a conflict (409), which only means it now exists."""
    try:
        if create:
            for call in (CreateDatabase(spec.database), CreateContainer(spec)):
                try:
                    yield call
                except cosmos_errors.CosmosResourceExistsError:
                    pass
        properties = yield ReadContainer()
    except cosmos_errors.CosmosHttpResponseError as error:
        if clear := refused(error, spec, create):
            raise clear from error
        raise
    spec.check(properties, strict=not create)
    outcomes: list[Exception | None] = []
    for probe in (ProbeRead(_probe_id()), ProbeBatch(_probe_id())):
        try:
            yield probe
            outcomes.append(None)
        except (cosmos_errors.CosmosHttpResponseError, cosmos_errors.CosmosBatchOperationError) as error:
            outcomes.append(error)
    return capabilities_of(properties, *outcomes)


def _probe_id() -> str:
    return f"probe-{uuid.uuid4().hex}"


def capabilities_of(properties: dict, read: Exception | None, batch: Exception | None) -> Capabilities:
    """From the container's policies and the probes' errors: Cosmos DB answers
    a batch that reads a missing item with a failed batch
    (CosmosBatchOperationError), a server without batches with a plain HTTP
    error."""
    policy = properties.get("vectorEmbeddingPolicy") or {}
    texts = (properties.get("fullTextPolicy") or {}).get("fullTextPaths") or ()
    return Capabilities(missing_point_read_is_404=getattr(read, "status_code", None) == 404,
                        transactional_batch=not isinstance(batch, cosmos_errors.CosmosHttpResponseError),
                        vector_search=bool(policy.get("vectorEmbeddings")),
                        full_text=any(p.get("path") == TEXT_PATH for p in texts))
