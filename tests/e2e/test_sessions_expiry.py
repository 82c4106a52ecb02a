"""A session idle past the checkpointer's TTL (``?ttl=0.02``, 1.2 s): the
customer gets a clear "expired" answer, the episode stays in long-term memory,
and no empty session ever takes over its id."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.fixtures_e2e import redis_keys_of, session_of

TTL = "0.02"  # minutes


@pytest.mark.parametrize("redis_kind", ["redis_modules", "redis_plain"])
async def test_an_idle_session_expires_with_a_clear_answer(redis_kind, request, agent_world_on):
    redis_url = request.getfixturevalue(redis_kind).url
    world = agent_world_on(f"{redis_url}?ttl={TTL}")
    customer = world.new_customer()
    first = world.chat(customer, "I am interested in a 12-month CD.")
    assert first.returncode == 0, first.stderr
    session = session_of(first.stdout)

    deadline = time.monotonic() + 15
    while redis_keys_of(redis_url, session):
        assert time.monotonic() < deadline, "the idle thread's keys never expired"
        await asyncio.sleep(0.2)
    requests_before = len(world.model.requests)

    message = ["chat", "--customer", customer, "--session", session, "--message", "What about a mortgage?"]
    expired, listed = world.run_together([message, ["sessions", "--customer", customer]])
    assert expired.returncode == 2, (expired.stdout, expired.stderr)
    assert f"session {session} has expired" in expired.stderr and "Traceback" not in expired.stderr
    assert "agent>" not in expired.stdout
    assert listed.returncode == 0 and session in listed.stdout and "certificates of deposit" in listed.stdout

    # Coming back once more (here resuming with --retry) meets the same answer:
    # the refused message left no empty session under the id.
    again = world.run("chat", "--customer", customer, "--session", session, "--retry")
    assert again.returncode == 2 and f"session {session} has expired" in again.stderr, again.stderr
    assert len(world.model.requests) == requests_before, "an expired session costs no model call"
    assert redis_keys_of(redis_url, session) == [], "nothing was written under the expired id"
    assert (await world.snapshot(session, redis_url)).values == {}
    world.assert_no_duplicates(customer, [session])
    episode = world.memory_items(customer, "episodes")[0]["value"]
    assert episode["turns"] == 1 and episode["status"] == "open"
