"""``cosmos://HOST[:PORT]/DATABASE/CONTAINER``: long-term memory in Azure Cosmos DB.

>>> with connect("cosmos://acct.documents.azure.com/bank/memory") as store: ...

HTTPS always; ``?tls=insecure`` skips certificate checks (a local server with a
self-signed certificate); ``?partition_depth=N`` (default 2) sets how many
leading namespace labels form the partition key; ``?create=if-missing|never``,
``?vector_index=quantizedFlat|diskANN|flat`` and ``?search=vector|hybrid``
are described in ``stores/cosmos/bootstrap.py`` and the README. Credentials
come from the environment, never from the URL: ``COSMOS_KEY``, else the
``AccountKey`` of ``COSMOS_CONNECTION_STRING``, else Entra ID through
``DefaultAzureCredential`` (which cannot create containers, so ``create``
defaults to ``never`` then).

The package's parts: ``url`` (the URL and credentials), ``bootstrap`` (the
container and the server's capabilities, at connect), ``plans`` (each store
operation as a sans-I/O generator of requests), ``query`` (their SQL and
client-side ranking), ``requests`` (the request types), ``retry`` (when a
request is tried again) and ``store`` (the sync and async ``BaseStore``
shells, whose executors run the requests on one client: sync, one at a
time; async, concurrently). This module only connects.

Requests per operation (each is one HTTP request; its RU is the response's
``x-ms-request-charge``, which the open test server fixes at 1):

- get: 1 point read in the item's partition (about 1 RU for a 1 KB item on
  Cosmos DB); on a server that answers a missing point read with 500 instead
  of 404 (probed at connect), 1 single-partition query instead.
- put / delete: a batch's upserts into one partition are 1 transactional
  batch (where the server has them, probed at connect), else 1 upsert
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

import logging
import os
from contextlib import asynccontextmanager, contextmanager
from typing import Any, AsyncIterator, Iterator

from azure.core.pipeline.policies import RetryMode
from azure.cosmos import CosmosClient
from azure.cosmos.aio import CosmosClient as AsyncCosmosClient
from langgraph.store.base import IndexConfig, TTLConfig

from backends.sansio import arun, run
from stores.cosmos.bootstrap import ContainerNotReady, ContainerSpec, open_container, setup_call
from stores.cosmos.retry import RetryPolicy
from stores.cosmos.store import AsyncCosmosStore, CosmosStore
from stores.cosmos.url import CosmosURL, credential

__all__ = ["CosmosStore", "AsyncCosmosStore", "ContainerNotReady", "RetryPolicy", "connect", "aconnect"]

# The SDK's retry_* options act on transport errors only: there it keeps its
# exponential retries (a connection refused or timed out under load before any
# response). HTTP statuses it retries once or twice at most, so the store's
# executors own that policy (stores/cosmos/retry.py), and the SDK's own 429
# retries are cut to their minimum so the store's time bound holds.
CLIENT_OPTIONS: dict[str, Any] = dict(
    retry_total=4, retry_mode=RetryMode.Exponential, retry_backoff_factor=0.1, retry_backoff_max=10,
    retry_throttle_total=1, retry_throttle_backoff_max=1)


def quiet_sdk_logging() -> None:
    """The SDK logs every request's headers at INFO (some 300 lines as ``langgraph
    dev`` starts): keep it to warnings unless ``LOG_LEVEL=DEBUG``."""
    if os.environ.get("LOG_LEVEL", "").upper() != "DEBUG":
        for name in ("azure", "azure.core.pipeline.policies.http_logging_policy"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _container(client: Any, spec: ContainerSpec) -> Any:
    return client.get_database_client(spec.database).get_container_client(spec.container)


def _store_options(target: CosmosURL, index: IndexConfig | None, ttl: TTLConfig | None,
                   retry: RetryPolicy | None) -> dict[str, Any]:
    return dict(index=index, ttl=ttl, partition_depth=target.partition_depth, retry=retry, hybrid=target.hybrid)


@contextmanager
def connect(url: str, *, index: IndexConfig | None = None, ttl: TTLConfig | None = None,
            retry: RetryPolicy | None = None, **client_options: Any) -> Iterator[CosmosStore]:
    """Open a ``CosmosStore`` (sync); ``client_options`` go to ``CosmosClient``."""
    target = CosmosURL.parse(url)
    spec = target.spec(index)
    quiet_sdk_logging()
    key, create = credential(target, aio=False)
    with CosmosClient(target.endpoint, credential=key, connection_verify=target.verify_tls,
                      **{**CLIENT_OPTIONS, **client_options}) as client:
        container = _container(client, spec)

        def execute(call: Any) -> Any:
            method, args, options = setup_call(client, container, call)
            return method(*args, **options)

        capabilities = run(open_container(spec, create), execute)
        yield CosmosStore(container, capabilities=capabilities, **_store_options(target, index, ttl, retry))


@asynccontextmanager
async def aconnect(url: str, *, index: IndexConfig | None = None, ttl: TTLConfig | None = None,
                   retry: RetryPolicy | None = None, **client_options: Any) -> AsyncIterator[AsyncCosmosStore]:
    """Open an ``AsyncCosmosStore``; ``client_options`` go to the async ``CosmosClient``."""
    target = CosmosURL.parse(url)
    spec = target.spec(index)
    quiet_sdk_logging()
    key, create = credential(target, aio=True)
    async with AsyncCosmosClient(target.endpoint, credential=key, connection_verify=target.verify_tls,
                                 **{**CLIENT_OPTIONS, **client_options}) as client:
        container = _container(client, spec)

        async def aexecute(call: Any) -> Any:
            method, args, options = setup_call(client, container, call)
            return await method(*args, **options)

        capabilities = await arun(open_container(spec, create), aexecute)
        yield AsyncCosmosStore(container, capabilities=capabilities, **_store_options(target, index, ttl, retry))
