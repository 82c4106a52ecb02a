"""``cosmos://HOST[:PORT]/DATABASE/CONTAINER``: long-term memory in Azure Cosmos DB.

>>> with connect("cosmos://acct.documents.azure.com/bank/memory") as store: ...

HTTPS always; ``?tls=insecure`` skips certificate checks (a local server with a
self-signed certificate); ``?partition_depth=N`` (default 2) sets how many
leading namespace labels form the partition key; ``?create=if-missing|never``,
``?vector_index=quantizedFlat|diskANN|flat`` and ``?search=vector|hybrid``
are described in ``stores/cosmos_container.py`` and the README. Credentials
come from the environment, never from the URL: ``COSMOS_KEY``, else the
``AccountKey`` of ``COSMOS_CONNECTION_STRING``, else Entra ID through
``DefaultAzureCredential`` (which cannot create containers, so ``create``
defaults to ``never`` then). The logic lives in ``stores/cosmos_base.py``; this
module only executes its requests, retried per ``stores/cosmos_retry.py``, on
one client (sync: one request at a time; async: concurrently).

Requests per operation (each is one HTTP request; its RU is the response's
``x-ms-request-charge``, which the open test server fixes at 1):

- get: 1 point read in the item's partition (about 1 RU for a 1 KB item on
  Cosmos DB); on a server that answers a missing point read with 500 instead
  of 404 (detected once per endpoint), 1 single-partition query instead.
- put / delete: a batch's upserts into one partition are 1 transactional
  batch (where the server has them, probed once per endpoint), else 1 upsert
  each; 1 delete each.
- search: 1 query, single-partition when the prefix has at least
  ``partition_depth`` labels; ``TOP offset+limit`` when the whole filter
  translates to SQL (string equality), else the matching scope is read and
  filtered client-side. With a query: 2 queries (VectorDistance, multi-vector
  items) where the container has a vector policy, 1 (FullTextScore, or RRF
  for hybrid search) where it has a full-text policy, else the scope is
  ranked client-side.
- list_namespaces: 1 query (``SELECT DISTINCT``; where the server refuses
  DISTINCT, every item's namespace is read and deduplicated client-side).
- reads with TTL refresh: 1 conditional patch per returned item with a TTL.
- update: 1 read and 1 conditional write (again after a 412).
- delete_partition: 1 request, or 1 query and 1 delete per item.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterable, Iterator
from urllib.parse import parse_qs, urlsplit

from azure.core import MatchConditions
from azure.core.pipeline.policies import RetryMode
from azure.cosmos import CosmosClient
from azure.cosmos import exceptions as cosmos_errors
from azure.cosmos.aio import CosmosClient as AsyncCosmosClient
from langgraph.store.base import (
    BaseStore,
    IndexConfig,
    Op,
    Result,
    TTLConfig,
    ensure_embeddings,
    tokenize_path,
)

from backends.registry import UnsupportedURL, redact
from stores.cosmos_base import (
    BatchPlan,
    Capabilities,
    Delete,
    Patch,
    PointRead,
    Query,
    StoreSettings,
    Transaction,
    Unsupported,
    Upsert,
    plan_delete_partition,
    plan_update,
    prepare_batch,
    read_plans,
    write_plans,
)
from stores.cosmos_container import TEXT_PATH, ContainerNotReady, ContainerSpec, refused
from stores.cosmos_requests import Conflict, Create, DeletePartition, Embed, Plan, Replace
from stores.cosmos_retry import RetryPolicy

__all__ = ["CosmosStore", "AsyncCosmosStore", "ContainerNotReady", "RetryPolicy", "connect", "aconnect"]

# The SDK's retry_* options act on transport errors only: there it keeps its
# exponential retries (a connection refused or timed out under load before any
# response). HTTP statuses it retries once or twice at most, so the store's
# executors own that policy (stores/cosmos_retry.py), and the SDK's own 429
# retries are cut to their minimum so the store's time bound holds.
CLIENT_OPTIONS: dict[str, Any] = dict(
    retry_total=4, retry_mode=RetryMode.Exponential, retry_backoff_factor=0.1, retry_backoff_max=10,
    retry_throttle_total=1, retry_throttle_backoff_max=1)
_NOT_WRITTEN = (cosmos_errors.CosmosResourceNotFoundError, cosmos_errors.CosmosAccessConditionFailedError)


@dataclass(frozen=True)
class CosmosURL:
    endpoint: str
    database: str
    container: str
    verify_tls: bool
    partition_depth: int
    create: bool | None = None  # None: only with an account key (Entra ID cannot create)
    vector_index: str = "quantizedFlat"
    hybrid: bool = False

    @classmethod
    def parse(cls, url: str) -> "CosmosURL":
        parts = urlsplit(url)
        path = [p for p in parts.path.split("/") if p]
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.scheme.lower() != "cosmos" or not parts.hostname or len(path) != 2:
            raise UnsupportedURL(
                f"malformed Cosmos DB URL {redact(url)!r}: expected cosmos://HOST[:PORT]/DATABASE/CONTAINER"
            )
        if parts.password or parts.username:
            raise UnsupportedURL("Cosmos DB credentials go in COSMOS_KEY or COSMOS_CONNECTION_STRING, not the URL")
        depth = options.get("partition_depth", "2")
        if not depth.isdigit() or int(depth) < 1:
            raise UnsupportedURL(f"partition_depth must be a positive integer in {redact(url)!r}")
        create, search = options.get("create"), options.get("search", "vector")
        if create not in (None, "if-missing", "never"):
            raise UnsupportedURL(f"create must be if-missing or never in {redact(url)!r}")
        if search not in ("vector", "hybrid"):
            raise UnsupportedURL(f"search must be vector or hybrid in {redact(url)!r}")
        port = f":{parts.port}" if parts.port else ""
        return cls(f"https://{parts.hostname}{port}/", path[0], path[1],
                   options.get("tls") != "insecure", int(depth),
                   None if create is None else create == "if-missing",
                   options.get("vector_index", "quantizedFlat"), search == "hybrid")

    def spec(self, index: IndexConfig | None) -> ContainerSpec:
        return ContainerSpec.of(self.database, self.container, index, self.vector_index)


def account_key() -> str | None:
    """The account key from the environment, if any (never logged)."""
    if key := os.environ.get("COSMOS_KEY"):
        return key
    for part in os.environ.get("COSMOS_CONNECTION_STRING", "").split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "accountkey" and value:
            return value.strip()
    return None


def capabilities_of(properties: dict, server: "ServerAnswers") -> Capabilities:
    policy = properties.get("vectorEmbeddingPolicy") or {}
    return Capabilities(missing_point_read_is_404=server.missing_read_status == 404,
                        transactional_batch=server.transactional_batch,
                        vector_search=bool(policy.get("vectorEmbeddings")),
                        full_text=any(p.get("path") == TEXT_PATH for p in
                                      (properties.get("fullTextPolicy") or {}).get("fullTextPaths") or ()))


def sdk_call(request: Any, *, sync: bool) -> tuple[str, tuple, dict[str, Any]]:
    """The container method, arguments and options that carry out ``request``."""
    if isinstance(request, PointRead):
        return "read_item", (request.id,), {"partition_key": request.pk}
    if isinstance(request, Query):
        scope: dict[str, Any] = {"partition_key": request.pk} if request.pk is not None else (
            {"enable_cross_partition_query": True} if sync else {})
        return "query_items", (request.sql,), {"parameters": request.parameters, **scope}
    if isinstance(request, Upsert):
        return "upsert_item", (request.body,), {}
    if isinstance(request, DeletePartition):
        return "delete_all_items_by_partition_key", (request.pk,), {}
    if isinstance(request, Create):
        return "create_item", (request.body,), {}
    if isinstance(request, Replace):
        return "replace_item", (request.body["id"], request.body), {
            "etag": request.etag, "match_condition": MatchConditions.IfNotModified}
    if isinstance(request, Transaction):
        return "execute_item_batch", ([("upsert", (u.body,)) for u in request.upserts],), {"partition_key": request.pk}
    if isinstance(request, Delete):
        return "delete_item", (request.id,), {"partition_key": request.pk}
    if isinstance(request, Patch):
        return "patch_item", (request.id,), {"partition_key": request.pk, "patch_operations": request.operations,
                                             "etag": request.etag, "match_condition": MatchConditions.IfNotModified}
    raise TypeError(f"unknown Cosmos DB request {type(request).__name__}")


@contextmanager
def answers_from_errors(request: Any) -> Iterator[None]:
    """A missing item reads as None and deletes as done; a patch that lost to a
    concurrent write or delete is dropped (that write set its own expiry); a
    query form or a batch the server refuses goes back to the plan to fall
    back from, and so does a conditional write that lost (``Conflict``)."""
    try:
        yield
    except (*_NOT_WRITTEN, cosmos_errors.CosmosResourceExistsError) as error:
        if isinstance(request, (Create, Replace)):
            raise Conflict(error.message) from error
        if not (isinstance(request, (PointRead, Delete, Patch)) and isinstance(error, _NOT_WRITTEN)):
            raise
    except cosmos_errors.CosmosHttpResponseError as error:
        if isinstance(request, (Query, Transaction, DeletePartition)) and error.status_code in (400, 405, 501):
            raise Unsupported(error.message) from error
        raise


def advance(plan: Plan, outcome: tuple[Any, Exception | None]) -> tuple[bool, Any]:
    """Send a plan its last answer (or error): (True, result) when it is done,
    else (False, its next request)."""
    answer, error = outcome
    try:
        return False, (plan.throw(error) if error else plan.send(answer))
    except StopIteration as stop:
        return True, stop.value


class _CosmosStoreBase(BaseStore):
    """What the sync and async stores share: settings and embeddings."""

    supports_ttl = True

    def __init__(self, container: Any, *, index: IndexConfig | None = None, ttl: TTLConfig | None = None,
                 partition_depth: int = 2, capabilities: Capabilities | None = None,
                 retry: RetryPolicy | None = None, hybrid: bool = False) -> None:
        if index and index.get("distance_type", "cosine") != "cosine":
            raise ValueError(f"CosmosStore ranks by cosine similarity only; distance_type "
                             f"{index['distance_type']!r} is not supported")
        self.container = container
        self.retry = retry or RetryPolicy()
        self.ttl_config = ttl
        self.index_config = None
        self.embeddings = None
        if index:
            self.index_config = {**index, "__tokenized_fields": [
                (p, tokenize_path(p)) if p != "$" else (p, p) for p in (index.get("fields") or ["$"])]}
            self.embeddings = ensure_embeddings(index.get("embed"))
        self.settings = StoreSettings(partition_depth=partition_depth, hybrid=hybrid, ttl=ttl, index=self.index_config,
                                      capabilities=capabilities or Capabilities())


def _split_texts(batch: BatchPlan) -> tuple[list[str], list[str]]:
    documents = sorted({t for pairs in batch.put_texts.values() for _, t in pairs})
    return documents, sorted(set(batch.query_texts.values()))


def _phases(batch: BatchPlan, settings: StoreSettings, documents: dict, queries: dict):
    yield read_plans(batch, settings, queries)
    yield write_plans(batch, settings, documents)


class CosmosStore(_CosmosStoreBase):
    """LangGraph ``BaseStore`` on Azure Cosmos DB (sync SDK).

    One ``CosmosClient``, so every request shares its session tokens
    (read-your-writes). It runs one request at a time: the sync SDK's query
    pager decides whether a next page exists from the headers of the
    client's latest response, which a concurrent request would replace
    (a query cut short, or "OrderedDict mutated during iteration"). Async
    code gets concurrency from ``AsyncCosmosStore``."""

    def __init__(self, container: Any, **options: Any) -> None:
        super().__init__(container, **options)
        self._client_lock = threading.Lock()

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        batch = prepare_batch(ops, self.settings)
        documents, queries = _split_texts(batch)
        doc_vectors = dict(zip(documents, self.embeddings.embed_documents(documents))) if documents else {}
        query_vectors = {q: self.embeddings.embed_query(q) for q in queries}
        results: list[Result] = [None] * len(batch.ops)
        for plans in _phases(batch, self.settings, doc_vectors, query_vectors):
            for i, plan in plans.items():
                results[i] = self._drive(plan)
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await asyncio.get_running_loop().run_in_executor(None, self.batch, list(ops))

    def update(self, namespace: tuple[str, ...], key: str, change: Callable[[dict | None], dict]) -> dict:
        """Read-modify-write of one item that loses no concurrent update
        (``_etag``; retried on 412): ``change`` maps the current value, or
        None, to the new one, which is returned. ``change`` may run more than
        once, so it should only depend on its argument."""
        return self._drive(plan_update(namespace, key, change, self.settings))

    async def aupdate(self, namespace: tuple[str, ...], key: str, change: Callable[[dict | None], dict]) -> dict:
        return await asyncio.get_running_loop().run_in_executor(None, self.update, namespace, key, change)

    def delete_partition(self, prefix: tuple[str, ...]) -> None:
        """Delete every item of the partition ``prefix`` names (its first
        ``partition_depth`` labels, e.g. ``("customers", id)``: all of one
        customer's memory). On Cosmos DB, one request whose deletes finish in
        the background; where the account lacks it, one delete per item."""
        self._drive(plan_delete_partition(prefix, self.settings))

    async def adelete_partition(self, prefix: tuple[str, ...]) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.delete_partition, prefix)

    def _drive(self, plan: Plan) -> Any:
        done, value = advance(plan, (None, None))
        while not done:
            done, value = advance(plan, self._outcome(value))
        return value

    def _outcome(self, request: Any) -> tuple[Any, Exception | None]:
        try:
            return self._execute(request), None
        except (Unsupported, Conflict) as answer:
            return None, answer

    def _execute(self, request: Any) -> Any:
        if isinstance(request, list):
            return [self._execute(r) for r in request]
        if isinstance(request, Embed):
            return dict(zip(request.texts, self.embeddings.embed_documents(list(request.texts))))
        name, args, options = sdk_call(request, sync=True)
        with answers_from_errors(request):
            for attempt in self.retry.tries():
                with attempt, self._client_lock:
                    answer = getattr(self.container, name)(*args, **options)
                    return list(answer) if isinstance(request, Query) else answer
                time.sleep(attempt.wait)


class AsyncCosmosStore(_CosmosStoreBase):
    """LangGraph ``BaseStore`` on Azure Cosmos DB (``azure.cosmos.aio``; a batch's ops run concurrently)."""

    def __init__(self, container: Any, **options: Any) -> None:
        super().__init__(container, **options)
        self._loop = asyncio.get_running_loop()

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        batch = prepare_batch(ops, self.settings)
        documents, queries = _split_texts(batch)
        doc_vectors = dict(zip(documents, await self.embeddings.aembed_documents(documents))) if documents else {}
        query_vectors = dict(zip(queries, await asyncio.gather(*(self.embeddings.aembed_query(q) for q in queries))))
        results: list[Result] = [None] * len(batch.ops)
        for plans in _phases(batch, self.settings, doc_vectors, query_vectors):
            for i, result in zip(plans, await asyncio.gather(*(self._drive(p) for p in plans.values()))):
                results[i] = result
        return results

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """For sync callers on other threads (as LangGraph's async stores allow):
        runs ``abatch`` on the store's event loop and waits for it."""
        return self._wait(self.abatch(list(ops)))

    async def aupdate(self, namespace: tuple[str, ...], key: str, change: Callable[[dict | None], dict]) -> dict:
        """``CosmosStore.update``, async."""
        return await self._drive(plan_update(namespace, key, change, self.settings))

    def update(self, namespace: tuple[str, ...], key: str, change: Callable[[dict | None], dict]) -> dict:
        return self._wait(self.aupdate(namespace, key, change))

    async def adelete_partition(self, prefix: tuple[str, ...]) -> None:
        """``CosmosStore.delete_partition``, async."""
        await self._drive(plan_delete_partition(prefix, self.settings))

    def delete_partition(self, prefix: tuple[str, ...]) -> None:
        self._wait(self.adelete_partition(prefix))

    def _wait(self, coroutine: Any) -> Any:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            coroutine.close()
            raise asyncio.InvalidStateError(
                "Synchronous calls to AsyncCosmosStore from its own event loop would block it: "
                "use the a-methods (aget, aput, asearch, ...), or CosmosStore from sync code")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _drive(self, plan: Plan) -> Any:
        done, value = advance(plan, (None, None))
        while not done:
            done, value = advance(plan, await self._outcome(value))
        return value

    async def _outcome(self, request: Any) -> tuple[Any, Exception | None]:
        try:
            return await self._execute(request), None
        except (Unsupported, Conflict) as answer:
            return None, answer

    async def _execute(self, request: Any) -> Any:
        if isinstance(request, list):
            return list(await asyncio.gather(*(self._execute(r) for r in request)))
        if isinstance(request, Embed):
            return dict(zip(request.texts, await self.embeddings.aembed_documents(list(request.texts))))
        name, args, options = sdk_call(request, sync=False)
        with answers_from_errors(request):
            for attempt in self.retry.tries():
                with attempt:
                    if isinstance(request, Query):
                        return [doc async for doc in self.container.query_items(*args, **options)]
                    return await getattr(self.container, name)(*args, **options)
                await asyncio.sleep(attempt.wait)


# --- connecting -------------------------------------------------------------------


def quiet_sdk_logging() -> None:
    """The SDK logs every request's headers at INFO (some 300 lines as ``langgraph
    dev`` starts): keep it to warnings unless ``LOG_LEVEL=DEBUG``."""
    if os.environ.get("LOG_LEVEL", "").upper() != "DEBUG":
        for name in ("azure", "azure.core.pipeline.policies.http_logging_policy"):
            logging.getLogger(name).setLevel(logging.WARNING)

@dataclass(frozen=True)
class ServerAnswers:
    """How the server answered the probes at connect (read-only requests)."""

    missing_read_status: int  # 404 on Cosmos DB, 500 on the open test server
    transactional_batch: bool  # the open test server cannot parse a batch (500)


_server_answers: dict[str, ServerAnswers] = {}  # per endpoint: one probe per process


def _answers(read: Exception | None, batch: Exception | None) -> ServerAnswers:
    """Cosmos DB answers a batch that reads a missing item with a failed
    batch (CosmosBatchOperationError), a server without batches with a
    plain HTTP error."""
    return ServerAnswers(getattr(read, "status_code", None) or (0 if read else 200),
                         not isinstance(batch, cosmos_errors.CosmosHttpResponseError))


def _probe_id() -> str:
    return f"probe-{uuid.uuid4().hex}"


def _opening(client: Any, spec: ContainerSpec, create: bool, endpoint: str) -> Plan:
    """Connecting, as a plan of SDK calls (zero-argument callables, which
    ``connect`` runs and ``aconnect`` awaits): create or check the container,
    probe the server once per endpoint (reads only); returns the container,
    its properties and the server's answers.

    Replicas starting together race to create the database and container:
    the losers get a conflict (409), which only means it now exists."""
    try:
        if create:
            try:
                yield lambda: client.create_database_if_not_exists(spec.database)
            except cosmos_errors.CosmosResourceExistsError:
                pass
            try:
                yield lambda: client.get_database_client(spec.database).create_container_if_not_exists(
                    spec.container, **spec.options())
            except cosmos_errors.CosmosResourceExistsError:
                pass
        container = client.get_database_client(spec.database).get_container_client(spec.container)
        properties = yield container.read
    except cosmos_errors.CosmosHttpResponseError as error:
        if clear := refused(error, spec, create):
            raise clear from error
        raise
    spec.check(properties, strict=not create)
    if endpoint not in _server_answers:
        outcomes: list[Exception | None] = []
        for probe in (lambda: container.read_item(_probe_id(), partition_key="probe"),
                      lambda: container.execute_item_batch([("read", (_probe_id(),))], partition_key="probe")):
            try:
                yield probe
                outcomes.append(None)
            except (cosmos_errors.CosmosHttpResponseError, cosmos_errors.CosmosBatchOperationError) as error:
                outcomes.append(error)
        _server_answers[endpoint] = _answers(*outcomes)
    return container, properties, _server_answers[endpoint]


def _open(plan: Plan) -> Any:
    done, call = advance(plan, (None, None))
    while not done:
        try:
            outcome = call(), None
        except Exception as error:
            outcome = None, error
        done, call = advance(plan, outcome)
    return call


async def _aopen(plan: Plan) -> Any:
    done, call = advance(plan, (None, None))
    while not done:
        try:
            outcome = await call(), None
        except Exception as error:
            outcome = None, error
        done, call = advance(plan, outcome)
    return call


@contextmanager
def connect(url: str, *, index: IndexConfig | None = None, ttl: TTLConfig | None = None,
            retry: RetryPolicy | None = None, **client_options: Any) -> Iterator[CosmosStore]:
    """Open a ``CosmosStore`` (sync); ``client_options`` go to ``CosmosClient``."""
    target = CosmosURL.parse(url)
    quiet_sdk_logging()
    spec, credential = target.spec(index), account_key()
    create = target.create if target.create is not None else credential is not None
    if credential is None:
        from azure.identity import DefaultAzureCredential
        credential = DefaultAzureCredential()
    with CosmosClient(target.endpoint, credential=credential, connection_verify=target.verify_tls,
                      **{**CLIENT_OPTIONS, **client_options}) as client:
        container, properties, server = _open(_opening(client, spec, create, target.endpoint))
        yield CosmosStore(container, index=index, ttl=ttl, partition_depth=target.partition_depth, retry=retry,
                          hybrid=target.hybrid, capabilities=capabilities_of(properties, server))


@asynccontextmanager
async def aconnect(url: str, *, index: IndexConfig | None = None, ttl: TTLConfig | None = None,
                   retry: RetryPolicy | None = None, **client_options: Any) -> AsyncIterator[AsyncCosmosStore]:
    """Open an ``AsyncCosmosStore``; ``client_options`` go to the async ``CosmosClient``."""
    target = CosmosURL.parse(url)
    quiet_sdk_logging()
    spec, credential = target.spec(index), account_key()
    create = target.create if target.create is not None else credential is not None
    if credential is None:
        from azure.identity.aio import DefaultAzureCredential
        credential = DefaultAzureCredential()
    async with AsyncCosmosClient(target.endpoint, credential=credential, connection_verify=target.verify_tls,
                                 **{**CLIENT_OPTIONS, **client_options}) as client:
        container, properties, server = await _aopen(_opening(client, spec, create, target.endpoint))
        yield AsyncCosmosStore(container, index=index, ttl=ttl, partition_depth=target.partition_depth, retry=retry,
                               hybrid=target.hybrid, capabilities=capabilities_of(properties, server))
