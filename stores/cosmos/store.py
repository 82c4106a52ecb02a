"""The Cosmos DB store's two shells, ``CosmosStore`` (sync SDK) and
``AsyncCosmosStore`` (``azure.cosmos.aio``): LangGraph's ``BaseStore`` over
the plans of ``stores/cosmos/plans.py``, run by ``backends.sansio``. Their
executors, which carry out one request each, retried per
``stores/cosmos/retry.py``, are the only difference between them."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from azure.core import MatchConditions
from azure.cosmos import exceptions as cosmos_errors
from langgraph.store.base import BaseStore, IndexConfig, Op, Result, TTLConfig, ensure_embeddings, tokenize_path

from backends.sansio import arun, run
from stores.cosmos.plans import (
    Capabilities,
    StoreSettings,
    plan_delete_partition,
    plan_update,
    prepare_batch,
)
from stores.cosmos.requests import (
    Conflict,
    Create,
    Delete,
    DeletePartition,
    Embed,
    Patch,
    PointRead,
    Query,
    Replace,
    Transaction,
    Unsupported,
    Upsert,
)
from stores.cosmos.retry import RetryPolicy

_NOT_WRITTEN = (cosmos_errors.CosmosResourceNotFoundError, cosmos_errors.CosmosAccessConditionFailedError)


def sdk_call(request: Any, *, sync: bool) -> tuple[str, tuple, dict[str, Any]]:
    """The container method, arguments and options that carry out ``request``."""
    if isinstance(request, PointRead):
        return "read_item", (request.id,), {"partition_key": request.pk}
    if isinstance(request, Query):
        scope: dict[str, Any] = {"partition_key": request.pk} if request.pk is not None else (
            {"enable_cross_partition_query": True} if sync else {})
        if request.pk is not None and request.needs == "full_text":
            # BM25 statistics over the partition's items (as the client-side
            # ranking counts them), not a statistics query to every partition.
            scope["full_text_score_scope"] = "Local"
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
def answers_from_errors(request: Any, capabilities: Capabilities) -> Iterator[None]:
    """A missing item reads as None and deletes as done; a patch that lost to a
    concurrent write or delete is dropped (that write set its own expiry); a
    query form or a batch the server refuses goes back to the plan to fall
    back from (``Unsupported``, after switching off the capability the
    request ``needs``), and so does a conditional write that lost
    (``Conflict``)."""
    try:
        yield
    except (*_NOT_WRITTEN, cosmos_errors.CosmosResourceExistsError) as error:
        if isinstance(request, (Create, Replace)):
            raise Conflict(error.message) from error
        if not (isinstance(request, (PointRead, Delete, Patch)) and isinstance(error, _NOT_WRITTEN)):
            raise
    except cosmos_errors.CosmosHttpResponseError as error:
        if isinstance(request, (Query, Transaction, DeletePartition)) and error.status_code in (400, 405, 501):
            if request.needs:
                capabilities.refused(request.needs)
            raise Unsupported(error.message) from error
        raise


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

    @property
    def ranks_on_server(self) -> bool:
        """Whether ``search(query=...)`` is ranked by the server, vector and
        full-text scores fused by ``RRF`` in one query: ``?search=hybrid``,
        an embedding index, and a container with both policies whose server
        has not refused them (the open test server refuses them at the first
        such query, after which ranking is client-side)."""
        caps = self.settings.capabilities
        return bool(self.settings.hybrid and self.embeddings and caps.vector_search and caps.full_text)


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
        documents, queries = batch.texts()
        doc_vectors = dict(zip(documents, self.embeddings.embed_documents(documents))) if documents else {}
        query_vectors = {q: self.embeddings.embed_query(q) for q in queries}
        results: list[Result] = [None] * len(batch.ops)
        for plans in batch.phases(self.settings, doc_vectors, query_vectors):
            for i, plan in plans.items():
                results[i] = run(plan, self._execute)
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await asyncio.get_running_loop().run_in_executor(None, self.batch, list(ops))

    def update(self, namespace: tuple[str, ...], key: str, change: Callable[[dict | None], dict]) -> dict:
        """Read-modify-write of one item that loses no concurrent update
        (``_etag``; retried on 412): ``change`` maps the current value, or
        None, to the new one, which is returned. ``change`` may run more than
        once, so it should only depend on its argument."""
        return run(plan_update(namespace, key, change, self.settings), self._execute)

    async def aupdate(self, namespace: tuple[str, ...], key: str, change: Callable[[dict | None], dict]) -> dict:
        return await asyncio.get_running_loop().run_in_executor(None, self.update, namespace, key, change)

    def delete_partition(self, prefix: tuple[str, ...]) -> None:
        """Delete every item of the partition ``prefix`` names (its first
        ``partition_depth`` labels, e.g. ``("customers", id)``: all of one
        customer's memory). On Cosmos DB, one request whose deletes finish in
        the background; where the account lacks it, one delete per item."""
        run(plan_delete_partition(prefix, self.settings), self._execute)

    async def adelete_partition(self, prefix: tuple[str, ...]) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.delete_partition, prefix)

    def _execute(self, request: Any) -> Any:
        if isinstance(request, list):
            return [self._execute(r) for r in request]
        if isinstance(request, Embed):
            return dict(zip(request.texts, self.embeddings.embed_documents(list(request.texts))))
        name, args, options = sdk_call(request, sync=True)
        with answers_from_errors(request, self.settings.capabilities):
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
        documents, queries = batch.texts()
        doc_vectors = dict(zip(documents, await self.embeddings.aembed_documents(documents))) if documents else {}
        query_vectors = dict(zip(queries, await asyncio.gather(*(self.embeddings.aembed_query(q) for q in queries))))
        results: list[Result] = [None] * len(batch.ops)
        for plans in batch.phases(self.settings, doc_vectors, query_vectors):
            done = await asyncio.gather(*(arun(plan, self._aexecute) for plan in plans.values()))
            for i, result in zip(plans, done):
                results[i] = result
        return results

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """For sync callers on other threads (as LangGraph's async stores allow):
        runs ``abatch`` on the store's event loop and waits for it."""
        return self._wait(self.abatch(list(ops)))

    async def aupdate(self, namespace: tuple[str, ...], key: str, change: Callable[[dict | None], dict]) -> dict:
        """``CosmosStore.update``, async."""
        return await arun(plan_update(namespace, key, change, self.settings), self._aexecute)

    def update(self, namespace: tuple[str, ...], key: str, change: Callable[[dict | None], dict]) -> dict:
        return self._wait(self.aupdate(namespace, key, change))

    async def adelete_partition(self, prefix: tuple[str, ...]) -> None:
        """``CosmosStore.delete_partition``, async."""
        await arun(plan_delete_partition(prefix, self.settings), self._aexecute)

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

    async def _aexecute(self, request: Any) -> Any:
        if isinstance(request, list):
            return list(await asyncio.gather(*(self._aexecute(r) for r in request)))
        if isinstance(request, Embed):
            return dict(zip(request.texts, await self.embeddings.aembed_documents(list(request.texts))))
        name, args, options = sdk_call(request, sync=False)
        with answers_from_errors(request, self.settings.capabilities):
            for attempt in self.retry.tries():
                with attempt:
                    if isinstance(request, Query):
                        return [doc async for doc in self.container.query_items(*args, **options)]
                    return await getattr(self.container, name)(*args, **options)
                await asyncio.sleep(attempt.wait)
