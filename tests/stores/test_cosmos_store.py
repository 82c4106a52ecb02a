"""CosmosStore on the Cosmos DB REST server: contract, TTL, concurrency, cost
shape; plus the SQL sent to real Cosmos DB for what the server cannot run."""

import asyncio
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from azure.cosmos import PartitionKey
from azure.cosmos.exceptions import CosmosHttpResponseError
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

import stores
from backends.registry import UnsupportedURL
from stores import cosmos
from stores.cosmos.store import answers_from_errors, sdk_call
from stores.cosmos.url import CosmosURL, account_key
from stores.cosmos.plans import (
    Capabilities,
    StoreSettings,
    item_id,
    plan_get,
    plan_delete_partition,
    plan_search,
    plan_update,
    prepare_batch,
    put_document,
    transactions,
    write_plans,
)
from stores.cosmos.bootstrap import ContainerSpec, refused
from stores.cosmos.query import bm25, full_text_query, namespaces_query, query_terms, search_query, vector_queries
from stores.cosmos.requests import (
    Conflict,
    Patch,
    PointRead,
    Query,
    Replace,
    Transaction,
    Unsupported,
    Upsert,
)

CUSTOMER = ("customers", "c-42")
WEIRD_LABELS = ["it's", 'say "hi"', "a|b", "a/b\\c", "100%", "?#", "żółw 🐢", "x" * 255, "SELECT * FROM c"]


def index_config(embeddings):
    return {"dims": 16, "embed": embeddings, "fields": ["text"]}


# --- without a server --------------------------------------------------------------


def test_url_names_endpoint_database_container_and_options():
    url = CosmosURL.parse("cosmos://acct.documents.azure.com/bank/memory")
    assert (url.endpoint, url.database, url.container) == ("https://acct.documents.azure.com/", "bank", "memory")
    assert url.verify_tls and url.partition_depth == 2
    local = CosmosURL.parse("cosmos://127.0.0.1:8081/db/c?tls=insecure&partition_depth=3")
    assert (local.endpoint, local.verify_tls, local.partition_depth) == ("https://127.0.0.1:8081/", False, 3)


@pytest.mark.parametrize("url", ["cosmos://host/onlydb", "cosmos:///db/c", "cosmos://h/db/c?partition_depth=0"])
def test_malformed_urls_are_refused(url):
    with pytest.raises(UnsupportedURL):
        CosmosURL.parse(url)


def test_a_key_in_the_url_is_refused_without_echoing_it():
    with pytest.raises(UnsupportedURL) as error:
        CosmosURL.parse("cosmos://user:s3cr3tKEY@host/db/c")
    assert "s3cr3tKEY" not in str(error.value)


def test_key_comes_from_cosmos_key_then_the_connection_string(monkeypatch):
    monkeypatch.delenv("COSMOS_KEY", raising=False)
    monkeypatch.setenv("COSMOS_CONNECTION_STRING", "AccountEndpoint=https://a/;AccountKey=abc==;")
    assert account_key() == "abc=="
    monkeypatch.setenv("COSMOS_KEY", "xyz==")
    assert account_key() == "xyz=="
    monkeypatch.delenv("COSMOS_KEY")
    monkeypatch.delenv("COSMOS_CONNECTION_STRING")
    assert account_key() is None  # then DefaultAzureCredential


ITEM = ('c.id, c.pk, c.ns, c.key, c["value"], c.created_at, c.updated_at, c.expires_at, c.ttl_minutes, '
        'c._etag')


def test_vector_search_queries_for_real_cosmos_db():
    """The open server has no VectorDistance, so the text is checked here:
    the nearest items come with the server's score and no vectors, only
    multi-vector items bring theirs (ranked client-side)."""
    op = SearchOp(CUSTOMER + ("facts",), {"kind": "fee"}, limit=5, offset=2, query="card fees")
    nearest, pooled = vector_queries(op, [0.1, 0.2], depth=2, now=1000.0)
    scope = ("c.pk = @p1 AND (c.expires_at = null OR c.expires_at > @p0) "
             "AND (c.ns_text = @p2 OR STARTSWITH(c.ns_text, @p3)) AND c[\"value\"][@p4] = @p5")
    assert nearest.sql == (f"SELECT TOP @p6 {ITEM}, VectorDistance(c.embedding, @p7) AS score "
                           f"FROM c WHERE {scope} AND IS_DEFINED(c.embedding) "
                           "ORDER BY VectorDistance(c.embedding, @p7)")
    params = {"@p0": 1000.0, "@p1": "customers.c-42", "@p2": "customers.c-42.facts",
              "@p3": "customers.c-42.facts.", "@p4": "kind", "@p5": "fee"}
    assert dict(nearest.params) == {**params, "@p6": 50, "@p7": [0.1, 0.2]}
    assert pooled.sql == (f"SELECT {ITEM}, c.embedding, c.more_embeddings FROM c WHERE {scope} "
                          "AND c.multi_vector = true")
    assert dict(pooled.params) == params
    assert nearest.pk == pooled.pk == "customers.c-42"


