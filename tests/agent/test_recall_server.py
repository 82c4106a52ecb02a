"""Recall ranked by Cosmos DB's server where it can rank (``agent.recall_server``),
the in-process index where it cannot; on the Cosmos DB REST server, which has
no ``VectorDistance``, ``FullTextScore`` or ``RRF``.

What Azure would be sent is checked as text and parameters. Its answer to the
hybrid query is stood in for by ``AzureRanking``: the query's own WHERE clause
runs on the real server, and the ranking Azure would apply (reciprocal rank
fusion of cosine similarity and BM25) is computed by the store's client-side
implementation of it."""

from __future__ import annotations

import re
import pytest
from langchain_core.embeddings import Embeddings
from langgraph.store.base import SearchOp

import stores
from agent import memory, recall_server
from agent.recall import Memo, embed
from stores.cosmos.query import ITEM_FIELDS, hybrid_rank
from stores.cosmos.requests import Query
from tests.agent.test_recall import CHORES, episode, sessions, system_of  # noqa: F401 (sessions: over this module's store)

QUESTION = "What about that mortgage I asked about?"
MORTGAGE = "Asked about mortgage rates for a 30-year fixed loan."
PROJECTED = re.findall(r'c(?:\.(\w+)|\["(\w+)"\])', ITEM_FIELDS)


class WordLlamaEmbeddings(Embeddings):
    """The agent's offline word embeddings as the store's embedding model."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return embed([text])[0].tolist()


class Recorder:
    """Records every request the store's executor carries out."""

    def __init__(self, store) -> None:
        self.execute, self.sent = store._aexecute, []
        store._aexecute = self

    async def __call__(self, request):
        self.sent.append(request)
        return await self.execute(request)

    def ranked(self) -> list[Query]:
        return [r for r in self.sent if " ORDER BY RANK " in getattr(r, "sql", "")]


class AzureRanking(Recorder):
    """A query ``ORDER BY RANK`` is answered as Azure ranks it (see the
    module's docstring); other requests go to the server."""

    async def __call__(self, request):
        if not (isinstance(request, Query) and " ORDER BY RANK " in request.sql):
            return await super().__call__(request)
        self.sent.append(request)
        params = dict(request.params)
        where = request.sql.split(" WHERE ", 1)[1].split(" ORDER BY RANK ", 1)[0]
        used = tuple((name, value) for name, value in request.params if re.search(rf"{name}\b", where))
        docs = self.matched = await self.execute(Query(f"SELECT * FROM c WHERE {where}", used, request.pk))
        vector = params[re.search(r"VectorDistance\(c\.embedding, (@p\d+)\)", request.sql)[1]]
        terms = [params[n] for n in re.search(r"FullTextScore\(c\.text, ([^)]*)\)", request.sql)[1].split(", ")]
        top = params[re.search(r"TOP (@p\d+)", request.sql)[1]]
        ranked = hybrid_rank(SearchOp((), limit=top), vector, terms, docs)
        return [{**{a or b: doc.get(a or b) for a, b in PROJECTED}, "score": score} for score, doc in ranked]


@pytest.fixture
async def hybrid_store(cosmos_url):
    """A Cosmos DB store that would rank on Azure: ``?search=hybrid``, an
    embedding index over the agent's fields, both container policies; with
    every HTTP request's partition key recorded."""
    partitions = []
    index = {"dims": 256, "embed": WordLlamaEmbeddings(), "fields": ["fact", "summary"]}
    async with stores.aconnect(cosmos_url + "&search=hybrid", index=index, raw_response_hook=lambda response: (
            partitions.append(response.http_request.headers.get("x-ms-documentdb-partitionkey")))) as store:
        store.partitions = partitions
        yield store


async def seed(store, customer: str) -> None:
    """A profile, 150 routine sessions and, written among them, an old one
    about a mortgage; a current fact, one that is history, one forgotten."""
    writes = [memory.episode_put(customer, episode(n, CHORES[n % 5], f"20{25 + n // 100}-{n % 12 + 1:02d}-{n % 27 + 1:02d}"))
              for n in range(1, 151)]
    writes.insert(75, memory.episode_put(customer, episode(0, MORTGAGE, "2024-01-10")))
    old = memory.fact_put(customer, "product_interest", "Wants a 20-year mortgage", "s-0", subject="mortgage")
    now = memory.fact_put(customer, "product_interest", "Wants a 30-year mortgage", "s-1", subject="mortgage")
    gone = memory.fact_put(customer, "life_event", "Mortgage trouble after a divorce", "s-0")
    old.value.update(superseded_at=memory.now_iso(), superseded_by=now.key)
    gone.value.clear()
    gone.value.update(category="life_event", forgotten_at=memory.now_iso())
    await store.abatch([memory.profile_put(customer, {"name": "Sarah Johnson"}), *writes, old, now, gone])


def facts_of(known) -> list[str]:
    return [f["fact"] for f in known.facts]


