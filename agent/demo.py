"""`bank-agent demo`: Sarah Johnson's memory at work, across two processes."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

from agent import memory
from agent.sessions import Sessions
from agent.settings import checkpointer_url, store_url

CUSTOMER = "C-123"
PROFILE = {
    "name": "Sarah Johnson",
    "tier": "Gold",
    "years_with_bank": 8,
    "risk_tolerance": "conservative",
}
PAST_EPISODES = [
    ("seed-mortgage", "2026-06-03", "Asked about mortgage rates for a 30-year fixed loan.", "rates sent by email"),
    ("seed-dispute", "2026-08-14", "Disputed a $50 charge at an online store.", "resolved, refunded"),
    ("seed-cds", "2026-10-02", "Interested in certificates of deposit (CDs).", "brochure sent"),
]
ROUTINE = ["Asked for a new debit card PIN.", "Checked the fee on an international transfer.",
           "Updated the phone number on file.", "Asked why a card payment was declined.",
           "Requested a statement for the tax return."]
ROUTINE_SESSIONS = 150  # newer than the mortgage session: only relevance brings it back
ROUTINE_FROM = datetime(2026, 6, 4, 9, tzinfo=timezone.utc)
FIRST_SESSION = [
    "Hi, what's my balance?",
    "I want to invest some money. I am a conservative investor.",
    "What about that mortgage I asked about?",
]
SECOND_SESSION = "Hello again! What did we talk about last time?"


def seed_writes() -> list:
    writes = [memory.profile_put(CUSTOMER, PROFILE)]
    for key, day, summary, outcome in PAST_EPISODES:
        stamp = f"{day}T10:00:00+00:00"
        episode = {"session_id": key, "started_at": stamp, "updated_at": stamp, "summary": summary, "outcome": outcome, "status": "ended"}
        writes.append(memory.episode_put(CUSTOMER, episode))
    for n in range(ROUTINE_SESSIONS):
        stamp = (ROUTINE_FROM + timedelta(days=n)).isoformat()
        episode = {"session_id": f"seed-routine-{n}", "started_at": stamp, "updated_at": stamp,
                   "summary": ROUTINE[n % len(ROUTINE)], "status": "ended"}
        writes.append(memory.episode_put(CUSTOMER, episode))
    return writes


def show_memory(known: memory.CustomerMemory) -> None:
    print(f"  from the store ({store_url()}):")
    print(f"    profile   {known.profile}")
    for fact in known.facts:
        print(f"    fact      [{fact['category']}] {fact['fact']}")
    for episode in known.episodes[:5]:
        print(f"    episode   {str(episode['started_at'])[:10]} {episode['summary']}")


async def show_recall(sessions: Sessions, session_id: str) -> None:
    """Why the mortgage session reached the prompt: relevance, not recency."""
    snapshot = await sessions.graph.aget_state({"configurable": {"thread_id": session_id}})
    known = await memory.aload(sessions.graph.store, CUSTOMER, skip_episode=session_id)
    ages = [e["session_id"] for e in known.episodes]
    place = ages.index("seed-mortgage") + 1 if "seed-mortgage" in ages else 0
    found = "30-year fixed loan" in snapshot.values.get("memory", "")
    print(f"  recall: the mortgage session is number {place} of {len(ages)} by date (newest first); "
          f"{'in the prompt because it is relevant, not recent' if found else 'NOT in the prompt'}")


async def run_demo(sessions: Sessions) -> None:
    store = sessions.graph.store
    await store.abatch(seed_writes())
    print(f"Customer {CUSTOMER} before the session:")
    show_memory(await memory.aload(store, CUSTOMER))

    print("\n== Session 1 (this process)")
    session_id = None
    for message in FIRST_SESSION:
        reply = await sessions.send(CUSTOMER, message, session_id)
        session_id = reply.session_id
        print(f"customer> {message}\n   agent> {reply.text}")
        if "mortgage" in message:
            await show_recall(sessions, session_id)
    snapshot = await sessions.graph.aget_state({"configurable": {"thread_id": session_id}})
    print(f"  short-term: {len(snapshot.values['messages'])} messages of {session_id} in {checkpointer_url()}")
    episode = await sessions.end(CUSTOMER, session_id)
    print(f"  session ended; its episode: {episode['summary']}")

    print("\n== Session 2 (a new process: nothing shared but the stores)")
    sys.stdout.flush()
    subprocess.run(
        [sys.executable, "-m", "agent.cli", "chat", "--customer", CUSTOMER, "--message", SECOND_SESSION],
        check=True,
    )
    print(f"\nCustomer {CUSTOMER} after both sessions:")
    show_memory(await memory.aload(store, CUSTOMER))