def test_searches_project_the_item_fields_and_vectors_only_to_rank_them():
    op = SearchOp(CUSTOMER + ("facts",), None, limit=5)
    assert search_query(op, depth=2, now=0.0, with_vectors=False).sql.startswith(f"SELECT TOP @p4 {ITEM} FROM c ")
    assert search_query(op, depth=2, now=0.0, with_vectors=True).sql.startswith(
        f"SELECT {ITEM}, c.embedding, c.more_embeddings FROM c ")


def test_each_vector_is_stored_once(embeddings):
    one = put_document(PutOp(CUSTOMER, "k", {"text": "a"}), 0.0, 2, {"text": [0.5, 0.5]})
    two = put_document(PutOp(CUSTOMER, "k", {"text": ["a", "b"]}), 0.0, 2, {"text.0": [1.0], "text.1": [2.0]})
    assert (one["embedding"], "more_embeddings" in one, "embeddings" in one) == ([0.5, 0.5], False, False)
    assert (two["embedding"], two["more_embeddings"], two["multi_vector"]) == ([1.0], [[2.0]], True)


def test_the_index_covers_only_the_paths_queries_filter_or_sort_on():
    policy = ContainerSpec("db", "c", dims=16).options()["indexing_policy"]
    assert policy["excludedPaths"] == [{"path": "/*"}]
    assert {p["path"] for p in policy["includedPaths"]} == {
        "/pk/?", "/ns_text/?", "/updated_at/?", "/expires_at/?", "/multi_vector/?"}
    assert policy["vectorIndexes"] == [{"path": "/embedding", "type": "quantizedFlat"}]


def test_search_query_is_parameterised_and_pages_on_the_server_when_exact():
    hostile = "x' OR 1=1 --"
    op = SearchOp(CUSTOMER, {hostile: hostile, "meta": {"src": "app"}}, limit=10, offset=5)
    query = search_query(op, depth=2, now=0.0, with_vectors=False)
    assert hostile not in query.sql and "app" not in query.sql
    assert query.sql.startswith("SELECT TOP @p") and query.sql.endswith("ORDER BY c.updated_at DESC")
    assert ("@p4", hostile) in query.params and 15 in dict(query.params).values()
    ranged = search_query(SearchOp(CUSTOMER, {"n": {"$gt": 3}}, limit=10), depth=2, now=0.0, with_vectors=False)
    assert "TOP" not in ranged.sql  # checked client-side, so paged client-side


def test_namespace_listing_query_uses_distinct_on_real_cosmos_db():
    op = ListNamespacesOp((MatchCondition("prefix", ("customers", "*", "facts")),), None, 10, 0)
    query = namespaces_query(op, depth=2, now=0.0, distinct=True)
    assert query.sql == ("SELECT DISTINCT VALUE c.ns FROM c WHERE (c.expires_at = null OR c.expires_at > @p0) "
                         "AND (c.ns_text = @p1 OR STARTSWITH(c.ns_text, @p2))")
    assert query.pk is None  # a wildcard in the partition labels: cross-partition


def test_get_is_one_point_read_in_the_customer_partition():
    plan = plan_get(GetOp(CUSTOMER + ("profile",), "main"), StoreSettings())
    assert next(plan) == PointRead(item_id(CUSTOMER + ("profile",), "main"), "customers.c-42")


@pytest.mark.parametrize("label", WEIRD_LABELS)
def test_ids_are_valid_cosmos_ids_for_any_label(label):
    doc_id = item_id((label, label), label)
    assert len(doc_id) == 64 and not set(doc_id) & set("/\\?#")


# --- on the server --------------------------------------------------------------------


@pytest.fixture
def store(cosmos_url):
    with cosmos.connect(cosmos_url) as store:
        yield store


