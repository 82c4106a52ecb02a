"""``langgraph dev`` on the project's persistence (langgraph.json wires the
Redis checkpointer and the Cosmos DB store): threads created over its HTTP API
keep their state across server restarts, because the state lives in Redis.

What lives where: the checkpoints (the conversation) are in Redis; the server's
thread registry (which thread ids exist, their runs) is the in-memory
runtime's pickle in ``.langgraph_api/``, written every 10 s and at a clean
shutdown. The last part of the test removes that registry, as a SIGKILL within
10 s of creating a thread or a fresh checkout does: the API then answers 404
for the thread, and a run with ``if_not_exists: "create"`` registers it again
and continues the conversation from Redis.
"""

from __future__ import annotations

import signal

import pytest

from tests.support.fixtures_e2e import user_texts

FIRST = "I am interested in a 12-month CD."
SECOND = "Can you tell me about mortgage rates?"
THIRD = "What did we talk about earlier?"
FOURTH = "My risk tolerance is low."


def run_body(customer: str, text: str, **options) -> dict:
    return {"assistant_id": "bank_agent", "input": {"messages": [{"role": "user", "content": text}]},
            "context": {"customer_id": customer}, **options}


def customer_messages(values: dict) -> list[str]:
    return [m["content"] for m in values["messages"] if m["type"] == "human"]


def take_turn(server, world, thread: str, customer: str, text: str, **options) -> dict:
    status, values = server.call("POST", f"/threads/{thread}/runs/wait", run_body(customer, text, **options))
    assert status == 200, values
    assert text in user_texts(world.model.chat_requests()[-1])
    return values


@pytest.mark.parametrize("redis_kind, saver", [("redis_modules", "AsyncModulesRedisSaver"),
                                                ("redis_plain", "AsyncPlainRedisSaver")])
async def test_threads_survive_langgraph_dev_restarts(redis_kind, saver, request, agent_world_on, langgraph_dev_on):
    world = agent_world_on(request.getfixturevalue(redis_kind).url)
    server = langgraph_dev_on(world, AUTH_DISABLED="1")  # API authorization has its own tests
    customer = world.new_customer()
    server.start()

    status, assistants = server.call("POST", "/assistants/search", {"graph_id": "bank_agent"})
    assert status == 200 and assistants, assistants
    status, schemas = server.call("GET", f"/assistants/{assistants[0]['assistant_id']}/schemas")
    assert status == 200, schemas
    form = schemas["context_schema"]["properties"]  # what Studio renders as the run's form
    assert form["customer_id"]["type"] == "string" and "token_budget" in form

    status, thread = server.call("POST", "/threads", {})
    assert status == 200, thread
    thread_id = thread["thread_id"]
    take_turn(server, world, thread_id, customer, FIRST)
    take_turn(server, world, thread_id, customer, SECOND)

    server.stop(signal.SIGTERM)
    server.start()
    status, state = server.call("GET", f"/threads/{thread_id}/state")
    assert status == 200, state
    assert customer_messages(state["values"]) == [FIRST, SECOND] and state["values"]["turns"] == 2
    values = take_turn(server, world, thread_id, customer, THIRD)
    assert user_texts(world.model.chat_requests()[-1]) == [FIRST, SECOND, THIRD], "the third turn saw the history"
    assert customer_messages(values) == [FIRST, SECOND, THIRD]

    server.stop(signal.SIGKILL)  # the thread was registered before the clean shutdown above
    server.start()
    status, state = server.call("GET", f"/threads/{thread_id}/state")
    assert status == 200, state
    assert customer_messages(state["values"]) == [FIRST, SECOND, THIRD] and state["values"]["turns"] == 3

    server.stop(signal.SIGKILL)
    (server.registry / ".langgraph_ops.pckl").unlink()  # the thread registry is lost; Redis is not
    server.start()
    assert server.call("GET", f"/threads/{thread_id}/state")[0] == 404
    status, refused = server.call("POST", f"/threads/{thread_id}/runs/wait", run_body(customer, FOURTH))
    assert status == 404, refused
    values = take_turn(server, world, thread_id, customer, FOURTH, if_not_exists="create")
    assert customer_messages(values) == [FIRST, SECOND, THIRD, FOURTH]
    assert values["turns"] == 4
    snapshot = await world.snapshot(thread_id)
    assert snapshot.values["turns"] == 4 and snapshot.values["customer_id"] == customer
    world.assert_no_duplicates(customer, [thread_id])

    log = server.log()
    assert f"Using custom checkpointer: Masking{saver}" in log  # the back end's saver, masking what it stores
    assert "Using custom store: <stores.cosmos.store.AsyncCosmosStore" in log
    for complaint in ("degraded", "checkpointer missing", "missing adelete_for_runs", "missing acopy_thread"):
        assert complaint not in log, complaint
