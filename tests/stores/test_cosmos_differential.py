"""CosmosStore against LangGraph's InMemoryStore on random operation sequences.

Each random batch runs on both stores, and every result is compared: items,
values and namespaces must be equal. Order is compared only where it is
defined: search without a query is newest-update-first (SqliteStore's order;
the test keeps the batch number of each item's last put, so items written in
one batch tie), search with a query is best-score-first. Within a tie, a page
may hold any of the tied items, so the test checks the sequence of ranks and
that each returned item belongs to its rank's group.
"""

import itertools
import json
import random

import pytest
from langgraph.store.base import GetOp, ListNamespacesOp, MatchCondition, PutOp, SearchOp
from langgraph.store.memory import InMemoryStore

from stores import cosmos
from tests.support.fixtures_cosmos import WordHashEmbeddings

pytestmark = pytest.mark.long

WORDS = ["loan", "card", "fee", "travel", "mortgage", "savings", "fraud", "limit"]
NAMESPACES = [("customers", c, kind) for c in ("c1", "c2", "c3") for kind in ("profile", "facts", "episodes")]
NAMESPACES += [("customers", "c1"), ("bank", "rates"), ("bank", "rates", "eu")]
PREFIXES = [(), ("customers",), ("customers", "c1"), ("customers", "c1", "facts"), ("customers", "c2", "episodes"),
            ("bank",), ("nobody",)]
FILTERS = [None, {"tag": "a"}, {"n": {"$gt": 4}}, {"n": {"$lte": 3, "$gte": 1}}, {"tag": {"$ne": "b"}},
           {"meta": {"src": "x"}}, {"meta": {"level": 2}}, {"n": 5}, {"flag": True}, {"tag": {"$eq": "c"}},
           {"tag": "a", "meta": {"src": "y"}}, {"n": {"$lt": 7}, "tag": "b"}, {"flag": None}]
MATCHES = [(None, None), ("prefix", ("customers",)), ("prefix", ("customers", "*", "facts")), ("prefix", ("bank",)),
           ("suffix", ("facts",)), ("suffix", ("*",)), ("suffix", ("c1", "*")), ("prefix", ("*", "c2"))]
BIG = 10**6
SERIAL = itertools.count()


def index_config():
    return {"dims": 16, "embed": WordHashEmbeddings(), "fields": ["text"]}


def random_value(rng):
    value = {"n": rng.randint(0, 9), "tag": rng.choice("abc"),
             "meta": {"level": rng.randint(0, 3), "src": rng.choice("xy")}}
    if rng.random() < 0.8:
        # A serial word keeps texts distinct within a batch: InMemoryStore fails a
        # batch embedding one text twice ("Number of embeddings ... does not match").
        value["text"] = " ".join(rng.sample(WORDS, rng.randint(1, 3))) + f" n{next(SERIAL)}"
    if rng.random() < 0.3:
        value["flag"] = rng.choice([True, False, None])
    return value


def random_op(rng):
    roll = rng.random()
    if roll < 0.4:
        ns, key = rng.choice(NAMESPACES), f"k{rng.randint(0, 5)}"
        if rng.random() < 0.12:
            return PutOp(ns, key, None)
        return PutOp(ns, key, random_value(rng), index=False if rng.random() < 0.15 else None)
    if roll < 0.6:
        return GetOp(rng.choice(NAMESPACES), f"k{rng.randint(0, 5)}")
    if roll < 0.87:
        query = " ".join(rng.sample(WORDS, 2)) if rng.random() < 0.35 else None
        return SearchOp(rng.choice(PREFIXES), rng.choice(FILTERS), rng.choice([1, 3, 10, 50]),
                        rng.choice([0, 0, 1, 4]), query)
    conditions = tuple(MatchCondition(t, p) for t, p in (rng.choice(MATCHES), rng.choice(MATCHES)) if t)
    return ListNamespacesOp(conditions or None, rng.choice([None, 1, 2, 3]), rng.choice([2, 5, 100]),
                            rng.choice([0, 0, 1, 3]))


def identity(item):
    return (tuple(item.namespace), item.key, json.dumps(item.value, sort_keys=True))


