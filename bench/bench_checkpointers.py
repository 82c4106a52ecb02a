"""Checkpointer benchmark: a 200-turn conversation through a 4-node graph with a
canned model (no network), one thread per saver, every saver side by side in
one process, taking turns (turn i for every saver, then turn i + 1).

    .venv/bin/python bench/bench_checkpointers.py [--turns 200] [--only ours,Sqlite]

Savers marked "encrypted" store through the AES-GCM serializer that
``BANK_AGENT_ENCRYPTION_KEY`` turns on (``checkpointers.encryption``); the
second table sets each against the same saver unencrypted, in the same run.

Each Redis-backed saver gets its own fresh redis-server (backends/devservers.py), so
its memory figure is that thread alone: the sum of ``MEMORY USAGE`` over every
key, and the growth of ``INFO memory`` ``used_memory`` (which includes
RediSearch index overhead for the module-based savers).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypedDict

import redis


from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from checkpointers import aconnect
from checkpointers.encryption import RotatingAesGcm
from backends.devservers import RedisServer

THREAD = {"configurable": {"thread_id": "bench-thread"}}
ENCRYPTED = " (encrypted)"


class Conversation(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    intent: str
    audited: int


def route(state: Conversation) -> dict:
    return {"intent": "balance"}


def model(state: Conversation) -> dict:  # the canned model
    return {"messages": [AIMessage("Your current balance is 1,234.56 EUR.")]}


def audit(state: Conversation) -> dict:
    return {"audited": state.get("audited", 0) + 1}


def reply(state: Conversation) -> dict:
    return {"messages": [AIMessage("Is there anything else I can help you with?")]}


def bank_graph():
    graph = StateGraph(Conversation)
    for node in (route, model, audit, reply):
        graph.add_node(node.__name__, node)
    graph.add_edge(START, "route")
    graph.add_edge("route", "model")
    graph.add_edge("model", "audit")
    graph.add_edge("audit", "reply")
    graph.add_edge("reply", END)
    return graph


# -- the savers, each as an async context manager over a fresh server -------

def encrypting() -> EncryptedSerializer:
    return EncryptedSerializer(RotatingAesGcm([os.urandom(32)]), JsonPlusSerializer())


@asynccontextmanager
async def ours(url: str, encrypted: bool = False, **options: Any) -> AsyncIterator:
    async with aconnect(url, serde=encrypting() if encrypted else None, **options) as saver:
        yield saver


@asynccontextmanager
async def upstream(server: RedisServer, shallow: bool) -> AsyncIterator:
    from langgraph.checkpoint.redis.aio import AsyncRedisSaver
    from langgraph.checkpoint.redis.ashallow import AsyncShallowRedisSaver

    cls = AsyncShallowRedisSaver if shallow else AsyncRedisSaver
    async with cls.from_conn_string(server.url) as saver:
        await saver.asetup()
        yield saver


@asynccontextmanager
async def plainredis(server: RedisServer) -> AsyncIterator:
    from langgraph_checkpoint_plainredis import AsyncRedisSaver

    saver = AsyncRedisSaver(url=server.url)
    yield saver
    await saver.client.aclose()


@asynccontextmanager
async def sqlite(workdir: Path) -> AsyncIterator:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(str(workdir / "bench.db")) as saver:
        await saver.setup()
        yield saver


@asynccontextmanager
async def in_memory() -> AsyncIterator:
    yield InMemorySaver()


SAVERS: list[tuple[str, bool | None, Callable]] = [
    # (name, needs modules / plain Redis / no Redis (None), factory)
    ("ours, modules mode", True, lambda s, w: ours(s.url, mode="modules")),
    ("ours, modules mode" + ENCRYPTED, True, lambda s, w: ours(s.url, True, mode="modules")),
    ("ours, plain mode", False, lambda s, w: ours(s.url, mode="plain")),
    ("ours, plain mode" + ENCRYPTED, False, lambda s, w: ours(s.url, True, mode="plain")),
    ("upstream AsyncRedisSaver", True, lambda s, w: upstream(s, shallow=False)),
    ("upstream AsyncShallowRedisSaver", True, lambda s, w: upstream(s, shallow=True)),
    ("langgraph-checkpoint-plainredis", False, lambda s, w: plainredis(s)),
    ("AsyncSqliteSaver", None, lambda s, w: sqlite(w)),
    ("AsyncSqliteSaver" + ENCRYPTED, None, lambda s, w: ours(f"sqlite:///{w}/encrypted.db", True)),
    ("InMemorySaver", None, lambda s, w: in_memory()),
    ("InMemorySaver" + ENCRYPTED, None, lambda s, w: ours("memory://", True)),
]


def redis_memory(server: RedisServer, baseline: int) -> tuple[int, int]:
    client = redis.Redis(port=server.port)
    keys = sum(client.memory_usage(key, samples=0) or 0 for key in client.scan_iter(count=1000))
    used = client.info("memory")["used_memory"] - baseline
    client.close()
    return keys, used


@dataclass
class Contestant:
    """One saver in the race: its graph, server and per-turn times."""

    name: str
    graph: Any
    server: RedisServer | None
    baseline: int
    per_turn: list[float] = field(default_factory=list)

    def result(self, turns: int) -> dict:
        memory = redis_memory(self.server, self.baseline) if self.server else (None, None)
        return {
            "name": self.name, "turns_per_s": turns / sum(self.per_turn),
            "early_ms": statistics.mean(self.per_turn[:20]) * 1000,
            "late_ms": statistics.mean(self.per_turn[-20:]) * 1000,
            "key_bytes": memory[0], "used_bytes": memory[1],
        }


async def enter(stack: AsyncExitStack, name: str, modules: bool | None, factory, workdir: Path) -> Contestant:
    server = None
    if modules is not None:
        server = RedisServer(workdir / name.replace(" ", "_"), modules=modules).start()
        stack.callback(server.stop)
    baseline = redis_memory(server, 0)[1] if server else 0
    saver = await stack.enter_async_context(factory(server, workdir))
    return Contestant(name, bank_graph().compile(checkpointer=saver), server, baseline)


async def race(savers: list, turns: int, workdir: Path) -> list[dict]:
    """Every saver plays turn i before any plays turn i + 1, so load from
    other processes on the machine falls on all of them alike."""
    async with AsyncExitStack() as stack:
        contestants = [await enter(stack, name, modules, factory, workdir)
                       for name, modules, factory in savers]
        for i in range(turns):
            message = {"messages": [HumanMessage(f"What is my balance? ({i})")]}
            for contestant in contestants:
                started = time.perf_counter()
                await contestant.graph.ainvoke(message, THREAD)
                contestant.per_turn.append(time.perf_counter() - started)
        for contestant in contestants:
            state = await contestant.graph.aget_state(THREAD)
            assert len(state.values["messages"]) == 3 * turns, contestant.name
        return [contestant.result(turns) for contestant in contestants]


def _kib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 1024:,.0f} KiB"


def table(results: list[dict], turns: int) -> str:
    reference = next((r["turns_per_s"] for r in results if r["name"] == "upstream AsyncRedisSaver"), 1)
    rows = [
        (f"| saver | turns/s | vs AsyncRedisSaver | ms/turn, turns 1-20 | ms/turn, turns {turns - 19}-{turns} "
         "| growth | Redis keys (MEMORY USAGE) | Redis used_memory growth |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r['name']} | {r['turns_per_s']:.1f} | {r['turns_per_s'] / reference:.2f}x "
            f"| {r['early_ms']:.1f} | {r['late_ms']:.1f} | {r['late_ms'] / r['early_ms']:.1f}x "
            f"| {_kib(r['key_bytes'])} | {_kib(r['used_bytes'])} |"
        )
    return "\n".join(rows)


def encryption_table(results: list[dict]) -> str:
    """Each encrypted saver against the same saver unencrypted."""
    by_name = {r["name"]: r for r in results}
    rows = ["| saver | turns/s clear | turns/s encrypted | encrypted / clear | ms/turn 1-20, clear -> encrypted |",
            "|---|---:|---:|---:|---:|"]
    for r in results:
        clear = by_name.get(r["name"].removesuffix(ENCRYPTED))
        if r["name"].endswith(ENCRYPTED) and clear:
            rows.append(f"| {clear['name']} | {clear['turns_per_s']:.1f} | {r['turns_per_s']:.1f} "
                        f"| {r['turns_per_s'] / clear['turns_per_s']:.2f}x "
                        f"| {clear['early_ms']:.1f} -> {r['early_ms']:.1f} |")
    return "\n".join(rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--only", help="comma-separated substrings of saver names")
    args = parser.parse_args()
    chosen = [saver for saver in SAVERS
              if not args.only or any(part in saver[0] for part in args.only.split(","))]
    with tempfile.TemporaryDirectory() as workdir:
        results = await race(chosen, args.turns, Path(workdir))
    print(f"\n{args.turns} turns, 4-node graph, canned model, one thread\n")
    print(table(results, args.turns))
    print("\nEncryption at rest (AES-GCM), same run\n")
    print(encryption_table(results))


if __name__ == "__main__":
    asyncio.run(main())
