"""The logic of the Cosmos DB store, shared by its sync and async shells.

Sans-I/O (``backends.sansio``): every store operation is a generator that
yields Cosmos DB requests (``stores/cosmos/requests.py``: ``PointRead``,
``Query``, ``Upsert``, ``Delete``, ``Patch``, or a list of them to run
concurrently) and is sent their answers. ``stores/cosmos/store.py`` only
executes the requests, with the sync or the async SDK, so a fix here lands
in both. Plans read the server's ``Capabilities`` from the settings they are
given and never change them: a refused request names what it ``needs``, and
the executor records the refusal.

Document layout (one document per item)::

    {"id": sha256 of [namespace, key],  "pk": first labels of the namespace,
     "ns": [labels], "ns_text": "a.b.c", "key": ..., "value": {...},
     "created_at"/"updated_at": ISO-8601 UTC with microseconds,
     "expires_at": epoch seconds or null, "ttl_minutes": ... or null,
     "ttl": seconds (Cosmos DB's own expiry, only for items with a TTL),
     "embedding": the item's first vector (only for indexed items; the
                  path of the container's vector policy),
     "more_embeddings": [vector, ...] and "multi_vector": true, for items
                  with more than one vector}

Each vector is stored once, and only the queries that rank client-side
fetch vectors (``stores/cosmos/query.py`` projects the fields it needs).

Partition key: the namespace's first ``partition_depth`` labels joined by
``.`` (labels cannot contain ``.``), so ``("customers", id, "facts")`` and
``("customers", id, "episodes")`` share the partition ``customers.<id>``: a
turn's reads and writes never cross partitions. The id is a hash because
Cosmos DB ids may not contain ``/ \\ ? #`` and stop at 1,023 bytes, while
LangGraph labels and keys may hold anything.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Sequence

from langgraph.store.base import (
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    SearchItem,
    SearchOp,
    TTLConfig,
    InvalidNamespaceError,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from stores.cosmos.query import (
    ITEM_FIELDS,
    full_text_query,
    hybrid_rank,
    matches,
    namespace_text,
    namespaces_query,
    partition_of,
    query_terms,
    rank,
    search_query,
    select_namespaces,
    text_rank,
    vector_queries,
)
from stores.cosmos.requests import (
    Conflict,
    Create,
    Delete,
    DeletePartition,
    Embed,
    Patch,
    Plan,
    PointRead,
    Query,
    Replace,
    Transaction,
    Unsupported,
    Upsert,
)


@dataclass
class Capabilities:
    """What the server answered so far; real Cosmos DB has all of them."""

    missing_point_read_is_404: bool = True  # the open server answers 500
    full_text: bool = False  # container has a full-text policy on /text (and FullTextScore)
    transactional_batch: bool = True  # the open server has none
    delete_partition: bool = True  # delete_all_items_by_partition_key; the open server has none
    distinct: bool = True
    vector_search: bool = False  # container has a vector embedding policy

    def refused(self, feature: str) -> None:
        """The server refused a request that ``needs`` ``feature``: fall back from now on."""
        setattr(self, feature, False)


class Clock:
    """Strictly increasing epoch seconds, one clock per store, so newest-first
    order is defined for its successive writes (SQLite's second resolution
    leaves ties)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0.0

    def stamp(self) -> float:
        with self._lock:
            self._last = max(time.time(), self._last + 1e-6)
            return self._last


@dataclass
class StoreSettings:
    partition_depth: int = 2
    hybrid: bool = False  # queries with embeddings also rank by BM25 (RRF)
    ttl: TTLConfig | None = None
    index: dict | None = None  # LangGraph IndexConfig with "__tokenized_fields"
    capabilities: Capabilities = field(default_factory=Capabilities)
    clock: Clock = field(default_factory=Clock)


# --- keys and time ---------------------------------------------------------------


def check_namespace(namespace: tuple[str, ...]) -> None:
    """LangGraph's rules for a namespace written to (as ``BaseStore.put``
    checks them), raising its own ``InvalidNamespaceError``."""
    if not namespace:
        raise InvalidNamespaceError("Namespace cannot be empty.")
    validate_op_namespace(GetOp(namespace, ""))
    if namespace[0] == "langgraph":
        raise InvalidNamespaceError(f'Root label for namespace cannot be "langgraph". Got: {namespace}')


def item_id(namespace: Sequence[str], key: str) -> str:
    return hashlib.sha256(json.dumps([list(namespace), key]).encode()).hexdigest()


def iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


# --- documents ----------------------------------------------------------------------