def test_registry_opens_the_cosmos_store(cosmos_url):
    with stores.connect(cosmos_url) as store:
        assert isinstance(store, cosmos.CosmosStore)


def test_labels_and_keys_round_trip(store):
    for label in WEIRD_LABELS:
        namespace = ("customers", label, "facts")
        store.put(namespace, label, {"label": label})
        item = store.get(namespace, label)
        assert (item.namespace, item.key, item.value) == (namespace, label, {"label": label})
        assert [i.key for i in store.search(("customers", label))] == [label]
    listed = store.list_namespaces(prefix=("customers",), max_depth=2)
    assert listed == sorted(("customers", label) for label in WEIRD_LABELS)


@pytest.mark.parametrize("namespace", [("a.b", "c"), ("ok", ""), ("nul\x00",)])
def test_invalid_namespaces_get_langgraph_error(store, namespace):
    with pytest.raises(InvalidNamespaceError):
        store.put(namespace, "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.batch([PutOp(namespace, "k", {"v": 1})])


def test_batch_writes_under_the_langgraph_root_like_in_memory_store(store):
    """``put`` refuses the root label "langgraph"; ``batch`` takes it, as
    InMemoryStore's and SqliteStore's do (LangGraph writes there itself)."""
    ns = ("langgraph", "internal")
    with pytest.raises(InvalidNamespaceError):
        store.put(ns, "k", {"v": 1})
    reference = InMemoryStore()
    for target in (store, reference):
        target.batch([PutOp(ns, "k", {"v": 1})])
    assert store.get(ns, "k").value == reference.get(ns, "k").value == {"v": 1}


def test_a_distance_other_than_cosine_is_refused_clearly(embeddings):
    with pytest.raises(ValueError, match="cosine.*'l2'"):
        cosmos.CosmosStore(None, index={**index_config(embeddings), "distance_type": "l2"})


def test_batch_keeps_op_order_and_the_last_put_of_an_item(store):
    ns = CUSTOMER + ("facts",)
    store.put(ns, "fee", {"v": 0})
    results = store.batch([
        PutOp(ns, "fee", {"v": 1}), GetOp(ns, "fee"), PutOp(ns, "fee", {"v": 2}),
        SearchOp(CUSTOMER), GetOp(ns, "missing"),
    ])
    assert results[0] is None and results[2] is None and results[4] is None
    assert results[1].value == {"v": 0}  # reads see the state before the batch, as in InMemoryStore
    assert [i.value for i in results[3]] == [{"v": 0}]
    assert store.get(ns, "fee").value == {"v": 2}


def test_expired_items_are_never_returned(cosmos_url):
    with cosmos.connect(cosmos_url, ttl={"default_ttl": 2 / 60}) as store:
        ns = CUSTOMER + ("episodes",)
        store.put(ns, "short", {"text": "called about a fee"})
        store.put(ns, "kept", {"text": "opened savings"}, ttl=None)
        raw = store.container.read_item(item_id(ns, "short"), partition_key="customers.c-42")
        assert raw["ttl"] == 2  # real Cosmos DB deletes it; this server does not
        assert store.get(ns, "short") is not None
        time.sleep(2.1)
        assert store.get(ns, "short") is None
        assert [i.key for i in store.search(CUSTOMER)] == ["kept"]
        store.delete(ns, "kept")
        assert store.list_namespaces() == []


def test_reads_slide_the_expiry_when_refresh_on_read(cosmos_url):
    with cosmos.connect(cosmos_url, ttl={"default_ttl": 3 / 60, "refresh_on_read": True}) as store:
        ns = CUSTOMER + ("facts",)
        store.put(ns, "read", {"v": 1})
        store.put(ns, "unread", {"v": 2})
        time.sleep(1.5)
        assert store.get(ns, "read").value == {"v": 1}  # expiry now ~4.5 s after the put
        assert store.get(ns, "unread", refresh_ttl=False).value == {"v": 2}
        time.sleep(2.0)
        assert [i.key for i in store.search(ns, refresh_ttl=False)] == ["read"]


def test_two_writers_on_one_item_lose_no_write(cosmos_url):
    with cosmos.connect(cosmos_url, ttl={"default_ttl": 10, "refresh_on_read": True}) as store:
        ns = CUSTOMER + ("profile",)
        store.put(ns, "main", {"writer": "none", "i": -1})
        stop = threading.Event()

        def write(writer):
            for i in range(20):
                store.put(ns, "main", {"writer": writer, "i": i})

        def read():  # each read refreshes the TTL with a conditional patch
            while not stop.is_set():
                store.get(ns, "main")

        writers = [threading.Thread(target=write, args=(w,)) for w in "AB"]
        reader = threading.Thread(target=read)
        for t in [reader, *writers]:
            t.start()
        for t in writers:
            t.join()
        stop.set()
        reader.join()
        assert store.get(ns, "main").value in ({"writer": "A", "i": 19}, {"writer": "B", "i": 19})


def test_a_refresh_that_lost_a_race_does_not_undo_the_write(store):
    ns = CUSTOMER + ("profile",)
    store.put(ns, "main", {"plan": "basic"}, ttl=5)
    stale = store.container.read_item(item_id(ns, "main"), partition_key="customers.c-42")
    store.put(ns, "main", {"plan": "premium"}, ttl=60)
    store._execute(Patch(stale["id"], stale["pk"], [{"op": "set", "path": "/ttl_minutes", "value": 5}],
                         stale["_etag"]))
    fresh = store.container.read_item(stale["id"], partition_key="customers.c-42")
    assert (fresh["value"], fresh["ttl_minutes"]) == ({"plan": "premium"}, 60)


def test_semantic_search_ranks_like_in_memory_store(cosmos_url, embeddings):
    reference = InMemoryStore(index=index_config(embeddings))
    with cosmos.connect(cosmos_url, index=index_config(embeddings)) as store:
        assert store.settings.capabilities.vector_search  # the container has a vector policy
        ns = CUSTOMER + ("facts",)
        facts = {"a": "card fee refund", "b": "mortgage rate", "c": "card limit", "d": "travel card fee"}
        for target in (store, reference):
            for key, text in facts.items():
                target.put(ns, key, {"text": text})
            target.put(ns, "hidden", {"text": "card fee"}, index=False)
            target.put(ns, "other", {"text": "x", "note": "card fee"}, index=["note"])
        got = store.search(CUSTOMER, query="card fee", limit=4)
        want = reference.search(CUSTOMER, query="card fee", limit=4)
        assert [(i.key, round(i.score, 6)) for i in got] == [(i.key, round(i.score, 6)) for i in want]
        assert not store.settings.capabilities.vector_search  # VectorDistance refused: client-side ranking
        assert [i.key for i in store.search(CUSTOMER, query="card fee", limit=10) if i.score is None] == ["hidden"]


def test_a_turn_stays_in_one_partition(store):
    sent = []
    execute = store._execute
    store._execute = lambda request: sent.append(request) or execute(request)
    ns = CUSTOMER
    store.batch([GetOp(ns + ("profile",), "main"), SearchOp(ns + ("facts",), limit=50),
                 SearchOp(ns + ("episodes",), limit=50)])
    store.batch([PutOp(ns + ("episodes",), "e1", {"text": "asked about fees"}),
                 PutOp(ns + ("facts",), "f1", {"text": "prefers email"})])
    requests = [r for r in sent if not isinstance(r, list)]  # a list runs its requests concurrently
    assert len(requests) == 5  # 3 reads; 2 upserts (one transactional batch on Cosmos DB)
    assert all(getattr(r, "pk", None) == "customers.c-42" for r in requests if isinstance(r, Query))


def test_the_key_never_reaches_logs(cosmos_server, monkeypatch, caplog):
    secret = "c2VjcmV0LWtleS1kby1ub3QtbG9n"
    monkeypatch.setenv("COSMOS_KEY", secret)
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")  # else the SDK's HTTP logging is kept to warnings
    caplog.set_level(logging.DEBUG)
    with cosmos.connect(f"{cosmos_server.url}/secrets/memory?tls=insecure", logging_enable=True) as store:
        store.put(CUSTOMER, "k", {"v": 1})
        store.get(CUSTOMER, "k")
    assert caplog.records and secret not in caplog.text


def test_sdk_http_logging_is_kept_to_warnings(cosmos_url, monkeypatch, caplog):
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    caplog.set_level(logging.INFO)
    with cosmos.connect(cosmos_url) as store:
        store.put(CUSTOMER, "k", {"v": 1})
    assert not [r for r in caplog.records if r.name.startswith("azure")]


def test_threads_share_one_client_and_read_their_writes(store):
    def customer(n):
        ns = ("customers", f"t-{n}", "facts")
        for i in range(3):
            store.put(ns, f"f{i}", {"i": i})
        return sorted(item.key for item in store.search(ns, limit=10))

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(customer, range(8))) == [["f0", "f1", "f2"]] * 8


