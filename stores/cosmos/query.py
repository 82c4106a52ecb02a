"""Queries and result shaping of the Cosmos DB store: SQL text (always
parameterised), the filter, namespace and ranking rules of LangGraph's
InMemoryStore applied client-side, which is what keeps results identical
whatever subset of Cosmos DB SQL the server runs.

Only the parts of a filter that Cosmos DB evaluates exactly as Python does
(string equality, at any depth) go into the SQL; every filter is then
checked again client-side, so server and client can never disagree.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Iterable, Sequence

from langgraph.store.base import ListNamespacesOp, MatchCondition, SearchOp

from stores.cosmos.requests import Query


def namespace_text(namespace: Sequence[str]) -> str:
    return ".".join(namespace)


def partition_of(namespace: Sequence[str], depth: int) -> str:
    return namespace_text(namespace[:depth])


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


def _exact_conditions(filter: dict | None) -> list[tuple[tuple[str, ...], str | None]] | None:
    """The filter as (path, string) equalities Cosmos DB evaluates exactly as
    Python does, or None if any part needs the client-side check alone. A
    top-level ``None`` (the field missing or null) is one too; nested, it
    would also need its parent to be an object."""
    conditions: list[tuple[tuple[str, ...], str | None]] = []

    def walk(path: tuple[str, ...], wanted: Any) -> bool:
        if isinstance(wanted, str) or (wanted is None and len(path) == 1):
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

# Projections: an item's fields, and its vectors only where ranking is client-side.
ITEM_FIELDS = ", ".join(f"c.{name}" for name in (
    "id", "pk", "ns", "key")) + ', c["value"], ' + ", ".join(f"c.{name}" for name in (
    "created_at", "updated_at", "expires_at", "ttl_minutes", "_etag"))
VECTOR_FIELDS = "c.embedding, c.more_embeddings"
TEXT_FIELD = "c.text"


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


def _search_scope(op: SearchOp, depth: int, now: float, p: _Params) -> tuple[list[str], str | None, bool]:
    """Conditions of a search (namespace, expiry, the filter's exactly
    translatable part), its partition, and whether the filter is all there."""
    where, pk = scope(op.namespace_prefix, depth, now, p)
    exact = _exact_conditions(op.filter)
    for path, wanted in exact or ():
        field = 'c["value"]' + "".join(f"[{p(label)}]" for label in path)
        where.append(f"(NOT IS_DEFINED({field}) OR IS_NULL({field}))" if wanted is None else f"{field} = {p(wanted)}")
    return where, pk, exact is not None


def search_query(op: SearchOp, depth: int, now: float, with_vectors: bool, with_text: bool = False) -> Query:
    """Newest first; TOP pages on the server when the filter is all in SQL
    and nothing is ranked client-side (which the vectors or text are for)."""
    p = _Params()
    where, pk, filter_in_sql = _search_scope(op, depth, now, p)
    ranked = with_vectors or with_text
    top = f"TOP {p(op.offset + op.limit)} " if filter_in_sql and not ranked else ""
    fields = ", ".join([ITEM_FIELDS] + [VECTOR_FIELDS] * with_vectors + [TEXT_FIELD] * with_text)
    sql = f"SELECT {top}{fields} FROM c WHERE {' AND '.join(where)} ORDER BY c.updated_at DESC"
    return Query(sql, tuple(p.items), pk)


def full_text_query(op: SearchOp, terms: list[str], depth: int, now: float,
                    vector: list[float] | None = None) -> Query:
    """Real Cosmos DB's BM25 ranking over the items' ``text`` (its full-text
    index), fused with vector similarity by ``RRF`` when there is a query
    vector (hybrid search; the score reported is the vector similarity,
    since FullTextScore cannot be projected)."""
    p = _Params()
    where, pk, filter_in_sql = _search_scope(op, depth, now, p)
    top = f"TOP {p(op.offset + op.limit)} " if filter_in_sql else ""
    text_score = f"FullTextScore(c.text, {', '.join(p(term) for term in terms)})"
    if vector is None:
        sql = f"SELECT {top}{ITEM_FIELDS} FROM c WHERE {' AND '.join(where)} ORDER BY RANK {text_score}"
    else:
        v = p(vector)
        sql = (f"SELECT {top}{ITEM_FIELDS}, VectorDistance(c.embedding, {v}) AS score FROM c "
               f"WHERE {' AND '.join(where)} ORDER BY RANK RRF(VectorDistance(c.embedding, {v}), {text_score})")
    return Query(sql, tuple(p.items), pk, needs="full_text")


def vector_queries(op: SearchOp, vector: list[float], depth: int, now: float) -> tuple[Query, Query]:
    """Real Cosmos DB's vector search: the items nearest by their first vector
    (``/embedding``, the container's vector policy path) with the server's
    score and no vectors, and every item with more than one vector, with its
    vectors, since its best vector may beat its first. Ranked as
    InMemoryStore pools vectors, the top of these is the exact answer (up to
    the vector index's own recall): an item left out has one vector, no
    nearer than the farthest one fetched."""
    p = _Params()
    where, pk, _ = _search_scope(op, depth, now, p)
    k, v = p(max(4 * (op.offset + op.limit), 50)), p(vector)
    nearest = Query(f"SELECT TOP {k} {ITEM_FIELDS}, VectorDistance(c.embedding, {v}) AS score "
                    f"FROM c WHERE {' AND '.join(where)} AND IS_DEFINED(c.embedding) "
                    f"ORDER BY VectorDistance(c.embedding, {v})", tuple(p.items), pk, needs="vector_search")
    p = _Params()
    where, pk, _ = _search_scope(op, depth, now, p)
    pooled = Query(f"SELECT {ITEM_FIELDS}, {VECTOR_FIELDS} FROM c WHERE {' AND '.join(where)} "
                   f"AND c.multi_vector = true", tuple(p.items), pk, needs="vector_search")
    return nearest, pooled


def namespaces_query(op: ListNamespacesOp, depth: int, now: float, distinct: bool) -> Query:
    p = _Params()
    literal: list[str] = []
    for condition in op.match_conditions or ():
        if condition.match_type == "prefix":
            literal = max(literal, _leading_literals(condition.path), key=len)
    where, pk = scope(tuple(literal), depth, now, p)
    select = "DISTINCT VALUE c.ns" if distinct else "VALUE c.ns"
    return Query(f"SELECT {select} FROM c WHERE {' AND '.join(where)}", tuple(p.items), pk,
                 needs="distinct" if distinct else None)


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


def scores(query_vector: list[float], doc: dict) -> list[float]:
    """The item's similarity per vector; the server's score where it sent no vectors."""
    vectors = ([doc["embedding"]] if doc.get("embedding") else []) + doc.get("more_embeddings", [])
    if vectors:
        return [cosine(query_vector, vector) for vector in vectors]
    return [doc["score"]] if doc.get("score") is not None else []


def rank(op: SearchOp, query_vector: list[float], docs: list[dict]) -> list[tuple[float | None, dict]]:
    scored = sorted(
        ((score, doc) for doc in docs for score in scores(query_vector, doc)),
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
    scoreless = [doc for doc in docs if not scores(query_vector, doc)]
    if scoreless and len(kept) < op.limit:  # InMemoryStore's fill-up, offset ignored
        kept.extend((None, doc) for doc in scoreless[: op.limit - len(kept)])
    return kept


# --- full-text ranking where the server has none (Okapi BM25, as Cosmos DB's FullTextScore) ---

_WORD = re.compile(r"\w+")
MAX_TERMS = 32


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def query_terms(query: str) -> list[str]:
    """The query's distinct words, in order (at most ``MAX_TERMS``)."""
    return list(dict.fromkeys(words(query)))[:MAX_TERMS]


def bm25(terms: list[str], docs: list[dict], k1: float = 1.2, b: float = 0.75) -> list[float]:
    tokenized = [words(doc.get("text") or "") for doc in docs]
    average = sum(map(len, tokenized)) / len(tokenized) if tokenized else 0.0
    frequency = Counter(term for tokens in tokenized for term in set(tokens))
    out = []
    for tokens in tokenized:
        counts, length = Counter(tokens), len(tokens)
        out.append(sum(
            math.log(1 + (len(docs) - frequency[t] + 0.5) / (frequency[t] + 0.5))
            * counts[t] * (k1 + 1) / (counts[t] + k1 * (1 - b + b * length / (average or 1)))
            for t in terms if counts[t]))
    return out


def text_rank(op: SearchOp, terms: list[str], docs: list[dict]) -> list[tuple[float | None, dict]]:
    """Most relevant first (ties newest first, as ``docs`` come); items with
    none of the words follow, so a page is always full."""
    scored = sorted(zip(bm25(terms, docs), docs), key=lambda pair: pair[0], reverse=True)
    return scored[op.offset: op.offset + op.limit]


def hybrid_rank(op: SearchOp, query_vector: list[float], terms: list[str],
                docs: list[dict]) -> list[tuple[float | None, dict]]:
    """Reciprocal rank fusion of vector similarity and BM25, as Cosmos DB's
    RRF (k = 60); the score reported is the item's best vector similarity."""
    similarity = [max(scores(query_vector, doc), default=None) for doc in docs]
    by_vector = sorted(range(len(docs)), key=lambda i: -math.inf if similarity[i] is None else similarity[i],
                       reverse=True)
    text = bm25(terms, docs)
    by_text = sorted(range(len(docs)), key=lambda i: text[i], reverse=True)
    fused = Counter()
    for ranking in (by_vector, by_text):
        for place, i in enumerate(ranking, start=1):
            fused[i] += 1 / (60 + place)
    order = sorted(range(len(docs)), key=lambda i: fused[i], reverse=True)
    return [(similarity[i], docs[i]) for i in order[op.offset: op.offset + op.limit]]