async def test_where_the_server_ranks_recall_asks_it_in_three_requests_to_one_partition(hybrid_store):
    await seed(hybrid_store, "C-1")
    azure = AzureRanking(hybrid_store)
    for turn in range(2):
        azure.sent.clear()
        hybrid_store.partitions.clear()
        known = await memory.arecall(hybrid_store, "C-1", QUESTION)
        assert len(azure.sent) == len(hybrid_store.partitions) == 3  # profile, ranked, newest: concurrently
        assert set(hybrid_store.partitions) == {'["customers.C-1"]'}
        assert hybrid_store.ranks_on_server
        assert known.profile == {"name": "Sarah Johnson"}
        assert known.episodes[0]["summary"] == MORTGAGE  # 150 newer sessions, ranked first
        assert facts_of(known) == ["Wants a 30-year mortgage"]  # not the history, not the tombstone
    assert {d["key"] for d in azure.matched if d["ns"][-1] == "facts"} == {memory.fact_key(
        "product_interest", "Wants a 30-year mortgage")}  # the real server's WHERE left the history out
    profile, ranked, newest = azure.sent
    scope = ("c.pk = @p1 AND (c.expires_at = null OR c.expires_at > @p0) AND (c.ns_text = @p2 OR "
             "STARTSWITH(c.ns_text, @p3)) AND (NOT IS_DEFINED(c[\"value\"][@p4]) OR IS_NULL(c[\"value\"][@p4])) "
             "AND (NOT IS_DEFINED(c[\"value\"][@p5]) OR IS_NULL(c[\"value\"][@p5]))")
    terms = ", ".join(f"@p{n}" for n in range(7, 13))
    assert ranked.sql == (f"SELECT TOP @p6 {ITEM_FIELDS}, VectorDistance(c.embedding, @p13) AS score FROM c "
                          f"WHERE {scope} ORDER BY RANK RRF(VectorDistance(c.embedding, @p13), "
                          f"FullTextScore(c.text, {terms}))")
    params = dict(ranked.params)
    assert [params[f"@p{n}"] for n in (1, 2, 3, 4, 5, 6)] == [
        "customers.C-1", "customers.C-1", "customers.C-1.", "superseded_at", "forgotten_at", 100]
    assert [params[f"@p{n}"] for n in range(7, 13)] == ["what", "about", "that", "mortgage", "i", "asked"]
    assert params["@p13"] == pytest.approx(embed([QUESTION])[0].tolist())
    assert newest.sql == f"SELECT TOP @p6 {ITEM_FIELDS} FROM c WHERE {scope} ORDER BY c.updated_at DESC"
    assert ranked.pk == newest.pk == "customers.C-1" and profile.pk == "customers.C-1"


async def test_where_the_server_cannot_rank_recall_falls_back_to_the_in_process_index(hybrid_store):
    await seed(hybrid_store, "C-2")
    server = Recorder(hybrid_store)  # the server's own answers
    first = await memory.arecall(hybrid_store, "C-2", QUESTION)
    assert len(server.ranked()) == 1  # asked once, refused
    assert not hybrid_store.ranks_on_server
    assert facts_of(first) == ["Wants a 30-year mortgage"]
    await memory.arecall(hybrid_store, "C-2", QUESTION)  # the in-process index, read whole the first time
    server.sent.clear()
    hybrid_store.partitions.clear()
    known = await memory.arecall(hybrid_store, "C-2", QUESTION)
    assert len(hybrid_store.partitions) == 3 and set(hybrid_store.partitions) == {'["customers.C-2"]'}
    assert not server.ranked()
    assert known.episodes[0]["summary"] == MORTGAGE
    assert facts_of(known) == ["Wants a 30-year mortgage"]


def memo(key: str, when: str) -> Memo:
    return Memo("episode", key, {"summary": key}, key, when)


def test_the_servers_ranking_leads_and_recency_by_the_items_own_time_follows():
    relevant = [memo("mortgage", "2021-01-01"), memo("fees", "2022-01-01")]
    # The store lists by its write time: an import of old sessions comes first.
    newest = [memo("imported", "2019-01-01"), memo("today", "2026-01-01")]
    assert [m.key for m in recall_server.fused(relevant, newest)] == ["mortgage", "fees", "today", "imported"]
    both = recall_server.fused(relevant, [memo("fees", "2022-01-01")])
    assert [m.key for m in both] == ["fees", "mortgage"]  # relevant and recent beats relevant alone


@pytest.fixture
def store(hybrid_store):
    return hybrid_store


async def test_a_turn_on_a_server_that_ranks_shows_the_old_mortgage_session(sessions, store, fake_openai):
    await seed(store, "C-3")
    azure = AzureRanking(store)
    reply = await sessions.send("C-3", QUESTION)
    assert "30-year fixed loan" in system_of(fake_openai) and "30-year fixed loan" in reply.text
    assert "Wants a 30-year mortgage" in system_of(fake_openai) and "20-year" not in system_of(fake_openai)
    assert len(azure.ranked()) == 1