# --- async -------------------------------------------------------------------------------


async def test_async_store_round_trip(cosmos_url, embeddings):
    async with cosmos.aconnect(cosmos_url, index=index_config(embeddings), ttl={"default_ttl": 1 / 60}) as store:
        ns = CUSTOMER + ("facts",)
        await store.aput(ns, "fee", {"text": "card fee", "n": 3})
        await store.aput(ns, "rate", {"text": "mortgage rate", "n": 7}, ttl=None)
        assert (await store.aget(ns, "fee")).value == {"text": "card fee", "n": 3}
        assert [i.key for i in await store.asearch(CUSTOMER, filter={"n": {"$gte": 5}})] == ["rate"]
        assert (await store.asearch(CUSTOMER, query="card fee"))[0].key == "fee"
        assert await store.alist_namespaces() == [ns]
        await asyncio.sleep(1.2)
        assert await store.aget(ns, "fee") is None
        await store.adelete(ns, "rate")
        assert await store.asearch(CUSTOMER) == []
        with pytest.raises(InvalidNamespaceError):
            await store.aput(("a.b",), "k", {})


async def test_async_two_writers_on_one_item(cosmos_url):
    async with cosmos.aconnect(cosmos_url, ttl={"default_ttl": 10, "refresh_on_read": True}) as store:
        ns = CUSTOMER + ("profile",)

        async def write(writer):
            for i in range(15):
                await store.aput(ns, "main", {"writer": writer, "i": i})
                await store.aget(ns, "main")

        await asyncio.gather(write("A"), write("B"))
        assert (await store.aget(ns, "main")).value in ({"writer": "A", "i": 14}, {"writer": "B", "i": 14})


