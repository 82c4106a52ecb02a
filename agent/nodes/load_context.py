"""load-context: check the customer's message and bring their memory into the prompt."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from agent import memory
from agent.context import Context
from agent.guard import InvalidMessage, clean_message
from agent.nodes import SessionOwnershipError, Turn
from agent.state import State
from agent.tokens import TokenCounter

NEXT = "summarize-if-over-token-budget"


def make_load_context(counter: TokenCounter):
    async def load_context(state: State, config: RunnableConfig, runtime: Runtime[Context]) -> Command:
        turn = Turn.of(runtime, config, counter)
        owner = state.get("customer_id")
        if owner and owner != turn.customer_id:
            raise SessionOwnershipError("this session belongs to another customer")
        latest = state["messages"][-1] if state["messages"] else None
        try:
            if state.get("ended"):
                raise InvalidMessage("this session has ended; please start a new one")
            if not isinstance(latest, HumanMessage):
                raise InvalidMessage("there is no customer message to answer")
            text = clean_message(latest.content, turn.budget)
        except InvalidMessage as problem:
            refusal = AIMessage(f"Sorry, I can't answer that: {problem}.")
            removal = [RemoveMessage(id=latest.id)] if latest is not None else []
            return Command(goto=END, update={"messages": [*removal, refusal]})
        try:
            query = memory.recall_query(state["messages"][:-1], text)
            known = await memory.arecall(turn.store, turn.customer_id, query, skip_episode=turn.thread_id)
        except memory.MemoryUnavailable:
            known = None
        update = {
            "customer_id": turn.customer_id,
            "started_at": state.get("started_at") or memory.now_iso(),
            "memory": memory.render(known, counter, turn.budget.memory_limit),
        }
        if text != latest.content:
            update["messages"] = [HumanMessage(text, id=latest.id)]
        return Command(goto=NEXT, update=update)

    return load_context