def put_document(op: PutOp, stamp: float, depth: int, embeddings: dict[str, list[float]] | None,
                 text: str = "") -> dict:
    doc: dict[str, Any] = {
        "id": item_id(op.namespace, op.key),
        "pk": partition_of(op.namespace, depth),
        "ns": list(op.namespace),
        "ns_text": namespace_text(op.namespace),
        "key": op.key,
        "value": dict(op.value),
        "created_at": iso(stamp),
        "updated_at": iso(stamp),
        "expires_at": None if op.ttl is None else stamp + op.ttl * 60,
        "ttl_minutes": op.ttl,
    }
    if op.ttl is not None:
        doc["ttl"] = max(1, math.ceil(op.ttl * 60))
    if text:
        doc["text"] = text
    if embeddings:
        first, *more = embeddings.values()
        doc["embedding"] = first
        if more:
            doc["more_embeddings"] = more
            doc["multi_vector"] = True  # always a vector-search candidate (see vector_queries)
    return doc


def is_live(doc: dict, now: float) -> bool:
    return doc.get("expires_at") is None or doc["expires_at"] > now


def to_item(doc: dict, score: float | None = None, search: bool = False) -> Item:
    fields = dict(
        namespace=tuple(doc["ns"]),
        key=doc["key"],
        value=doc["value"],
        created_at=datetime.fromisoformat(doc["created_at"]),
        updated_at=datetime.fromisoformat(doc["updated_at"]),
    )
    return SearchItem(**fields, score=score) if search else Item(**fields)


def refresh_patch(doc: dict, now: float) -> Patch | None:
    """Slide a TTL'd item's expiry, unless someone wrote it meanwhile (their
    write set a fresh expiry, and a blind update could undo it)."""
    minutes = doc.get("ttl_minutes")
    if minutes is None:
        return None
    ops = [{"op": "set", "path": "/expires_at", "value": now + minutes * 60},
           {"op": "set", "path": "/ttl", "value": max(1, math.ceil(minutes * 60))}]
    return Patch(doc["id"], doc["pk"], ops, doc["_etag"])


def wants_refresh(settings: StoreSettings, refresh_ttl: bool) -> bool:
    return bool(refresh_ttl and settings.ttl and settings.ttl.get("refresh_on_read", True))


def texts_to_embed(op: PutOp, index: dict | None) -> list[tuple[str, str]]:
    """(path name, text) pairs of a put, as InMemoryStore and SqliteStore name them."""
    if not index:
        return []
    return _texts(op, index["__tokenized_fields"])


def search_text(op: PutOp, index: dict | None) -> str:
    """The put's text for full-text search: the indexed fields' text, or with
    no index config, the whole value's."""
    return "\n".join(text for _, text in _texts(op, index["__tokenized_fields"] if index else [("$", "$")]))


def _texts(op: PutOp, fields: list) -> list[tuple[str, str]]:
    if op.value is None or op.index is False:
        return []
    paths = fields if op.index is None else [(p, tokenize_path(p)) for p in op.index]
    out = []
    for path, tokens in paths:
        texts = get_text_at_path(op.value, tokens)
        out.extend((f"{path}.{i}" if len(texts) > 1 else path, text) for i, text in enumerate(texts))
    return out


# --- plans -----------------------------------------------------------------------------------


def read_document(doc_id: str, pk: str, settings: StoreSettings) -> Plan:
    if settings.capabilities.missing_point_read_is_404:
        return (yield PointRead(doc_id, pk))
    # the open server fails a point read of a missing item with a 500
    found = yield Query(f"SELECT {ITEM_FIELDS} FROM c WHERE c.pk = @pk AND c.id = @id",
                        (("@pk", pk), ("@id", doc_id)), pk)
    return found[0] if found else None


def plan_get(op: GetOp, settings: StoreSettings) -> Plan:
    doc_id, pk = item_id(op.namespace, op.key), partition_of(op.namespace, settings.partition_depth)
    doc = yield from read_document(doc_id, pk, settings)
    now = time.time()
    if doc is None or not is_live(doc, now):
        return None
    if wants_refresh(settings, op.refresh_ttl) and (patch := refresh_patch(doc, now)):
        yield patch
    return to_item(doc)


def plan_delete_partition(prefix: tuple[str, ...], settings: StoreSettings) -> Plan:
    """Delete every item under ``prefix``, which names one partition (its
    first ``partition_depth`` labels, e.g. ``("customers", id)``): one
    request where the account deletes by partition key, else a query for
    the ids and a delete each."""
    check_namespace(prefix)
    if len(prefix) != settings.partition_depth:
        raise ValueError(f"a partition is named by {settings.partition_depth} namespace labels, not {prefix!r}")
    pk = partition_of(prefix, settings.partition_depth)
    if settings.capabilities.delete_partition:
        try:
            yield DeletePartition(pk)
            return None
        except Unsupported:
            pass
    ids = yield Query("SELECT VALUE c.id FROM c WHERE c.pk = @pk", (("@pk", pk),), pk)
    if ids:
        yield [Delete(doc_id, pk) for doc_id in ids]
    return None


