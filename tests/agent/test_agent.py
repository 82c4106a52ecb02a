"""The agent graph driven through the real OpenAI clients against a local endpoint."""

from __future__ import annotations

import random

import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import AzureChatOpenAI
from langchain_openai.chat_models.base import _convert_dict_to_message
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from agent import build_graph, memory
from agent.context import Context
from agent.errors import InvalidContext, InvalidMessage, ModelUnavailable
from agent.tools import TOOL_SCHEMAS


from agent.prompts import NEW_CUSTOMER
from agent.sessions import Sessions
from agent.tokens import counter_for
from tests.support.fake_openai import unpaired_tool_calls

WORDS = "account transfer savings card branch statement deposit interest payment loan".split()


@pytest.fixture
def store():
    return InMemoryStore()


@pytest.fixture
def sessions(model, store):
    return Sessions(build_graph(model=model, checkpointer=InMemorySaver(), store=store))


async def seed_sarah(store) -> None:
    await store.abatch([
        memory.profile_put("C-123", {"name": "Sarah Johnson", "tier": "Gold", "risk_tolerance": "conservative"}),
        memory.fact_put("C-123", "product_interest", "Interested in 12-month CDs", "old"),
        memory.episode_put("C-123", {"session_id": "old", "started_at": "2026-06-03T10:00:00+00:00",
                                     "updated_at": "2026-06-03T10:00:00+00:00",
                                     "summary": "Disputed a $50 charge", "outcome": "resolved"}),
    ])


def prompt_tokens(request: dict) -> int:
    """Tokens of a recorded request, counted like the agent counts them."""
    messages = [_convert_dict_to_message(m) for m in request["messages"]]
    return counter_for("gpt-4").messages(messages, TOOL_SCHEMAS if request.get("tools") else ())


async def test_profile_facts_and_episodes_reach_the_system_prompt(sessions, store, fake_openai):
    await seed_sarah(store)
    reply = await sessions.send("C-123", "Hello, any news about my dispute?")
    system = fake_openai.chat_requests()[0]["messages"][0]["content"]
    assert '"name": "Sarah Johnson"' in system and '"tier": "Gold"' in system
    assert "Interested in 12-month CDs" in system
    assert "Disputed a $50 charge" in system and "resolved" in system
    assert "Sarah" in reply.text and "dispute" in reply.text.lower()


async def test_a_new_customer_gets_the_no_history_context(sessions, fake_openai):
    reply = await sessions.send("C-999", "Hi there")
    system = fake_openai.chat_requests()[0]["messages"][0]["content"]
    assert NEW_CUSTOMER in system
    assert "Sarah" not in system
    assert "welcome" in reply.text.lower()


async def test_azure_client_answers_through_the_deployment_route(store, fake_openai):
    azure = AzureChatOpenAI(azure_endpoint=fake_openai.endpoint, azure_deployment="bank-gpt", api_key="az-test",
                            api_version="2024-10-21", model="gpt-4", max_retries=0)
    sessions = Sessions(build_graph(model=azure, checkpointer=InMemorySaver(), store=store))
    await seed_sarah(store)
    reply = await sessions.send("C-123", "What's my balance?")
    assert fake_openai.requests[0]["path"].startswith("/openai/deployments/bank-gpt/chat/completions")
    assert "Sarah" in reply.text


async def test_300_long_turns_stay_within_budget_and_the_summary_is_extended(sessions, store, fake_openai):
    await seed_sarah(store)
    budget, rng, session = 2000, random.Random(7), None
    for turn in range(300):
        filler = " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 220)))
        preference = f" I prefer paper statements number {turn}." if turn % 10 == 0 else ""
        reply = await sessions.send("C-123", f"Question {turn}: {filler}.{preference}", session, token_budget=budget)
        session = reply.session_id
    sizes = [prompt_tokens(request) for request in fake_openai.requests]
    assert max(sizes) <= budget, f"largest prompt {max(sizes)} tokens > budget {budget}"
    summaries = fake_openai.summary_requests()
    assert len(summaries) >= 10
    # Each summarisation is asked to extend what the previous one produced.
    previous_outputs = [s["messages"][0]["content"].split("## Previous summary\n", 1)[1] for s in summaries[1:]]
    state = (await sessions.graph.aget_state({"configurable": {"thread_id": session}})).values
    assert all(p.strip() and "no earlier messages" not in p for p in previous_outputs)
    assert "Summary of" not in state["summary"] and "Customer: Question" in state["summary"]
    assert len(state["messages"]) < 40, "old messages must leave the checkpoint"
    facts = await store.asearch(memory.facts_namespace("C-123"), limit=100)
    assert len([f for f in facts if "paper statements" in f.value["fact"]]) == 30


async def test_a_tool_call_is_never_separated_from_its_result(sessions, store, fake_openai):
    session = None
    for turn in range(60):
        filler = " ".join(WORDS * 12)
        reply = await sessions.send("C-7", f"I prefer branch visits {turn}. {filler}", session, token_budget=1200)
        session = reply.session_id
    with_calls = [r for r in fake_openai.requests if any(m.get("tool_calls") for m in r["messages"])]
    assert with_calls, "the conversation must carry tool calls into later prompts"
    for request in fake_openai.requests:
        assert unpaired_tool_calls(request["messages"]) == []
    assert fake_openai.summary_requests(), "summaries must have run"


