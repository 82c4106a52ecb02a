"""A hostile or broken model is bounded (issue 8, finding 6), through the real
ChatOpenAI client against the local OpenAI-compatible server."""

from __future__ import annotations

import time

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from agent import build_graph, memory
from agent.budget import budget_for
from agent.errors import ModelUnavailable

from agent.sessions import Sessions


@pytest.fixture
def sessions(model):
    return Sessions(build_graph(model=model, checkpointer=InMemorySaver(), store=InMemoryStore()))


async def test_a_model_trickling_its_answer_is_stopped_by_the_whole_call_timeout(sessions, fake_openai, monkeypatch):
    monkeypatch.setenv("MODEL_TIMEOUT_SECONDS", "2")
    fake_openai.trickle = 0.2  # each read returns within the client's timeout; the whole body takes minutes
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match="did not answer within 2 s"):
        await sessions.send("C-1", "Hello")
    assert time.monotonic() - started < 6


async def test_a_model_calling_tools_on_every_reply_gets_one_tool_round(sessions, fake_openai):
    fake_openai.always_remember = True
    reply = await sessions.send("C-1", "I prefer email and I like CDs.")
    assert len(fake_openai.chat_requests()) == 2, "one answer with tool calls, one final answer"
    assert reply.text
    state = (await sessions.graph.aget_state({"configurable": {"thread_id": reply.session_id}})).values
    assert not state["messages"][-1].tool_calls and state["turns"] == 1
    facts = await sessions.graph.store.asearch(memory.facts_namespace("C-1"))
    assert len(facts) <= 5


async def test_a_huge_reply_is_cut_to_the_reply_limit(sessions, fake_openai):
    fake_openai.content = "blah " * 200_000  # about 1 MB
    reply = await sessions.send("C-1", "Hello", token_budget=8000)
    limit = budget_for(8000, sessions.counter).reply_limit
    assert sessions.counter.text(reply.text) <= limit < 2000
    state = (await sessions.graph.aget_state({"configurable": {"thread_id": reply.session_id}})).values
    assert all(len(str(m.content)) < 20_000 for m in state["messages"])


async def test_a_model_answering_200_with_non_json_is_a_clear_error(sessions, fake_openai):
    fake_openai.raw_body = b"<html>gateway says hi</html>"
    with pytest.raises(ModelUnavailable, match="unreadable answer"):
        await sessions.send("C-1", "Hello")