class ReindexingInMemoryStore(InMemoryStore):
    """InMemoryStore keeps an item's old vectors when a new put of it embeds
    nothing (``index=False``, or no text at the indexed fields), so the item
    still ranks by its old text; CosmosStore replaces an item's vectors on
    every put. This drops them before the batch's new vectors go in (searches
    of the batch have already run)."""

    def _extract_texts(self, put_ops):
        for namespace, key in put_ops:
            self._vectors[namespace].pop(key, None)
        return super()._extract_texts(put_ops)


class Reference:
    """InMemoryStore plus the batch number of each item's last put."""

    def __init__(self):
        self.store = ReindexingInMemoryStore(index=index_config())
        self.batch_of: dict[tuple, int] = {}
        self.batches = 0

    def expectations(self, ops):
        """What each read must return, from the state before the batch."""
        out = []
        for op in ops:
            if isinstance(op, SearchOp):
                full = self.store.batch([op._replace(limit=BIG, offset=0)])[0]
                out.append(full)
            elif isinstance(op, ListNamespacesOp):
                out.append(self._live_namespaces().batch([op])[0])
            else:
                out.append(None)
        return out

    def _live_namespaces(self):
        # InMemoryStore keeps a namespace after its last item is deleted (or merely
        # read); SqliteStore and CosmosStore list only namespaces holding items.
        live = InMemoryStore()
        for ns, items in self.store._data.items():
            for key, item in items.items():
                live.put(ns, key, item.value, index=False)
        return live

    def apply(self, ops):
        results = self.store.batch(ops)
        self.batches += 1
        for op in ops:
            if isinstance(op, PutOp):
                if op.value is None:
                    self.batch_of.pop((op.namespace, op.key), None)
                else:
                    self.batch_of[(op.namespace, op.key)] = self.batches
        return results


def assert_ranked_page(actual, ranked, rank_of, offset, limit, context):
    page = ranked[offset: offset + limit]
    assert [rank_of(i) for i in actual] == [rank_of(i) for i in page], context
    for item in actual:
        group = {identity(i) for i in ranked if rank_of(i) == rank_of(item)}
        assert identity(item) in group, context


def compare(op, expected, reference_result, actual, ref: Reference, context):
    if isinstance(op, GetOp):
        assert (identity(actual) if actual else None) == (
            identity(reference_result) if reference_result else None), context
    elif isinstance(op, ListNamespacesOp):
        assert actual == expected, context
    elif isinstance(op, SearchOp) and op.query:
        def score(item):
            return None if item.score is None else round(item.score, 6)
        assert [score(i) for i in actual] == [score(i) for i in reference_result], context
        for item in actual:
            assert identity(item) in {identity(i) for i in expected if score(i) == score(item)}, context
    elif isinstance(op, SearchOp):
        snapshot = dict(ref.batch_of)

        def newest_first(item):
            return -snapshot[(tuple(item.namespace), item.key)]
        ranked = sorted(expected, key=newest_first)
        assert_ranked_page(actual, ranked, newest_first, op.offset, op.limit, context)
    else:
        assert actual is None, context


def run_round(rng, ref, batch_no):
    ops = [random_op(rng) for _ in range(rng.randint(1, 7))]
    expected = ref.expectations(ops)
    return ops, expected


def check_round(ops, expected, ref, actual, batch_no):
    snapshot = dict(ref.batch_of)
    reference_results = ref.apply(ops)
    ref_after = ref.batch_of
    ref.batch_of = snapshot  # rank by the state the reads saw
    for i, op in enumerate(ops):
        compare(op, expected[i], reference_results[i], actual[i], ref, f"batch {batch_no} op {i}: {op}")
    ref.batch_of = ref_after
    return len(ops)


def test_random_batches_match_in_memory_store(cosmos_url):
    rng, ref, total = random.Random(20261125), Reference(), 0
    with cosmos.connect(cosmos_url, index=index_config()) as store:
        for batch_no in range(300):
            ops, expected = run_round(rng, ref, batch_no)
            total += check_round(ops, expected, ref, store.batch(ops), batch_no)
    assert total > 1100


async def test_random_batches_match_in_memory_store_async(cosmos_url):
    rng, ref, total = random.Random(4), Reference(), 0
    async with cosmos.aconnect(cosmos_url + "&partition_depth=1", index=index_config()) as store:
        for batch_no in range(600):
            ops, expected = run_round(rng, ref, batch_no)
            total += check_round(ops, expected, ref, await store.abatch(ops), batch_no)
    assert total > 2100