async def test_episode_and_facts_are_stored_once_even_when_a_turn_is_replayed(sessions, store):
    first = await sessions.send("C-5", "I prefer email contact. What are your savings rates?")
    await sessions.send("C-5", "And what about a mortgage?", first.session_id)
    graph, config = sessions.graph, {"configurable": {"thread_id": first.session_id}}
    history = [s async for s in graph.aget_state_history(config)]
    before_respond = next(s for s in history if s.next == ("respond",) and s.values.get("turns", 0) == 0)
    await graph.ainvoke(None, before_respond.config, context=Context(customer_id="C-5"))
    episodes = await store.asearch(memory.episodes_namespace("C-5"))
    facts = await store.asearch(memory.facts_namespace("C-5"))
    assert [e.key for e in episodes] == [first.session_id]
    assert episodes[0].value["topics"][:1] == ["savings"]
    assert [f.value["fact"] for f in facts] == ["I prefer email contact"]


async def test_first_turn_with_a_huge_memory_stays_within_budget(sessions, store, fake_openai):
    profile = {f"field_{i}": "x " * 50 for i in range(200)} | {"name": "Sarah Johnson"}
    writes = [memory.profile_put("C-8", profile)]
    writes += [memory.episode_put("C-8", {"session_id": f"e{i}", "started_at": f"2025-01-{i % 28 + 1:02d}",
                                          "updated_at": f"2025-{i % 12 + 1:02d}-01", "summary": "Long visit " * 40})
               for i in range(120)]
    await store.abatch(writes)
    await sessions.send("C-8", "Hello", token_budget=1500)
    request = fake_openai.chat_requests()[0]
    assert prompt_tokens(request) <= 1500
    assert "more not shown" in request["messages"][0]["content"]


@pytest.mark.parametrize("customer_id", ["", "C 1", "../C-1", "C-1'; DROP", "x" * 10_000, None])
async def test_malformed_customer_id_is_refused_before_anything_runs(sessions, fake_openai, customer_id):
    with pytest.raises(InvalidContext, match="invalid customer_id|customer_id is required"):
        await sessions.send(customer_id, "hello")
    assert fake_openai.requests == []


@pytest.mark.parametrize("message, problem", [
    ("", "empty"), ("   \n\t ", "empty"), ("\x00\x07", "empty"),
    ("word " * 20_000, "too long"), ("x" * 1_000_000, "too long"), ("bad \udcff bytes", "UTF-8"),
])
async def test_bad_messages_get_clear_errors_and_store_nothing(sessions, store, fake_openai, message, problem):
    first = await sessions.send("C-9", "Hello")
    with pytest.raises(InvalidMessage, match=problem):
        await sessions.send("C-9", message, first.session_id)
    state = (await sessions.graph.aget_state({"configurable": {"thread_id": first.session_id}})).values
    assert len(state["messages"]) == 2 and len(fake_openai.requests) == 1


async def test_the_graph_itself_refuses_an_oversized_message_and_keeps_state_bounded(model, store, fake_openai):
    graph = build_graph(model=model, checkpointer=InMemorySaver(), store=store)
    config = {"configurable": {"thread_id": "t"}}
    result = await graph.ainvoke({"messages": [HumanMessage("y " * 50_000)]}, config, context={"customer_id": "C-1"})
    assert "too long" in result["messages"][-1].content
    assert all(len(m.content) < 1000 for m in result["messages"]) and fake_openai.requests == []


async def test_control_characters_are_removed_before_the_model_sees_them(sessions, fake_openai):
    await sessions.send("C-3", "Hi\x00 there\x1b[31m")
    assert fake_openai.requests[0]["messages"][-1]["content"] == "Hi there[31m"


async def test_model_errors_are_retried_then_reported_without_losing_the_message(sessions, fake_openai):
    fake_openai.failures = [429, 503]
    assert "Hello" in (await sessions.send("C-4", "Hi")).text
    assert len(fake_openai.requests) == 3, "two failures, then the retried success"
    first = await sessions.send("C-4", "Hi again")
    fake_openai.failures = [500] * 3
    with pytest.raises(ModelUnavailable, match="500") as refused:
        await sessions.send("C-4", "What about my savings?", first.session_id)
    assert "sk-test" not in str(refused.value)
    assert await sessions.pending_turn("C-4", first.session_id)
    asked = len(fake_openai.requests)
    reply = await sessions.retry("C-4", first.session_id)
    assert reply.text.startswith("[offline model]") and len(fake_openai.requests) == asked + 1
    assert fake_openai.requests[-1]["messages"][-1]["content"] == "What about my savings?"
    state = (await sessions.graph.aget_state({"configurable": {"thread_id": first.session_id}})).values
    assert [m.content for m in state["messages"] if m.type == "human"] == ["Hi again", "What about my savings?"]
