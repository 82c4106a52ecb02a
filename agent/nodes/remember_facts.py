"""remember-facts: store the facts the model chose to remember (its tool calls)."""

from __future__ import annotations

from typing import get_args

from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from agent import memory
from agent.context import Context
from agent.nodes import Turn
from agent.ownership import owned_writes
from agent.state import State
from agent.tokens import TokenCounter
from agent.tools import MAX_FACT_CHARS, FactCategory

CATEGORIES = set(get_args(FactCategory))
MAX_FACTS_PER_TURN = 5


def make_remember_facts(counter: TokenCounter):
    async def remember_facts(state: State, config: RunnableConfig, runtime: Runtime[Context]) -> dict:
        turn = Turn.of(runtime, config, counter)
        writes, results = [], []
        for index, call in enumerate(state["messages"][-1].tool_calls):
            args = call.get("args") or {}
            fact = " ".join(str(args.get("fact", "")).split())[:MAX_FACT_CHARS]
            if call["name"] != "remember_fact" or not fact or index >= MAX_FACTS_PER_TURN:
                results.append(ToolMessage("not remembered", tool_call_id=call["id"], status="error"))
                continue
            category = args.get("category") if args.get("category") in CATEGORIES else "other"
            writes.append(memory.fact_put(turn.customer_id, category, fact, turn.thread_id))
            results.append(ToolMessage("remembered", tool_call_id=call["id"]))
        unsaved = await memory.awrite(turn.store, writes, owned_writes(turn.customer_id, state.get("unsaved_memory")))
        return {"messages": results, "unsaved_memory": unsaved}

    return remember_facts