UPDATE_ATTEMPTS = 10


def plan_update(namespace: tuple[str, ...], key: str, change: Callable[[dict | None], dict],
                settings: StoreSettings) -> Plan:
    """Read-modify-write that loses no concurrent update: ``change`` gets the
    current value (None if there is none) and returns the new one, written
    only if the item is still as read (its ``_etag``; a create if there was
    none); after a concurrent write it reads again and retries."""
    check_namespace(namespace)
    doc_id, pk = item_id(namespace, key), partition_of(namespace, settings.partition_depth)
    ttl = settings.ttl.get("default_ttl") if settings.ttl else None
    for _ in range(UPDATE_ATTEMPTS):
        doc = yield from read_document(doc_id, pk, settings)
        live = doc is not None and is_live(doc, time.time())
        value = change(dict(doc["value"]) if live else None)
        op = PutOp(namespace, key, value, ttl=ttl)
        texts = texts_to_embed(op, settings.index)
        vectors = (yield Embed(tuple(t for _, t in texts))) if texts else {}
        body = put_document(op, settings.clock.stamp(), settings.partition_depth, {p: vectors[t] for p, t in texts},
                            search_text(op, settings.index))
        try:
            yield Replace(body, doc["_etag"]) if doc is not None else Create(body)
            return value
        except Conflict:
            continue
    raise Conflict(f"{namespace}/{key} changed under {UPDATE_ATTEMPTS} updates in a row; nothing was written")


def put_request(op: PutOp, settings: StoreSettings, vectors: dict[str, list[float]]) -> Upsert | Delete:
    if op.value is None:
        return Delete(item_id(op.namespace, op.key), partition_of(op.namespace, settings.partition_depth))
    return Upsert(put_document(op, settings.clock.stamp(), settings.partition_depth, vectors,
                               search_text(op, settings.index)))


