"""Long-history recall: does a question's evidence reach the model's prompt?

A synthetic bank customer with five years of sessions: a few hundred routine
episodes and facts (card PINs, fee questions, transfers: words every question
shares) and, spread over the five years, memorable ones that later questions
ask about in other words ("the home loan for the Porto apartment"). Each
question is sent as a new session's first message; it counts when all of its
evidence is in the memory section rendered at the default budget (8,000
tokens, 30 % memory). Every ranking fills the same packer from the same data:
recency only, BM25 only, embeddings only, and the agent's fused recall. Then
load-context's memory work (refresh the index, rank, render) on SQLite for
customers with 100, 1,000, 10,000 and 12,000 items (one in six an episode).

    .venv/bin/python bench/bench_recall.py      # writes bench/results/recall*.{md,png}
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path


import stores
from agent import memory, memory_index
from agent.budget import budget_for
from agent.settings import token_budget
from agent.memory import CustomerMemory
from agent.tokens import counter_for

RESULTS = Path(__file__).resolve().parent / "results"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
YEARS = 5

# (evidence: [(kind, text)], question in other words)
MEMORABLE = [
    ([("episode", "Asked about mortgage rates for a 30-year fixed loan on a flat in Porto; the advisor quoted 4.1%.")],
     "What about that mortgage I asked about?"),
    ([("episode", "Reported the Visa card stolen on holiday in Marrakesh; card blocked and replaced.")],
     "When my card was taken during that trip to Morocco, what did you do?"),
    ([("fact", "Daughter Ines starts university in Coimbra in September 2027."),
      ("episode", "Opened a monthly savings plan of 200 euros for Ines's tuition.")],
     "How much am I putting aside each month for my daughter's studies?"),
    ([("episode", "Disputed a 480 euro charge from a furniture shop that never delivered the sofa.")],
     "Whatever happened with the couch I paid for but never received?"),
    ([("fact", "Allergic to paper clutter: wants every statement electronically only.")],
     "Do you still send me statements on paper?"),
    ([("episode", "Asked how to send money to a brother in Toronto; set up an international wire in Canadian dollars.")],
     "How did I transfer money to my sibling in Canada last time?"),
    ([("episode", "Enquired about a green loan for solar panels on the house roof.")],
     "Did we ever talk about financing renewable energy for my home?"),
    ([("fact", "Runs a small bakery business called Pao Quente."),
      ("episode", "Asked about a business overdraft for the bakery's new oven.")],
     "What did I ask about credit for my shop's equipment?"),
    ([("episode", "Complained that the ATM at Rossio station swallowed the debit card.")],
     "Which cash machine kept my card that time?"),
    ([("episode", "Asked to add husband Miguel as a joint holder on the current account.")],
     "Is my spouse on my account? We arranged something once."),
    ([("episode", "Asked about life insurance linked to the mortgage; was sent the policy terms.")],
     "What cover did we discuss to protect the house loan if I die?"),
    ([("fact", "Plans to retire early at 58 and move to the Algarve.")],
     "What were my retirement plans again?"),
    ([("episode", "Requested a higher contactless limit because of weekly market shopping.")],
     "Why did I ask you to change my tap-to-pay limit?"),
    ([("episode", "Set up a standing order of 650 euros rent to landlord Sr. Almeida.")],
     "How much is the recurring payment to my landlord?"),
    ([("episode", "Lost money to a phishing SMS pretending to be the tax office; fraud team recovered 300 euros.")],
     "Did I get anything back from that scam text message?"),
    ([("fact", "Prefers to be called in the morning, never after 6 pm.")],
     "When is the best time for your advisor to phone me?"),
    ([("episode", "Asked about opening a children's savings account for newborn son Tiago.")],
     "What account did we look at for my baby boy?"),
    ([("episode", "Converted 5,000 dollars of inheritance from an aunt in Boston into euros.")],
     "What did I do with the American money my relative left me?"),
    ([("episode", "Asked about car financing for a used electric Renault Zoe.")],
     "Remind me about the vehicle I wanted to buy on credit."),
    ([("fact", "Is colour-blind and needs high-contrast statements.")],
     "Is there anything about my eyesight on file?"),
    ([("episode", "Travelled to Japan; asked for fee-free yen withdrawals and travel notice on the card.")],
     "What did we arrange before my trip to Tokyo?"),
    ([("episode", "Closed the old account at the Braga branch after moving to Lisbon.")],
     "Which branch account did I shut when I relocated?"),
    ([("fact", "Has a guide dog and needs step-free branch access.")],
     "What help do I need when I visit a branch?"),
    ([("episode", "Asked about a pension top-up (PPR) to reduce income tax.")],
     "What was that retirement product that lowers my taxes?"),
    ([("episode", "Asked for a loan payment holiday after being made redundant from the shipyard.")],
     "When I lost my job, did you let me pause the repayments?"),
    ([("fact", "Volunteers as treasurer of the Sporting supporters' club."),
      ("episode", "Opened an association account for the supporters' club with two signatories.")],
     "What did we set up for the football fan club I manage the money for?"),
    ([("episode", "Asked about gold coins and precious metals as a safe investment.")],
     "Did I ever ask you about bullion?"),
    ([("episode", "Reported a duplicate charge from the Continente supermarket; refunded after two days.")],
     "That time the grocery store took my payment twice, how was it settled?"),
    ([("fact", "Mother Rosa lives in a care home in Viseu; pays her fees monthly.")],
     "Who do I pay care home fees for?"),
    ([("episode", "Asked about certificates of deposit with a 12-month term at 3.2%.")],
     "What term deposit rate did you offer me?"),
]

ROUTINE_EPISODES = [
    "Asked for a new debit card PIN.", "Checked the fees on a savings account.", "Asked how to set up a standing order.",
    "Reported a lost credit card; card replaced.", "Asked about a transfer limit in the mobile app.",
    "Asked why a card payment was declined at a shop.", "Updated the address on the account.",
    "Asked about the monthly account maintenance fee.", "Asked for a bank statement for the last three months.",
    "Asked about personal loan interest rates.", "Asked how to activate the new credit card.",
    "Asked about interest on the savings account.", "Changed the mobile app password.",
    "Asked about a pending transfer that had not arrived.", "Asked for an account certificate for an employer.",
]
ROUTINE_FACTS = [
    "Prefers the mobile app to the branch.", "Gets paid on the 25th of each month.", "Uses the credit card mostly online.",
    "Likes notifications by SMS.", "Keeps a low balance in the current account.", "Shops online several times a week.",
    "Travels abroad once a year.", "Pays utility bills by direct debit.",
]


def customer(seed: int = 7) -> tuple[list, list[tuple[str, list[str], datetime]]]:
    """The store writes of one five-year customer, and the questions with their
    evidence texts and the evidence's age."""
    rng = random.Random(seed)
    span = YEARS * 365 * 24 * 3600
    writes, stamped = [memory.profile_put("B-1", {"name": "Maria Silva", "tier": "Silver"})], []
    for n in range(400):
        stamped.append(("episode", f"{rng.choice(ROUTINE_EPISODES)} Reference {rng.randint(1000, 9999)}.",
                        NOW - timedelta(seconds=rng.randint(0, span))))
    for n in range(150):
        stamped.append(("fact", f"{rng.choice(ROUTINE_FACTS)} (noted {n})", NOW - timedelta(seconds=rng.randint(0, span))))
    questions = []
    for evidence, question in MEMORABLE:
        when = NOW - timedelta(seconds=rng.randint(30 * 24 * 3600, span))
        for kind, text in evidence:
            stamped.append((kind, text, when))
        questions.append((question, [text for _, text in evidence], when))
    for n, (kind, text, when) in enumerate(stamped):
        stamp = when.isoformat(timespec="microseconds")
        if kind == "fact":
            writes.append(memory.fact_put("B-1", "other", text, f"s-{n}", learned_at=stamp))
        else:
            writes.append(memory.episode_put("B-1", {"session_id": f"s-{n}", "started_at": stamp, "updated_at": stamp,
                                                      "summary": text, "status": "ended"}))
    return writes, questions


