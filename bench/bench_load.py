"""Many customers at once on Redis + Cosmos DB with the canned (offline) model.

N concurrent sessions x T turns, first in one process, then spread over three
processes that share nothing but Redis and Cosmos DB. Reports turns/s and
p50/p99 turn latency, and checks every message arrived, no customer's name
reached another customer's session, and every session left its episode.

    .venv/bin/python bench/bench_load.py [--sessions 100] [--turns 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path


import checkpointers
import stores
from agent import build_graph, memory
from agent.offline_model import OfflineBankModel
from agent.sessions import Sessions
from backends.devservers import CosmosServer, RedisServer

warnings.filterwarnings("ignore", message="Unverified HTTPS request")
QUESTIONS = ["Hi, what's my balance?", "I prefer paper statements.", "What about a mortgage?",
             "Tell me about savings.", "Any fees on my card?", "I want to invest.", "What did we discuss last time?",
             "Can I transfer money abroad?", "I'm interested in CDs.", "Thanks, that's all."]


def customer(run: str, index: int) -> tuple[str, str]:
    return f"L{run}-{index}", f"Customer{run}x{index} Tester"


async def drive(redis_url: str, cosmos_url: str, run: str, indexes: range, turns: int) -> dict:
    """Runs ``turns`` turns of each session concurrently; returns turn latencies
    (ms) and how many answers went without long-term memory."""
    model = OfflineBankModel()
    latencies: list[float] = []
    degraded = 0
    async with checkpointers.aconnect(redis_url) as saver, stores.aconnect(cosmos_url) as store:
        sessions = Sessions(build_graph(model=model, checkpointer=saver, store=store))

        async def one_session(index: int) -> None:
            nonlocal degraded
            customer_id, name = customer(run, index)
            await store.abatch([memory.profile_put(customer_id, {"name": name})])
            session = None
            for turn in range(turns):
                started = time.perf_counter()
                reply = await sessions.send(customer_id, QUESTIONS[turn % len(QUESTIONS)], session)
                latencies.append((time.perf_counter() - started) * 1000)
                session = reply.session_id
                degraded += "temporarily unavailable" in reply.text

        await asyncio.gather(*(one_session(i) for i in indexes))
    return {"latencies": latencies, "degraded": degraded}


async def verify(redis_url: str, cosmos_url: str, run: str, count: int, turns: int) -> dict:
    """Counts lost messages, cross-customer leaks and missing episodes."""
    lost = leaks = missing = 0
    model = OfflineBankModel()
    async with checkpointers.aconnect(redis_url) as saver, stores.aconnect(cosmos_url) as store:
        graph = build_graph(model=model, checkpointer=saver, store=store)
        for index in range(count):
            customer_id, name = customer(run, index)
            episodes = await store.asearch(memory.episodes_namespace(customer_id))
            if len(episodes) != 1:
                missing += 1
                continue
            state = (await graph.aget_state({"configurable": {"thread_id": episodes[0].key}})).values
            said = [m.content for m in state["messages"] if m.type == "human"]
            lost += max(0, turns - state.get("turns", 0)) + (said[-1] != QUESTIONS[(turns - 1) % len(QUESTIONS)])
            everything = json.dumps([m.content for m in state["messages"]]) + state.get("memory", "")
            others = {customer(run, i)[1] for i in range(count)} - {name}
            leaks += any(other in everything for other in others)
    return {"lost": lost, "leaks": leaks, "missing_episodes": missing}


def summary(driven: list[dict], seconds: float) -> dict:
    ordered = sorted(ms for part in driven for ms in part["latencies"])
    return {
        "turns": len(ordered), "turns_per_s": len(ordered) / seconds,
        "degraded": sum(part["degraded"] for part in driven),
        "p50_ms": statistics.median(ordered), "p99_ms": ordered[int(len(ordered) * 0.99) - 1],
    }


async def one_process(redis_url: str, cosmos_url: str, sessions: int, turns: int) -> dict:
    run = uuid.uuid4().hex[:6]
    started = time.perf_counter()
    driven = await drive(redis_url, cosmos_url, run, range(sessions), turns)
    result = summary([driven], time.perf_counter() - started)
    return result | await verify(redis_url, cosmos_url, run, sessions, turns)


async def three_processes(redis_url: str, cosmos_url: str, sessions: int, turns: int) -> dict:
    run = uuid.uuid4().hex[:6]
    thirds = [range(i, sessions, 3) for i in range(3)]
    started = time.perf_counter()
    workers = [
        subprocess.Popen([sys.executable, __file__, "--worker", run, str(part.start), str(sessions), str(turns),
                          redis_url, cosmos_url], stdout=subprocess.PIPE, text=True)
        for part in thirds
    ]
    driven = [json.loads(worker.communicate(timeout=900)[0]) for worker in workers]
    result = summary(driven, time.perf_counter() - started)
    return result | await verify(redis_url, cosmos_url, run, sessions, turns)


def worker(run: str, start: str, sessions: str, turns: str, redis_url: str, cosmos_url: str) -> None:
    indexes = range(int(start), int(sessions), 3)
    print(json.dumps(asyncio.run(drive(redis_url, cosmos_url, run, indexes, int(turns)))))


def run_both(redis_url: str, cosmos_url: str, sessions: int, turns: int) -> dict[str, dict]:
    return {label: asyncio.run(scenario(redis_url, cosmos_url, sessions, turns))
            for label, scenario in (("1 process", one_process), ("3 processes", three_processes))}


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        return worker(*sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--redis", help="a checkpointer URL to use instead of starting a Redis server")
    parser.add_argument("--cosmos", help="a store URL to use instead of starting a Cosmos DB server")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    os.environ.setdefault("COSMOS_KEY", "YmVuY2gta2V5")
    # The local Cosmos DB server answers slowly under this load; measure it
    # rather than the agent's fallback (set lower to see degraded answers).
    os.environ.setdefault("MEMORY_TIMEOUT_SECONDS", "120")
    with contextlib.ExitStack() as servers, tempfile.TemporaryDirectory() as workdir:
        redis_url, cosmos_url = args.redis, args.cosmos
        if redis_url is None:
            redis = RedisServer(Path(workdir)).start()
            servers.callback(redis.stop)
            redis_url = f"{redis.url}?mode=plain"
        if cosmos_url is None:
            cosmos = CosmosServer().start()
            servers.callback(cosmos.stop)
            cosmos_url = f"{cosmos.url}/bank/memory?tls=insecure"
        results = run_both(redis_url, cosmos_url, args.sessions, args.turns)
    if args.json:
        print(json.dumps(results))
        return
    print(f"{args.sessions} concurrent sessions x {args.turns} turns, plain Redis + Cosmos DB, offline model")
    print(f"{'':16}{'turns/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'lost':>6}{'leaks':>7}{'no episode':>12}{'degraded':>10}")
    for label, r in results.items():
        print(f"{label:16}{r['turns_per_s']:9.1f}{r['p50_ms']:9.0f}{r['p99_ms']:9.0f}"
              f"{r['lost']:6}{r['leaks']:7}{r['missing_episodes']:12}{r['degraded']:10}")


if __name__ == "__main__":
    main()