def _doc(key, vectors, score=None, updated="2026-01-01T00:00:00.000000+00:00"):
    ns = CUSTOMER + ("facts",)
    return {"id": item_id(ns, key), "pk": "customers.c-42", "ns": list(ns), "key": key, "value": {"k": key},
            "created_at": updated, "updated_at": updated, "expires_at": None, "ttl_minutes": None,
            "_etag": "e", **({"embedding": vectors[0]} if vectors else {"score": score}),
            **({"more_embeddings": vectors[1:], "multi_vector": True} if len(vectors) > 1 else {})}


def _finish(plan, answer):
    try:
        return "request", plan.send(answer)
    except StopIteration as stop:
        return "result", stop.value


def test_vector_search_reranks_nearest_and_multi_vector_items():
    """The real-Cosmos path, driven by hand: the answer pools every vector of
    the candidates; short of a full page it falls back to the full scan."""
    settings = StoreSettings(capabilities=Capabilities(vector_search=True))
    op = SearchOp(CUSTOMER, None, limit=2, offset=0, query="q")
    plan = plan_search(op, settings, [1.0, 0.0])
    nearest, pooled = next(plan)
    assert "VectorDistance" in nearest.sql and "multi_vector" in pooled.sql
    near = [_doc("a", [], score=0.994), _doc("b", [], score=0.707)]  # VectorDistance's scores, no vectors
    multi = [_doc("m", [[0.0, 1.0], [1.0, 0.0]])]  # its second vector is the query itself
    kind, result = _finish(plan, [near, multi])
    assert kind == "result" and [(i.key, round(i.score, 3)) for i in result] == [("m", 1.0), ("a", 0.994)]

    short = plan_search(op._replace(limit=5), settings, [1.0, 0.0])
    next(short)
    kind, request = _finish(short, [near, []])
    assert kind == "request" and "VectorDistance" not in request.sql  # the full scan


async def test_async_store_serves_sync_callers_on_other_threads(cosmos_url):
    async with cosmos.aconnect(cosmos_url) as store:
        ns = CUSTOMER + ("profile",)
        await asyncio.to_thread(store.put, ns, "main", {"name": "Ana"})
        assert (await asyncio.to_thread(store.get, ns, "main")).value == {"name": "Ana"}
        with pytest.raises(asyncio.InvalidStateError):
            store.get(ns, "main")  # from the loop itself it would deadlock


# --- pre-provisioned containers ----------------------------------------------------------