RANKINGS = {
    "recency only": None,
    "BM25": {"lexical": 1.0},
    "embeddings (wordllama)": {"semantic": 1.0},
    "agent recall (BM25 + embeddings + recency, RRF)": None,
}


async def recall_table(store) -> dict[str, list[tuple[bool, float]]]:
    writes, questions = customer()
    await store.abatch(writes)
    counter = counter_for("gpt-4o-mini")
    limit = budget_for(token_budget(), counter).memory_limit
    profile, index = await memory_index.aindex(store, "B-1")
    results = {}
    for name, weights in RANKINGS.items():
        hits = []
        for question, evidence, when in questions:
            if name == "recency only":
                memos = sorted(index.current("fact") + index.current("episode"), key=lambda m: m.when, reverse=True)
            elif weights is None:
                memos = (await memory.arecall(store, "B-1", question)).memos
            else:
                memos = index.rank(question, weights)
            shown = memory.render(CustomerMemory(profile, memos), counter, limit).text
            hits.append((all(text in shown for text in evidence), (NOW - when).days / 365))
        results[name] = hits
    return results


async def latency(size: int, turns: int = 100) -> dict[str, float]:
    rng = random.Random(size)
    writes = [memory.profile_put("L-1", {"name": "Maria Silva"})]
    texts = ROUTINE_EPISODES + [text for evidence, _ in MEMORABLE for _, text in evidence]
    for n in range(size):
        stamp = (NOW - timedelta(minutes=n)).isoformat(timespec="microseconds")
        text = f"{rng.choice(texts)} Reference {n}."
        if n % 6:
            writes.append(memory.fact_put("L-1", "other", text, f"s-{n}", learned_at=stamp))
        else:
            writes.append(memory.episode_put("L-1", {"session_id": f"s-{n}", "started_at": stamp, "summary": text, "status": "ended"}))
    counter = counter_for("gpt-4o-mini")
    limit = budget_for(token_budget(), counter).memory_limit
    with tempfile.TemporaryDirectory() as folder:
        async with stores.aconnect(f"sqlite:///{folder}/store.db") as store:
            for start in range(0, len(writes), 1000):
                await store.abatch(writes[start:start + 1000])
            await asyncio.sleep(2.1)  # past SQLite's one-second updated_at, as for a customer imported earlier
            started = time.perf_counter()
            memory.render(await memory.arecall(store, "L-1", "hello"), counter, limit)
            cold = time.perf_counter() - started
            timings, cpu = [], []
            for turn in range(turns):
                question = MEMORABLE[turn % len(MEMORABLE)][1]
                started, started_cpu = time.perf_counter(), time.process_time()
                memory.render(await memory.arecall(store, "L-1", question), counter, limit)
                timings.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
    timings.sort()
    cpu.sort()
    return {"cold": cold * 1000, "p50": statistics.median(timings) * 1000, "p95": timings[int(0.95 * len(timings)) - 1] * 1000,
            "cpu95": cpu[int(0.95 * len(cpu)) - 1] * 1000}


