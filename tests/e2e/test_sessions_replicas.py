"""One session answered in turn by three agent processes ("servers A, B, C")
sharing only Redis and Cosmos DB, compared with the same conversation answered
by one agent process."""

from __future__ import annotations

import pytest

from tests.support.fixtures_e2e import comparable, session_of, without_call_ids

PROFILE = {"name": "Ana Lima", "tier": "Gold"}
# Long enough that the 6th turn folds older messages into the summary at a
# 1024-token budget, so the summary is compared too.
PAD = " I have been a customer of this bank for many years and I would like a careful answer please." * 3
MESSAGES = [
    "Hi, I want to check my account balance." + PAD,
    "I am interested in a 12-month CD." + PAD,
    "My risk tolerance is low." + PAD,
    "Can you tell me about mortgage rates?" + PAD,
    "I prefer email over phone calls." + PAD,
    "What did we talk about earlier?" + PAD,
]
BUDGET = "1200"  # sized so the summariser first runs on the last turn
LEARNED_BY_B = 'product_interest "I am interested in a 12-month CD"'


def run_in_one_process(world) -> str:
    """The same conversation answered by one agent process (a fresh customer); its session id."""
    customer = world.new_customer()
    profile = world.run("profile", "--customer", customer, "--set", *(f"{k}={v}" for k, v in PROFILE.items()))
    assert profile.returncode == 0, profile.stderr
    server = world.replica(customer, None, "--budget", BUDGET)
    for text in MESSAGES:
        server.say(text)
    assert server.close() == 0, server.stderr()
    return session_of("".join(server.output))


@pytest.mark.parametrize("redis_kind", ["redis_modules", "redis_plain"])
async def test_three_processes_take_turns_on_one_session(redis_kind, request, agent_world_on):
    world = agent_world_on(request.getfixturevalue(redis_kind).url)
    model = world.model
    customer = world.new_customer()
    profile = world.run("profile", "--customer", customer, "--set", *(f"{k}={v}" for k, v in PROFILE.items()))
    assert profile.returncode == 0, profile.stderr

    server_a = world.replica(customer, None, "--budget", BUDGET)
    turn_requests = []
    start = len(model.requests)
    replies = [server_a.say(MESSAGES[0])]
    turn_requests.append(model.requests[start:])
    session = session_of("".join(server_a.output))
    server_b = world.replica(customer, session, "--budget", BUDGET)
    server_c = world.replica(customer, session, "--budget", BUDGET)
    order = [server_b, server_c, server_a, server_b, server_c]
    for text, server in zip(MESSAGES[1:], order):
        start = len(model.requests)
        replies.append(server.say(text))
        turn_requests.append(model.requests[start:])
    for name, server in zip("ABC", (server_a, server_b, server_c)):
        assert server.close() == 0, f"server {name}: {server.stderr()}"

    for turn, requests in enumerate(turn_requests):
        chat = [r for r in requests if "## Task:" not in r["messages"][0]["content"]]
        assert chat, f"turn {turn + 1} made no chat request"
        # The newest message is what the model answers; every earlier one is either
        # still in the messages or handed to the summariser in this same turn.
        assert [m["content"] for m in chat[0]["messages"] if m["role"] == "user"][-1] == MESSAGES[turn]
        seen = "\n".join(str(m.get("content")) for r in requests for m in r["messages"])
        for earlier in MESSAGES[: turn + 1]:
            assert earlier in seen, f"turn {turn + 1} did not see {earlier[:30]!r}"
        for r in chat:
            system = r["messages"][0]["content"]
            assert '- "name": "Ana Lima"' in system, f"turn {turn + 1}: no profile in the prompt"
            if turn >= 2:
                assert LEARNED_BY_B in system, f"turn {turn + 1}: the fact server B learned is missing"
    assert any("## Task: extend the conversation summary" in r["messages"][0]["content"]
               for r in turn_requests[-1]), "the last turn was meant to summarise"
    assert replies[0].startswith("[offline model] Hello Ana"), "the first turn greets from the profile"

    alone = run_in_one_process(world)
    replicated, single = await world.snapshot(session), await world.snapshot(alone)
    assert replicated.next == single.next == ()
    got, want = replicated.values, single.values
    assert comparable(got["messages"]) == comparable(want["messages"])
    assert without_call_ids(got.get("summary")) == without_call_ids(want.get("summary"))
    assert got.get("summary"), "the conversation was summarised"
    assert (got["turns"], got["topics"], got["memory"]) == (want["turns"], want["topics"], want["memory"])
    assert got["turns"] == len(MESSAGES) and got["customer_id"] == customer
    assert [m.content for m in got["messages"] if m.type == "ai" and m.content][-1] == replies[-1]
    world.assert_no_duplicates(customer, [session])
    episode = world.memory_items(customer, "episodes")[0]["value"]
    assert episode["turns"] == len(MESSAGES) and episode["status"] == "open"