def _provision(cosmos_server, database, container, **options):
    from azure.cosmos import CosmosClient

    with CosmosClient(f"https://127.0.0.1:{cosmos_server.port}/", credential=account_key(),
                      connection_verify=False) as client:
        client.create_database_if_not_exists(database).create_container(container, **options)


def test_create_never_opens_a_container_provisioned_as_the_readme_says(cosmos_server, cosmos_key, embeddings):
    database = f"prov-{uuid.uuid4().hex[:8]}"
    _provision(cosmos_server, database, "memory", **ContainerSpec(database, "memory", dims=16).options())
    with cosmos.connect(f"{cosmos_server.url}/{database}/memory?tls=insecure&create=never",
                        index=index_config(embeddings)) as store:
        store.put(CUSTOMER, "k", {"v": 1})
        assert store.get(CUSTOMER, "k").value == {"v": 1}


def test_create_never_names_what_to_provision(cosmos_server, cosmos_key, embeddings):
    database = f"prov-{uuid.uuid4().hex[:8]}"
    url = f"{cosmos_server.url}/{database}/memory?tls=insecure&create=never"
    with pytest.raises(cosmos.ContainerNotReady, match="does not exist.*Provisioning"):
        with cosmos.connect(url):
            pass
    _provision(cosmos_server, database, "memory", partition_key=PartitionKey(path="/customer"))
    with pytest.raises(cosmos.ContainerNotReady) as error:
        with cosmos.connect(url, index=index_config(embeddings)):
            pass
    message = str(error.value)
    for problem in ("partition key path ['/customer']", "default TTL off", "vector embedding policy on /embedding "
                    "with 16 dimensions", "full-text policy on /text", "Provisioning"):
        assert problem in message


async def test_a_wrong_partition_key_is_refused_even_when_creating(cosmos_server, cosmos_key):
    database = f"prov-{uuid.uuid4().hex[:8]}"
    _provision(cosmos_server, database, "memory", partition_key=PartitionKey(path="/id"))
    with pytest.raises(cosmos.ContainerNotReady, match=r"partition key path \['/id'\]"):
        async with cosmos.aconnect(f"{cosmos_server.url}/{database}/memory?tls=insecure"):
            pass


def test_403_says_which_role_or_provisioning_is_missing():
    spec = ContainerSpec("bank", "memory")
    forbidden = CosmosHttpResponseError(status_code=403, message="Forbidden")
    assert "?create=never" in str(refused(forbidden, spec, creating=True))
    assert "Cosmos DB Built-in Data Contributor" in str(refused(forbidden, spec, creating=False))


@pytest.mark.parametrize("url, error", [
    ("cosmos://h/db/c?vector_index=hnsw", "vector_index must be one of quantizedFlat, diskANN, flat"),
    ("cosmos://h/db/c?create=always", "create must be if-missing or never"),
])
def test_container_options_in_the_url_are_checked(url, error):
    with pytest.raises(UnsupportedURL, match=error):
        CosmosURL.parse(url).spec(None)


def test_flat_vector_index_only_up_to_505_dimensions():
    url = CosmosURL.parse("cosmos://h/db/c?vector_index=flat")
    assert url.spec({"dims": 505}).options()["indexing_policy"]["vectorIndexes"][0]["type"] == "flat"
    with pytest.raises(UnsupportedURL, match="at most 505"):
        url.spec({"dims": 1536})


# --- atomic turns ---------------------------------------------------------------------


def _turn_plan(settings, puts):
    batch = prepare_batch(puts, settings)
    (plan,) = write_plans(batch, settings, {}).values()
    return plan


def test_a_turns_writes_to_one_customer_are_one_transactional_batch():
    settings = StoreSettings(capabilities=Capabilities(transactional_batch=True))
    plan = _turn_plan(settings, [PutOp(CUSTOMER + ("episodes",), "e1", {"text": "asked about fees"}),
                                 PutOp(CUSTOMER + ("facts",), "f1", {"text": "prefers email"})])
    (transaction,) = next(plan)
    assert isinstance(transaction, Transaction) and transaction.pk == "customers.c-42"
    name, args, options = sdk_call(transaction, sync=False)
    assert name == "execute_item_batch" and options == {"partition_key": "customers.c-42"}
    assert [(kind, body["key"]) for kind, (body,) in args[0]] == [("upsert", "e1"), ("upsert", "f1")]
    with pytest.raises(StopIteration):
        plan.send([[{}, {}]])