def plot(results: dict[str, list[tuple[bool, float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = list(range(YEARS + 1))
    figure, axes = plt.subplots(figsize=(7, 4))
    for name, hits in results.items():
        share = []
        for low, high in zip(edges, edges[1:]):
            bucket = [hit for hit, age in hits if low <= age < high]
            share.append(100 * sum(bucket) / len(bucket) if bucket else float("nan"))
        axes.plot([f"{low}-{high} y" for low, high in zip(edges, edges[1:])], share, marker="o", label=name)
    axes.set_xlabel("age of the evidence")
    axes.set_ylabel("questions with all evidence in the prompt (%)")
    axes.set_ylim(-5, 105)
    axes.legend(fontsize=8)
    axes.set_title("Recall by age of evidence (5-year synthetic customer)")
    figure.tight_layout()
    figure.savefig(RESULTS / "recall_by_age.png", dpi=110)


async def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    async with stores.aconnect("memory://") as store:
        results = await recall_table(store)
    lines = ["| ranking (same data, same 2,400-token packer) | evidence in the prompt |", "| --- | --- |"]
    lines += [f"| {name} | {100 * sum(h for h, _ in hits) / len(hits):.0f}% ({sum(h for h, _ in hits)}/{len(hits)}) |"
              for name, hits in results.items()]
    lines += ["", f"| items (SQLite; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores) | first turn (cold index) "
              "| load-context memory p50 | p95 | p95 CPU time |", "| --- | --- | --- | --- | --- |"]
    for size in (100, 1_000, 10_000, 12_000):
        measured = await latency(size)
        lines.append(f"| {size:,}{' (10,000 facts + 2,000 episodes)' if size == 12_000 else ''} | {measured['cold']:.0f} ms | {measured['p50']:.1f} ms | {measured['p95']:.1f} ms "
                     f"| {measured['cpu95']:.1f} ms |")
    plot(results)
    table = "\n".join(lines)
    (RESULTS / "bench_recall.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    asyncio.run(main())
