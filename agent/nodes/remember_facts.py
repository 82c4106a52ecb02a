"""remember-facts: carry out the model's memory tool calls (learn, correct, forget facts)."""

from __future__ import annotations

from typing import get_args

from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from agent import facts, memory, memory_index
from agent.context import Context
from agent.errors import MemoryUnavailable
from agent.nodes import Turn
from agent.ownership import owned_writes
from agent.state import State
from agent.tokens import TokenCounter
from agent.tools import FactCategory, MAX_FACT_CHARS

CATEGORIES = set(get_args(FactCategory))
MAX_FACTS_PER_TURN = 5


def _one_line(value: object, limit: int) -> str:
    return " ".join(str(value or "").split())[:limit]


def make_remember_facts(counter: TokenCounter):
    async def remember_facts(state: State, config: RunnableConfig, runtime: Runtime[Context]) -> dict:
        turn = Turn.of(runtime, config, counter)
        try:
            _, index = await memory.bounded(memory_index.aindex(turn.store, turn.customer_id))
        except MemoryUnavailable:
            index = memory_index.peek(turn.store, turn.customer_id)
        writes, results, shown = [], [], state.get("fact_ids") or {}
        for position, call in enumerate(state["messages"][-1].tool_calls):
            args = call.get("args") or {}
            try:
                if position >= MAX_FACTS_PER_TURN:
                    raise ValueError("too many memory changes in one turn")
                if call["name"] == "forget_fact":
                    change = facts.forget(index, turn.customer_id, turn.thread_id, _one_line(args.get("id"), 40), shown)
                elif call["name"] == "remember_fact" and _one_line(args.get("fact"), 1):
                    category = args.get("category") if args.get("category") in CATEGORIES else "other"
                    change = facts.learn(
                        index, turn.customer_id, turn.thread_id, category,
                        _one_line(args.get("fact"), MAX_FACT_CHARS),
                        replaces=_one_line(args.get("replaces"), 40), subject=_one_line(args.get("subject"), 60),
                        shown=shown,
                    )
                else:
                    raise ValueError("nothing to remember")
            except (ValueError, facts.UnknownFact) as problem:
                results.append(ToolMessage(f"not done: {problem}", tool_call_id=call["id"], status="error"))
                continue
            writes += change.writes
            results.append(ToolMessage(change.result, tool_call_id=call["id"]))
        unsaved = await memory.awrite(turn.store, writes, owned_writes(turn.customer_id, state.get("unsaved_memory")))
        return {"messages": results, "unsaved_memory": unsaved}

    return remember_facts
