"""An agent process killed with SIGKILL in the middle of a turn: inside the
model call, and inside record-episode (its Cosmos DB write). A new process
resumes the thread from the last checkpoint and finishes the turn with
``chat --session ...`` (which offers the retry) or ``--retry``; nothing completed is lost, nothing is stored twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time

import pytest

from tests.support.fixtures_e2e import CLI_TIMEOUT, session_of, user_texts

pytestmark = pytest.mark.long

FIRST = "I am interested in a 12-month CD."
SECOND = "My risk tolerance is low."
THIRD = "What about a mortgage?"


def customer_messages(snapshot) -> list[str]:
    return [m.content for m in snapshot.values["messages"] if m.type == "human"]


def start_turn(world, customer: str, session: str, text: str) -> subprocess.Popen:
    return world.popen("chat", "--customer", customer, "--session", session, "--message", text,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def sigkill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL


async def finish_and_continue(world, customer: str, session: str, interrupted: str) -> None:
    """A new process refuses a new message while the turn is pending; a customer
    at a terminal resuming the session is offered the retry and accepts; one more
    turn follows. The state then holds every turn exactly once."""
    refused = world.chat(customer, THIRD, session)
    assert refused.returncode == 2 and "interrupted" in refused.stderr, refused.stderr
    retried = world.on_terminal("chat", "--customer", customer, "--session", session, typed=["y"])
    assert retried.returncode == 0, retried.stderr
    assert "Your last message was interrupted. Retry it?" in retried.stdout
    assert "agent> " in retried.stdout
    after_retry = await world.snapshot(session)
    assert after_retry.next == () and after_retry.values["turns"] == 2
    assert customer_messages(after_retry) == [FIRST, interrupted]

    start = len(world.model.requests)
    third = world.chat(customer, THIRD, session)
    assert third.returncode == 0, third.stderr
    assert user_texts(world.model.chat_requests()[-1]) == [FIRST, interrupted, THIRD]
    assert len(world.model.requests) > start
    final = await world.snapshot(session)
    assert final.next == () and final.values["turns"] == 3
    assert customer_messages(final) == [FIRST, interrupted, THIRD]
    world.assert_no_duplicates(customer, [session])
    episode = world.memory_items(customer, "episodes")[0]["value"]
    assert episode["turns"] == 3


async def wait_for(check, what: str, timeout: float = CLI_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        await asyncio.sleep(0.1)


async def test_killed_while_the_model_call_is_in_flight(agent_world):
    world = agent_world
    customer = world.new_customer()
    first = world.chat(customer, FIRST)
    assert first.returncode == 0, first.stderr
    session = session_of(first.stdout)

    in_flight, killed = threading.Event(), threading.Event()

    def hold_the_answer(body: dict) -> None:
        if SECOND in user_texts(body):
            in_flight.set()
            killed.wait(CLI_TIMEOUT)  # the reply goes out only after the process is dead

    world.model.on_request = hold_the_answer
    process = start_turn(world, customer, session, SECOND)
    try:
        assert in_flight.wait(CLI_TIMEOUT), "the model call never started"
        sigkill(process)
    finally:
        killed.set()
        world.model.on_request = None

    interrupted = await world.snapshot(session)
    # Unfinished: a node is still to run, or a finished node's writes wait for the
    # checkpoint of its step (the kill can land before that checkpoint is saved).
    assert interrupted.next or interrupted.tasks, "the interrupted turn should be pending"
    assert customer_messages(interrupted) == [FIRST, SECOND], "the customer's message must survive the crash"
    assert interrupted.values["turns"] == 1
    await finish_and_continue(world, customer, session, SECOND)
    facts = sorted(doc["value"]["category"] for doc in world.memory_items(customer, "facts"))
    assert facts == ["product_interest", "risk_tolerance"], "the retried turn learned its fact once"


async def test_killed_inside_record_episode(agent_world, cosmos_server):
    world = agent_world
    customer = world.new_customer()
    first = world.chat(customer, FIRST)
    assert first.returncode == 0, first.stderr
    session = session_of(first.stdout)
    cosmos = cosmos_server.process.pid

    frozen = threading.Event()

    def freeze_cosmos_before_the_answer(body: dict) -> None:
        # The answer after the fact was remembered: the next store write is record-episode's.
        if SECOND in user_texts(body) and body["messages"][-1]["role"] == "tool" and not frozen.is_set():
            os.kill(cosmos, signal.SIGSTOP)
            frozen.set()

    world.model.on_request = freeze_cosmos_before_the_answer
    process = start_turn(world, customer, session, SECOND)
    try:
        async def in_record_episode() -> bool:
            assert process.poll() is None, process.communicate(timeout=10)
            return frozen.is_set() and (await world.snapshot(session)).next == ("record-episode",)

        await wait_for(in_record_episode, "reaching record-episode with Cosmos DB frozen")
        await asyncio.sleep(0.3)  # let it send its episode write into the frozen server
        sigkill(process)
    finally:
        world.model.on_request = None
        os.kill(cosmos, signal.SIGCONT)

    interrupted = await world.snapshot(session)
    assert interrupted.next == ("record-episode",)
    assert interrupted.values["turns"] == 1
    answer = interrupted.values["messages"][-1]
    assert answer.type == "ai" and answer.content, "the model's answer was checkpointed before record-episode"

    requests_before = len(world.model.requests)
    world.wait_for_lease(session)  # the killed process's turn lease runs out (SESSION_LEASE_SECONDS)
    retried = world.run("chat", "--customer", customer, "--session", session, "--retry")
    assert retried.returncode == 0, retried.stderr
    assert f"agent> {answer.content}" in retried.stdout, "the retry shows the checkpointed answer"
    assert len(world.model.requests) == requests_before, "finishing record-episode needs no model call"
    final = await world.snapshot(session)
    assert final.next == () and final.values["turns"] == 2
    assert customer_messages(final) == [FIRST, SECOND]
    facts = sorted(doc["value"]["category"] for doc in world.memory_items(customer, "facts"))
    assert facts == ["product_interest", "risk_tolerance"]
    world.assert_no_duplicates(customer, [session])
    episode = world.memory_items(customer, "episodes")[0]["value"]
    assert episode["turns"] == 2 and episode["topics"] == final.values["topics"]
