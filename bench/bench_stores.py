"""Long-term memory stores side by side: requests and RU per agent turn, and ops/s.

A turn is the agent's store path for one customer: load-context (get the
profile, search facts and episodes, limit 50 each, in one batch) and
record-episode (put an episode and a fact, in one batch). Requests and
request units are counted from every HTTP response of the Cosmos DB client
(an azure-core ``raw_response_hook``, header ``x-ms-request-charge``). The
Cosmos DB server is the open one the tests use, started here; it reports a
flat 1 RU per response, so its RU column counts requests, not real cost.

    .venv/bin/python bench/bench_stores.py [--customers 20] [--turns 60] [--ops 200]
    .venv/bin/python bench/bench_stores.py --item-cost   # item size and write RU, before/after issue 12
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import traceback
import warnings
from contextlib import ExitStack, contextmanager
from pathlib import Path


from azure.cosmos import CosmosClient
from langgraph.store.base import GetOp, PutOp, SearchOp
from langgraph.store.memory import InMemoryStore
from langgraph.store.sqlite import SqliteStore

from stores import cosmos
from backends.devservers import CosmosServer

warnings.filterwarnings("ignore", message="Unverified HTTPS request")
KEY = "YmVuY2gta2V5"  # the open server accepts any base64 key
WORDS = "account transfer savings card branch statement deposit interest payment loan fee travel".split()


class Meter:
    """Counts HTTP responses and their request charge."""

    def __init__(self) -> None:
        self.requests, self.charge, self.cross_partition = 0, 0.0, 0

    def __call__(self, response) -> None:
        self.requests += 1
        self.charge += float(response.http_response.headers.get("x-ms-request-charge", 0) or 0)
        headers = response.http_request.headers
        self.cross_partition += str(headers.get("x-ms-documentdb-query-enablecrosspartition", "")).lower() == "true"

    def snapshot(self) -> tuple[int, float, int]:
        return self.requests, self.charge, self.cross_partition


def text(rng: random.Random) -> str:
    return " ".join(rng.sample(WORDS, 4))


def load_context(customer: str) -> list:
    ns = ("customers", customer)
    return [GetOp(ns + ("profile",), "main"), SearchOp(ns + ("facts",), limit=50),
            SearchOp(ns + ("episodes",), limit=50)]


def record_episode(customer: str, turn: int, rng: random.Random) -> list:
    ns = ("customers", customer)
    return [PutOp(ns + ("episodes",), f"turn-{turn}", {"text": text(rng), "turn": turn}),
            PutOp(ns + ("facts",), f"fact-{turn % 7}", {"text": text(rng), "turn": turn})]


def seed(store, customers: int, per_kind: int, rng: random.Random) -> None:
    for c in range(customers):
        ns = ("customers", f"c{c}")
        ops = [PutOp(ns + ("profile",), "main", {"name": f"Customer {c}", "tier": rng.choice("AB")})]
        ops += [PutOp(ns + ("facts",), f"seed-{i}", {"text": text(rng)}) for i in range(per_kind)]
        ops += [PutOp(ns + ("episodes",), f"seed-{i}", {"text": text(rng)}) for i in range(per_kind)]
        for start in range(0, len(ops), 20):
            store.batch(ops[start:start + 20])


def measure(store, meter: Meter | None, args, rng: random.Random) -> dict:
    seed(store, args.customers, args.per_kind, rng)
    row: dict = {}
    spent = {"load": [0, 0.0, 0], "record": [0, 0.0, 0]}
    started = time.perf_counter()
    for turn in range(args.turns):
        customer = f"c{rng.randrange(args.customers)}"
        for phase, ops in (("load", load_context(customer)), ("record", record_episode(customer, turn, rng))):
            before = meter.snapshot() if meter else (0, 0.0, 0)
            results = store.batch(ops)
            after = meter.snapshot() if meter else (0, 0.0, 0)
            for column in range(3):
                spent[phase][column] += after[column] - before[column]
            if phase == "load":
                assert results[0] is not None and len(results[1]) >= 1, "load-context found no memory"
    row["turn_ms"] = (time.perf_counter() - started) * 1000 / args.turns
    for phase in spent:
        row[f"{phase}_requests"] = spent[phase][0] / args.turns if meter else None
        row[f"{phase}_ru"] = spent[phase][1] / args.turns if meter else None
    row["cross_partition"] = (spent["load"][2] + spent["record"][2]) / args.turns if meter else None
    ns = ("customers", "c0", "facts")
    for name, make in (("put", lambda i: PutOp(ns, f"ops-{i}", {"text": text(rng)})),
                       ("get", lambda i: GetOp(ns, f"ops-{i}")),
                       ("search", lambda i: SearchOp(ns, {"text": "x"}, limit=10))):
        count = args.ops if name != "search" else max(1, args.ops // 4)
        started = time.perf_counter()
        for i in range(count):
            store.batch([make(i)])
        row[f"{name}_per_s"] = count / (time.perf_counter() - started)
    return row


def gets_only(store, meter: Meter, args) -> dict:
    """Requests and RU of the profile get alone, for a store whose writes and
    searches fail here (its get is a query, not a point read)."""
    before = meter.snapshot()
    started = time.perf_counter()
    for turn in range(args.turns):
        store.batch(load_context(f"c{turn % args.customers}")[:1])  # on an empty container
    after = meter.snapshot()
    row = dict.fromkeys(["record_requests", "record_ru", "put_per_s", "search_per_s"])
    row.update(load_requests=(after[0] - before[0]) / args.turns, load_ru=(after[1] - before[1]) / args.turns,
               cross_partition=(after[2] - before[2]) / args.turns,
               turn_ms=(time.perf_counter() - started) * 1000 / args.turns,
               get_per_s=args.turns / (time.perf_counter() - started))
    return row


@contextmanager
def open_store(name: str, server: CosmosServer, meter: Meter, workdir: str):
    database = f"bench-{name.lower()}-{int(time.time())}"
    if name == "InMemoryStore":
        yield InMemoryStore()
    elif name == "SqliteStore":
        with SqliteStore.from_conn_string(os.path.join(workdir, "store.db")) as store:
            store.setup()
            yield store
    elif name == "CosmosStore":
        with cosmos.connect(f"{server.url}/{database}/memory?tls=insecure", raw_response_hook=meter) as store:
            yield store
    elif name == "CosmosDBStore":
        from langchain_azure_cosmosdb import CosmosDBStore
        client = CosmosClient(server.endpoint, credential=KEY, connection_verify=False, raw_response_hook=meter)
        store = CosmosDBStore(client, database_name=database, container_name="memory")
        store.setup()
        yield store


def fmt(value, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def table(rows: dict[str, dict | str]) -> str:
    base = rows.get("CosmosStore")
    lines = ["| store | requests / load-context | requests / record-episode | cross-partition / turn "
             "| RU / turn (server header) | ms / turn | puts/s | gets/s | searches/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        if isinstance(row, str):
            lines.append(f"| {name} | failed: {row} | | | | | | | |")
            continue
        ru = None if row["load_ru"] is None else row["load_ru"] + (row["record_ru"] or 0)
        ratio = ""
        full_turn = row["put_per_s"] is not None  # a partial row measures something else
        if isinstance(base, dict) and name != "CosmosStore" and full_turn:
            ratio = f" ({row['turn_ms'] / base['turn_ms']:.2f}×)"
        lines.append(f"| {name} | {fmt(row['load_requests'])} | {fmt(row['record_requests'])} "
                     f"| {fmt(row['cross_partition'])} | {fmt(ru)} "
                     f"| {fmt(row['turn_ms'])}{ratio} | {fmt(row['put_per_s'], 0)} | {fmt(row['get_per_s'], 0)} "
                     f"| {fmt(row['search_per_s'], 0)} |")
    return "\n".join(lines)


# Write RU by document size on Azure Cosmos DB, default indexing (learn.microsoft.com/
# azure/cosmos-db/understand-request-unit-consumption, "Document size").
DOCUMENTED_WRITE_RU = [(1, 4.95), (2, 6.29), (4, 6.67), (8, 7.04), (16, 9.52), (32, 11.23), (64, 22.67),
                       (128, 48.19), (256, 98.29)]


def documented_write_ru(size_kb: float) -> float:
    """Linear between the documented sizes (an upper bound for a lean index)."""
    points = DOCUMENTED_WRITE_RU
    if size_kb <= points[0][0]:
        return points[0][1]
    for (low, low_ru), (high, high_ru) in zip(points, points[1:]):
        if size_kb <= high:
            return low_ru + (high_ru - low_ru) * (size_kb - low) / (high - low)
    return points[-1][1] * size_kb / points[-1][0]


def indexed_values(value, path: str = "") -> int:
    """Leaf values the old policy (``/*`` minus vectors and _etag) indexed."""
    if isinstance(value, dict):
        return sum(indexed_values(v, f"{path}/{k}") for k, v in value.items()
                   if f"{path}/{k}" not in ("/embedding", "/embeddings", "/more_embeddings", "/_etag"))
    if isinstance(value, list):
        return sum(indexed_values(v, path) for v in value)
    return 1


def item_cost(server: CosmosServer, dims: int = 1536) -> str:
    """A fact with one vector of ``dims`` (an OpenAI-sized embedding), as the
    store wrote it before issue 12 (``embeddings`` and ``embedding``, every
    value path indexed) and now (one vector, five indexed paths)."""
    from stores.cosmos.plans import put_document
    from stores.cosmos.bootstrap import INDEXED_PATHS

    rng = random.Random(3)
    vector = [rng.gauss(0, 0.03) for _ in range(dims)]
    op = PutOp(("customers", "c0", "facts"), "fee", {"text": "prefers to be called after 5 pm about card fees"})
    now = put_document(op, time.time(), 2, {"text": vector}, op.value["text"])
    before = {k: v for k, v in now.items() if k != "text"} | {"embeddings": [["text", vector]]}
    meter = Meter()
    rows = ["| item (1 fact, one 1,536-dim vector) | JSON size | indexed values | write RU, server header "
            "| write RU, documented size model |", "|---|---|---|---|---|"]
    with cosmos.connect(f"{server.url}/bench-item-{int(time.time())}/memory?tls=insecure",
                        raw_response_hook=meter) as store:
        for name, doc, indexed in (("before (vector twice, `/*` indexed)", before, indexed_values(before)),
                                   ("after (vector once, lean index)", now, len(INDEXED_PATHS))):
            size_kb = len(json.dumps(doc).encode()) / 1024
            charge = meter.charge
            store.container.upsert_item(doc)
            rows.append(f"| {name} | {size_kb:.1f} KB | {indexed} | {meter.charge - charge:g} "
                        f"| ≈ {documented_write_ru(size_kb):.1f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--per-kind", type=int, default=30, help="seeded facts and episodes per customer")
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--item-cost", action="store_true", help="only the item size and write RU table")
    args = parser.parse_args()
    os.environ["COSMOS_KEY"] = KEY
    if args.item_cost:
        server = CosmosServer().start()
        try:
            print(item_cost(server))
        finally:
            server.stop()
        return
    rows: dict[str, dict | str] = {}
    with ExitStack() as stack, tempfile.TemporaryDirectory() as workdir:
        server = CosmosServer().start()
        stack.callback(server.stop)
        for name in ("InMemoryStore", "SqliteStore", "CosmosStore", "CosmosDBStore"):
            meter = Meter()
            try:
                with open_store(name, server, meter, workdir) as store:
                    rows[name] = measure(store, meter if "Cosmos" in name else None, args, random.Random(7))
            except Exception as error:  # the peer's put fails against this server: report it
                rows[name] = f"put raises {type(error).__name__}: {str(error).splitlines()[0][:100]}"
                traceback.print_exc(limit=2, file=sys.stderr)
                with open_store(name, server, meter, workdir) as store:
                    rows[f"{name}, profile get only"] = gets_only(store, meter, args)
            print(f"{name}: {rows[name] if isinstance(rows[name], str) else 'done'}", file=sys.stderr)
    print(f"{args.customers} customers × {args.per_kind} facts and episodes, {args.turns} turns, "
          f"{args.ops} ops per kind; ms/turn ratio against CosmosStore in brackets\n")
    print(table(rows))


if __name__ == "__main__":
    main()