def test_a_server_without_batches_gets_the_writes_one_by_one():
    settings = StoreSettings(capabilities=Capabilities(transactional_batch=True))
    plan = _turn_plan(settings, [PutOp(CUSTOMER + ("facts",), k, {"v": k}) for k in "ab"] +
                      [PutOp(CUSTOMER + ("facts",), "gone", None)])
    (transaction,) = next(plan)
    singles = plan.throw(Unsupported("no batches here"))
    assert [type(r).__name__ for r in singles] == ["Upsert", "Upsert", "Delete"]
    assert settings.capabilities.transactional_batch  # a plan only falls back; its executor records the refusal
    with pytest.raises(Unsupported), answers_from_errors(transaction, settings.capabilities):
        raise CosmosHttpResponseError(status_code=400, message="no batches here")
    assert not settings.capabilities.transactional_batch


def test_batches_keep_to_100_operations_and_2_mb():
    many = [Upsert({"pk": "p", "n": i}) for i in range(150)]
    assert [len(t.upserts) for t in transactions("p", many)] == [100, 50]
    big = [Upsert({"pk": "p", "blob": "x" * 900_000}) for _ in range(3)]
    assert [len(t.upserts) for t in transactions("p", big)] == [2, 1]


def test_the_open_server_is_detected_as_without_batches_and_loses_no_write(store):
    assert not store.settings.capabilities.transactional_batch
    ns = CUSTOMER + ("facts",)
    store.batch([PutOp(ns, "a", {"v": 1}), PutOp(ns, "b", {"v": 2})])
    assert [i.key for i in store.search(ns)] == ["b", "a"]


# --- read-modify-write ------------------------------------------------------------------


def test_concurrent_updates_of_one_item_lose_nothing(store):
    ns = CUSTOMER + ("profile",)

    def set_field(n):
        return store.update(ns, "profile", lambda current: {**(current or {}), f"field{n}": n})

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(set_field, range(12)))
    assert store.get(ns, "profile").value == {f"field{n}": n for n in range(12)}


async def test_async_updates_lose_nothing_and_embed_like_puts(cosmos_url, embeddings):
    async with cosmos.aconnect(cosmos_url, index=index_config(embeddings)) as store:
        ns = CUSTOMER + ("facts",)

        async def append(word):
            return await stores.aupdate_item(
                store, ns, "note", lambda current: {"text": f"{(current or {}).get('text', '')} {word}".strip()})

        await asyncio.gather(*(append(w) for w in ["card", "fee", "refund", "email"]))
        assert sorted((await store.aget(ns, "note")).value["text"].split()) == ["card", "email", "fee", "refund"]
        (found,) = await store.asearch(ns, query="card fee refund email")
        assert found.score == pytest.approx(1.0)  # its vector is its final text's


def test_an_update_that_lost_reads_again():
    settings = StoreSettings()
    plan = plan_update(CUSTOMER + ("profile",), "profile", lambda current: {**(current or {}), "a": 1}, settings)
    assert isinstance(next(plan), PointRead)
    first = plan.send({**_doc("profile", []), "value": {"b": 2}, "_etag": "v1"})
    assert isinstance(first, Replace) and first.etag == "v1" and first.body["value"] == {"b": 2, "a": 1}
    assert isinstance(plan.throw(Conflict("412")), PointRead)
    retried = plan.send({**_doc("profile", []), "value": {"b": 3}, "_etag": "v2"})
    assert retried.etag == "v2" and retried.body["value"] == {"b": 3, "a": 1}


async def test_other_stores_update_with_a_get_and_a_put():
    store = InMemoryStore()
    assert await stores.aupdate_item(store, ("customers", "x", "profile"), "profile",
                                     lambda current: {"n": (current or {"n": 0})["n"] + 1}) == {"n": 1}
    assert (await store.aget(("customers", "x", "profile"), "profile")).value == {"n": 1}


# --- full-text and hybrid search ---------------------------------------------------------


