"""The logic of the Cosmos DB store, shared by its sync and async shells.

Sans-I/O: every store operation is a generator that yields Cosmos DB requests
(`PointRead`, `Query`, `Upsert`, `Delete`, `Patch`, or a list of them to run
concurrently) and is sent their answers. `stores/cosmos.py` only executes the
requests, with the sync or the async SDK, so a fix here lands in both.

Document layout (one document per item)::

    {"id": sha256 of [namespace, key],  "pk": first labels of the namespace,
     "ns": [labels], "ns_text": "a.b.c", "key": ..., "value": {...},
     "created_at"/"updated_at": ISO-8601 UTC with microseconds,
     "expires_at": epoch seconds or null, "ttl_minutes": ... or null,
     "ttl": seconds (Cosmos DB's own expiry, only for items with a TTL),
     "embeddings": [[path, vector], ...] (only for indexed items)}

Partition key: the namespace's first ``partition_depth`` labels joined by
``.`` (labels cannot contain ``.``), so ``("customers", id, "facts")`` and
``("customers", id, "episodes")`` share the partition ``customers.<id>``: a
turn's reads and writes never cross partitions. The id is a hash because
Cosmos DB ids may not contain ``/ \\ ? #`` and stop at 255 characters, while
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
from typing import Any, Generator, Iterable, Sequence, Union

from langgraph.store.base import (
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    SearchItem,
    SearchOp,
    TTLConfig,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)
from langgraph.store.base import _validate_namespace  # LangGraph's own error for puts

# --- requests the plans yield -------------------------------------------------


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


@dataclass
class Capabilities:
    """What the server answered so far; real Cosmos DB has all of them."""

    missing_point_read_is_404: bool = True  # the open server answers 500
    distinct: bool = True
    vector_search: bool = False  # container has a vector embedding policy


@dataclass
class StoreSettings:
    partition_depth: int = 2
    ttl: TTLConfig | None = None
    index: dict | None = None  # LangGraph IndexConfig with "__tokenized_fields"
    capabilities: Capabilities = field(default_factory=Capabilities)


# --- keys and time ---------------------------------------------------------------


def item_id(namespace: Sequence[str], key: str) -> str:
    return hashlib.sha256(json.dumps([list(namespace), key]).encode()).hexdigest()


def namespace_text(namespace: Sequence[str]) -> str:
    return ".".join(namespace)


def partition_of(namespace: Sequence[str], depth: int) -> str:
    return namespace_text(namespace[:depth])


_clock_lock = threading.Lock()
_last_stamp = 0.0


def now_stamp() -> float:
    """Strictly increasing epoch seconds in this process, so newest-first order
    is defined for successive writes (SQLite's second resolution leaves ties)."""
    global _last_stamp
    with _clock_lock:
        _last_stamp = max(time.time(), _last_stamp + 1e-6)
        return _last_stamp


def iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


# --- documents ----------------------------------------------------------------------


def put_document(op: PutOp, stamp: float, depth: int, embeddings: dict[str, list[float]] | None) -> dict:
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
    if embeddings:
        doc["embeddings"] = [[path, vector] for path, vector in embeddings.items()]
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


# --- filters (InMemoryStore's semantics; SQLite's for missing or non-numeric ranges) --


def matches(value: dict, filter: dict | None) -> bool:
    return not filter or all(_compare(value.get(k), v) for k, v in filter.items())


def _compare(item_value: Any, filter_value: Any) -> bool:
    if isinstance(filter_value, dict):
        if any(k.startswith("$") for k in filter_value):
            return all(_operator(item_value, k, v) for k, v in filter_value.items())
        return isinstance(item_value, dict) and all(
            _compare(item_value.get(k), v) for k, v in filter_value.items()
        )
    if isinstance(filter_value, (list, tuple)):
        return (
            isinstance(item_value, (list, tuple))
            and len(item_value) == len(filter_value)
            and all(_compare(i, f) for i, f in zip(item_value, filter_value))
        )
    return item_value == filter_value


_ORDER = {"$gt": float.__gt__, "$gte": float.__ge__, "$lt": float.__lt__, "$lte": float.__le__}


def _operator(value: Any, operator: str, operand: Any) -> bool:
    if operator == "$eq":
        return value == operand
    if operator == "$ne":
        return value != operand
    if operator not in _ORDER:
        raise ValueError(f"Unsupported operator: {operator}")
    try:
        return _ORDER[operator](float(value), float(operand))
    except (TypeError, ValueError):
        # InMemoryStore raises here; SQLite treats it as no match, which a
        # filter over items that lack the field needs.
        return False


def _exact_conditions(filter: dict | None) -> list[tuple[tuple[str, ...], str]] | None:
    """The filter as (path, string) equalities Cosmos DB evaluates exactly as
    Python does, or None if any part needs the client-side check alone."""
    conditions: list[tuple[tuple[str, ...], str]] = []

    def walk(path: tuple[str, ...], wanted: Any) -> bool:
        if isinstance(wanted, str):
            conditions.append((path, wanted))
            return True
        if isinstance(wanted, dict) and wanted:
            if set(wanted) == {"$eq"}:
                return walk(path, wanted["$eq"]) if isinstance(wanted["$eq"], str) else False
            return not any(k.startswith("$") for k in wanted) and all(
                walk(path + (k,), v) for k, v in wanted.items()
            )
        return False

    return conditions if all(walk((k,), v) for k, v in (filter or {}).items()) else None


# --- SQL (always parameterised) ----------------------------------------------------------


class _Params:
    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []

    def __call__(self, value: Any) -> str:
        name = f"@p{len(self.items)}"
        self.items.append((name, value))
        return name


def scope(prefix: Sequence[str], depth: int, now: float, p: _Params) -> tuple[list[str], str | None]:
    """WHERE conditions and partition for items under ``prefix`` that are live."""
    where = [f"(c.expires_at = null OR c.expires_at > {p(now)})"]
    pk = None
    if len(prefix) >= depth:
        pk = partition_of(prefix, depth)
        where.insert(0, f"c.pk = {p(pk)}")  # the open server requires it for single-partition queries
    if prefix:
        text = namespace_text(prefix)
        where.append(f"(c.ns_text = {p(text)} OR STARTSWITH(c.ns_text, {p(text + '.')}))")
    return where, pk


def search_query(op: SearchOp, depth: int, now: float, with_vectors: bool) -> tuple[Query, bool]:
    """The query for a search and whether it already pages exactly (TOP)."""
    p = _Params()
    where, pk = scope(op.namespace_prefix, depth, now, p)
    exact = _exact_conditions(op.filter)
    for path, wanted in exact or ():
        where.append("c[\"value\"]" + "".join(f"[{p(label)}]" for label in path) + f" = {p(wanted)}")
    pages_exactly = exact is not None and not with_vectors
    top = f"TOP {p(op.offset + op.limit)} " if pages_exactly else ""
    sql = f"SELECT {top}* FROM c WHERE {' AND '.join(where)} ORDER BY c.updated_at DESC"
    return Query(sql, tuple(p.items), pk), pages_exactly


def vector_query(op: SearchOp, vector: list[float], depth: int, now: float) -> Query:
    """Cosmos DB vector search over the item's first embedding (the container's
    vector policy path ``/embedding``); candidates are re-ranked client-side
    over all of an item's embeddings, as InMemoryStore pools them."""
    p = _Params()
    where, pk = scope(op.namespace_prefix, depth, now, p)
    where.append("IS_DEFINED(c.embedding)")
    vec = p(vector)
    k = p(max(4 * (op.offset + op.limit), 50))
    sql = (f"SELECT TOP {k} * FROM c WHERE {' AND '.join(where)} "
           f"ORDER BY VectorDistance(c.embedding, {vec})")
    return Query(sql, tuple(p.items), pk)


def namespaces_query(op: ListNamespacesOp, depth: int, now: float, distinct: bool) -> Query:
    p = _Params()
    literal: list[str] = []
    for condition in op.match_conditions or ():
        if condition.match_type == "prefix":
            literal = max(literal, _leading_literals(condition.path), key=len)
    where, pk = scope(tuple(literal), depth, now, p)
    select = "DISTINCT VALUE c.ns" if distinct else "VALUE c.ns"
    return Query(f"SELECT {select} FROM c WHERE {' AND '.join(where)}", tuple(p.items), pk)


def _leading_literals(path: Sequence[str]) -> list[str]:
    out = []
    for label in path:
        if label == "*":
            break
        out.append(label)
    return out


# --- namespaces (InMemoryStore's matching) ------------------------------------------------


def _namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    pairs = zip(namespace, path) if condition.match_type == "prefix" else zip(reversed(namespace), reversed(path))
    return all(p == "*" or n == p for n, p in pairs)


def select_namespaces(op: ListNamespacesOp, found: Iterable[Sequence[str]]) -> list[tuple[str, ...]]:
    namespaces = {tuple(ns) for ns in found}
    namespaces = {ns for ns in namespaces if all(_namespace_matches(c, ns) for c in op.match_conditions or ())}
    if op.max_depth is not None:
        namespaces = {ns[: op.max_depth] for ns in namespaces}
    return sorted(namespaces)[op.offset: op.offset + op.limit]


# --- semantic search ranking (InMemoryStore's max pooling) ----------------------------


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def rank(op: SearchOp, query_vector: list[float], docs: list[dict]) -> list[tuple[float | None, dict]]:
    scored = sorted(
        ((cosine(query_vector, vector), doc) for doc in docs for _, vector in doc.get("embeddings", ())),
        key=lambda pair: pair[0], reverse=True,
    )
    seen: set[str] = set()
    kept: list[tuple[float | None, dict]] = []
    for score, doc in scored:
        if doc["id"] in seen:
            continue
        seen.add(doc["id"])
        if len(seen) > op.offset + op.limit:
            break
        if len(seen) > op.offset:
            kept.append((score, doc))
    scoreless = [doc for doc in docs if not doc.get("embeddings")]
    if scoreless and len(kept) < op.limit:  # InMemoryStore's fill-up, offset ignored
        kept.extend((None, doc) for doc in scoreless[: op.limit - len(kept)])
    return kept


def texts_to_embed(op: PutOp, index: dict | None) -> list[tuple[str, str]]:
    """(path name, text) pairs of a put, as InMemoryStore and SqliteStore name them."""
    if not index or op.value is None or op.index is False:
        return []
    paths = index["__tokenized_fields"] if op.index is None else [(p, tokenize_path(p)) for p in op.index]
    out = []
    for path, tokens in paths:
        texts = get_text_at_path(op.value, tokens)
        out.extend((f"{path}.{i}" if len(texts) > 1 else path, text) for i, text in enumerate(texts))
    return out


# --- plans -----------------------------------------------------------------------------------


def plan_get(op: GetOp, settings: StoreSettings) -> Plan:
    doc_id, pk = item_id(op.namespace, op.key), partition_of(op.namespace, settings.partition_depth)
    if settings.capabilities.missing_point_read_is_404:
        doc = yield PointRead(doc_id, pk)
    else:  # the open server fails a point read of a missing item with a 500
        found = yield Query("SELECT * FROM c WHERE c.pk = @pk AND c.id = @id",
                            (("@pk", pk), ("@id", doc_id)), pk)
        doc = found[0] if found else None
    now = time.time()
    if doc is None or not is_live(doc, now):
        return None
    if wants_refresh(settings, op.refresh_ttl) and (patch := refresh_patch(doc, now)):
        yield patch
    return to_item(doc)


def plan_put(op: PutOp, settings: StoreSettings, vectors: dict[str, list[float]]) -> Plan:
    if op.value is None:
        yield Delete(item_id(op.namespace, op.key), partition_of(op.namespace, settings.partition_depth))
        return None
    doc = put_document(op, now_stamp(), settings.partition_depth, vectors)
    if vectors and settings.capabilities.vector_search:
        doc["embedding"] = next(iter(vectors.values()))
    yield Upsert(doc)
    return None


def plan_search(op: SearchOp, settings: StoreSettings, query_vector: list[float] | None) -> Plan:
    now, depth = time.time(), settings.partition_depth
    docs = None
    if query_vector is not None and settings.capabilities.vector_search:
        try:
            docs = yield vector_query(op, query_vector, depth, now)
        except QueryRejected:
            settings.capabilities.vector_search = False
    if docs is None:
        query, pages_exactly = search_query(op, depth, now, with_vectors=query_vector is not None)
        docs = yield query
    docs = [d for d in docs if is_live(d, now) and matches(d["value"], op.filter)]
    docs.sort(key=lambda d: d["updated_at"], reverse=True)
    if query_vector is not None:
        kept = rank(op, query_vector, docs)
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
        except QueryRejected:
            caps.distinct = False
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

    @property
    def texts(self) -> list[str]:
        """Every distinct text to embed (documents and queries)."""
        unique = {t for pairs in self.put_texts.values() for _, t in pairs}
        unique.update(self.query_texts.values())
        return sorted(unique)


def prepare_batch(ops: Iterable[Op], settings: StoreSettings) -> BatchPlan:
    ops = list(ops)
    reads: dict[int, Op] = {}
    last_put: dict[tuple, int] = {}
    for i, op in enumerate(ops):
        validate_op_namespace(op)
        if isinstance(op, PutOp):
            _validate_namespace(op.namespace)
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
    return {
        i: plan_put(op, settings, {path: vectors[text] for path, text in batch.put_texts[i]})
        for i, op in batch.writes.items()
    }