def transactions(pk: str, upserts: list[Upsert]) -> list[Transaction]:
    """The upserts in as few transactional batches as Cosmos DB's limits allow."""
    chunks: list[list[Upsert]] = [[]]
    size = 0
    for upsert in upserts:
        body = len(json.dumps(upsert.body))
        if len(chunks[-1]) == Transaction.MAX_OPERATIONS or (chunks[-1] and size + body > Transaction.MAX_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append(upsert)
        size += body
    return [Transaction(pk, tuple(chunk)) for chunk in chunks]


def plan_partition_writes(requests: list[Upsert | Delete], settings: StoreSettings) -> Plan:
    """A partition's writes: its upserts in one transactional batch where the
    server has them (a turn's writes land together or not at all), else
    concurrently. Deletes run on their own: in a batch, deleting an item
    that is already gone would fail the whole batch."""
    caps = settings.capabilities
    upserts = [r for r in requests if isinstance(r, Upsert)]
    singles = [r for r in requests if not isinstance(r, Upsert)]
    if len(upserts) > 1 and caps.transactional_batch:
        try:
            yield transactions(upserts[0].body["pk"], upserts)
            upserts = []
        except Unsupported:
            pass
    if upserts or singles:
        yield upserts + singles
    return None


def plan_search(op: SearchOp, settings: StoreSettings, query_vector: list[float] | None) -> Plan:
    """Newest first without a query; with one: by vector similarity (the
    store's embeddings), fused with BM25 when ``settings.hybrid``, or by
    BM25 alone when no embeddings are configured. The server ranks where it
    can (VectorDistance, FullTextScore, RRF); else ranking is client-side."""
    now, depth, caps = time.time(), settings.partition_depth, settings.capabilities
    terms = query_terms(op.query) if op.query else []
    hybrid = query_vector is not None and settings.hybrid and bool(terms)

    def live(docs: list[dict]) -> list[dict]:
        return [d for d in docs if is_live(d, now) and matches(d["value"], op.filter)]

    def usable(docs: list[dict]) -> list[dict]:
        return sorted(live(docs), key=lambda d: d["updated_at"], reverse=True)

    kept = None
    if terms and (query_vector is None or hybrid) and caps.full_text and (caps.vector_search or not hybrid):
        try:
            ranked = live((yield full_text_query(op, terms, depth, now, query_vector if hybrid else None)))
            kept = [(d.get("score"), d) for d in ranked[op.offset: op.offset + op.limit]]
        except Unsupported:
            pass
    if kept is None and query_vector is not None and not hybrid and caps.vector_search:
        try:
            nearest, pooled = yield list(vector_queries(op, query_vector, depth, now))
            candidates = usable(list({d["id"]: d for d in nearest + pooled}.values()))
            # Short of a full page, unembedded items may fill it (InMemoryStore's
            # rule), so only a full page of vector hits is the answer.
            if len(candidates) >= op.offset + op.limit:
                kept = rank(op, query_vector, candidates)
        except Unsupported:
            pass
    if kept is None:
        docs = usable((yield search_query(op, depth, now, with_vectors=query_vector is not None,
                                          with_text=bool(terms) and (query_vector is None or hybrid))))
        if hybrid:
            kept = hybrid_rank(op, query_vector, terms, docs)
        elif query_vector is not None:
            kept = rank(op, query_vector, docs)
        elif terms:
            kept = text_rank(op, terms, docs)
        else:
            kept = [(None, d) for d in docs[op.offset: op.offset + op.limit]]
    if wants_refresh(settings, op.refresh_ttl):
        patches = [patch for _, d in kept if (patch := refresh_patch(d, now))]
        if patches:
            yield patches
    return [to_item(doc, score, search=True) for score, doc in kept]


def plan_list_namespaces(op: ListNamespacesOp, settings: StoreSettings) -> Plan:
    now, caps = time.time(), settings.capabilities
    found = None
    if caps.distinct:
        try:
            found = yield namespaces_query(op, settings.partition_depth, now, distinct=True)
        except Unsupported:
            pass
    if found is None:
        found = yield namespaces_query(op, settings.partition_depth, now, distinct=False)
    return select_namespaces(op, found)


# --- batches -----------------------------------------------------------------------------------


@dataclass
class BatchPlan:
    """A batch split into phases: reads see the state before the batch's writes
    (as in InMemoryStore), and only the last put per item runs."""

    ops: list[Op]
    reads: dict[int, Op]
    writes: dict[int, PutOp]
    put_texts: dict[int, list[tuple[str, str]]]
    query_texts: dict[int, str]

    def texts(self) -> tuple[list[str], list[str]]:
        """What to embed first: the documents' texts and the queries'."""
        documents = sorted({t for pairs in self.put_texts.values() for _, t in pairs})
        return documents, sorted(set(self.query_texts.values()))

    def phases(self, settings: StoreSettings, documents: dict[str, list[float]],
               queries: dict[str, list[float]]) -> Iterator[dict[int, Plan]]:
        """The plans of each phase, keyed by the position of the op whose
        result each gives: the reads, then the writes (planned once the
        reads are done). A phase's plans may run concurrently."""
        yield read_plans(self, settings, queries)
        yield write_plans(self, settings, documents)


def prepare_batch(ops: Iterable[Op], settings: StoreSettings) -> BatchPlan:
    ops = list(ops)
    reads: dict[int, Op] = {}
    last_put: dict[tuple, int] = {}
    for i, op in enumerate(ops):
        validate_op_namespace(op)
        if isinstance(op, PutOp):
            if not op.namespace:  # a root label "langgraph" is fine here, as in InMemoryStore.batch
                raise InvalidNamespaceError("Namespace cannot be empty.")
            last_put[(op.namespace, op.key)] = i
        elif isinstance(op, (GetOp, SearchOp, ListNamespacesOp)):
            reads[i] = op
        else:
            raise ValueError(f"Unknown operation type: {type(op)}")
    writes = {i: ops[i] for i in sorted(last_put.values())}
    index = settings.index
    put_texts = {i: texts_to_embed(op, index) for i, op in writes.items()}
    query_texts = {i: op.query for i, op in reads.items()
                   if index and isinstance(op, SearchOp) and op.query}
    return BatchPlan(ops, reads, writes, put_texts, query_texts)


def read_plans(batch: BatchPlan, settings: StoreSettings, vectors: dict[str, list[float]]) -> dict[int, Plan]:
    plans = {}
    for i, op in batch.reads.items():
        if isinstance(op, GetOp):
            plans[i] = plan_get(op, settings)
        elif isinstance(op, SearchOp):
            query = batch.query_texts.get(i)
            plans[i] = plan_search(op, settings, vectors[query] if query is not None else None)
        else:
            plans[i] = plan_list_namespaces(op, settings)
    return plans


def write_plans(batch: BatchPlan, settings: StoreSettings, vectors: dict[str, list[float]]) -> dict[int, Plan]:
    """One plan per partition written, keyed by its first write's position
    (a put's result is None)."""
    by_partition: dict[str, tuple[int, list[Upsert | Delete]]] = {}
    for i, op in batch.writes.items():
        request = put_request(op, settings, {path: vectors[text] for path, text in batch.put_texts[i]})
        by_partition.setdefault(request.pk if isinstance(request, Delete) else request.body["pk"], (i, []))[1].append(
            request)
    return {i: plan_partition_writes(requests, settings) for i, requests in by_partition.values()}