def test_full_text_and_hybrid_queries_for_real_cosmos_db():
    """Checked as text against the documented syntax: ``ORDER BY RANK
    FullTextScore(path, term, ...)`` and ``RRF(VectorDistance(...),
    FullTextScore(...))``; FullTextScore is never projected."""
    op = SearchOp(CUSTOMER + ("facts",), None, limit=3, offset=1, query="Card fee?")
    scope = "c.pk = @p1 AND (c.expires_at = null OR c.expires_at > @p0) AND (c.ns_text = @p2 OR STARTSWITH(c.ns_text, @p3))"
    text = full_text_query(op, query_terms(op.query), depth=2, now=5.0)
    assert text.sql == f"SELECT TOP @p4 {ITEM} FROM c WHERE {scope} ORDER BY RANK FullTextScore(c.text, @p5, @p6)"
    assert dict(text.params)["@p4"] == 4 and (dict(text.params)["@p5"], dict(text.params)["@p6"]) == ("card", "fee")
    hybrid = full_text_query(op, ["card", "fee"], depth=2, now=5.0, vector=[0.1, 0.2])
    assert hybrid.sql == (f"SELECT TOP @p4 {ITEM}, VectorDistance(c.embedding, @p7) AS score FROM c WHERE {scope} "
                          "ORDER BY RANK RRF(VectorDistance(c.embedding, @p7), FullTextScore(c.text, @p5, @p6))")
    assert dict(hybrid.params)["@p7"] == [0.1, 0.2] and hybrid.pk == "customers.c-42"
    # BM25 statistics from the customer's items only (the SDK's default queries every partition for them)
    assert sdk_call(hybrid, sync=True)[2] == {"parameters": hybrid.parameters, "partition_key": "customers.c-42",
                                              "full_text_score_scope": "Local"}


def test_bm25_prefers_the_rarer_word_and_the_shorter_text():
    docs = [{"text": "card fee"}, {"text": "card"}, {"text": "card limit raised for travel abroad"}, {}]
    scores = bm25(["card", "fee"], docs)
    assert scores[0] > scores[1] > scores[2] > scores[3] == 0


async def test_a_query_without_embeddings_finds_the_relevant_items(cosmos_url):
    """What the recall helper relies on: ``asearch(ns, query=...)`` ranks by
    relevance on every store; here BM25 client-side, since the open server
    refuses FullTextScore."""
    async with cosmos.aconnect(cosmos_url) as store:
        assert store.settings.capabilities.full_text  # the container has the policy
        ns = CUSTOMER + ("facts",)
        for key, text in {"fee": "was charged a card fee abroad", "mail": "prefers email",
                          "rate": "asked about mortgage rates", "new": "moved house"}.items():
            await store.aput(ns, key, {"text": text})
        found = await store.asearch(ns, query="card fee", limit=2)
        assert [i.key for i in found] == ["fee", "new"] and found[0].score > 0 == found[1].score
        assert not store.settings.capabilities.full_text  # refused once: client-side from now on
        assert (await store.asearch(ns, query="mortgage rate", limit=1))[0].key == "rate"


def test_hybrid_search_fuses_vector_and_text_ranks(cosmos_url, embeddings):
    with cosmos.connect(cosmos_url + "&search=hybrid", index=index_config(embeddings)) as store:
        ns = CUSTOMER + ("facts",)
        for key, text in {"a": "card fee refund", "b": "mortgage rate", "c": "card limit"}.items():
            store.put(ns, key, {"text": text})
        found = store.search(ns, query="card fee", limit=3)
        assert found[0].key == "a" and found[-1].key == "b"
        assert found[0].score == pytest.approx(max(i.score for i in found))  # the vector similarity


# --- erasing a customer -------------------------------------------------------------------


async def test_deleting_a_partition_erases_one_customer_only(cosmos_url):
    async with cosmos.aconnect(cosmos_url) as store:
        for customer in ("c-1", "c-2"):
            for kind in ("profile", "facts", "episodes"):
                await store.aput(("customers", customer, kind), "k", {"v": kind})
        await store.adelete_partition(("customers", "c-1"))
        assert not store.settings.capabilities.delete_partition  # the open server has none: query + deletes
        assert await store.asearch(("customers", "c-1")) == []
        assert len(await store.asearch(("customers", "c-2"))) == 3
        with pytest.raises(ValueError, match="2 namespace labels"):
            await store.adelete_partition(("customers",))


def test_deleting_a_partition_on_cosmos_db_is_one_request():
    plan = plan_delete_partition(("customers", "c-1"), StoreSettings())
    request = next(plan)
    assert sdk_call(request, sync=True) == ("delete_all_items_by_partition_key", ("customers.c-1",), {})
    with pytest.raises(StopIteration):
        plan.send(None)
