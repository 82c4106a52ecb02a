"""load-context: check the customer's message and bring their memory into the prompt."""

from __future__ import annotations

import uuid

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, RemoveMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from agent import memory
from agent.context import Context
from agent.errors import InvalidMessage, MemoryUnavailable
from agent.guard import clean_message
from agent.nodes import Turn
from agent.state import State
from agent.tokens import TokenCounter

NEXT = "summarize-if-over-token-budget"


def this_turns_messages(state: State) -> list[BaseMessage]:
    """The messages this run added: those after the last finished turn's final
    message (after the last answer, for threads older than that marker)."""
    messages = state["messages"]
    ids = [message.id for message in messages]
    if state.get("answered_through") in ids:
        return messages[ids.index(state["answered_through"]) + 1:]
    answers = [i for i, message in enumerate(messages) if isinstance(message, AIMessage)]
    return messages[answers[-1] + 1:] if answers else messages


def make_load_context(counter: TokenCounter):
    async def load_context(state: State, config: RunnableConfig, runtime: Runtime[Context]) -> Command:
        turn = Turn.begin(state, runtime, config, counter)
        new = this_turns_messages(state)
        try:
            if state.get("ended"):
                raise InvalidMessage("this session has ended; please start a new one")
            if len(new) != 1 or not isinstance(new[0], HumanMessage):
                raise InvalidMessage("a turn takes exactly one customer message")
            latest = new[0]
            text = clean_message(latest.content, turn.budget)
        except InvalidMessage as problem:
            # Whatever the run brought in is taken out again: a refused turn
            # leaves no system or forged message in the thread.
            refusal = AIMessage(f"Sorry, I can't answer that: {problem}.", id=str(uuid.uuid4()))
            removal = [RemoveMessage(id=message.id) for message in new]
            return Command(goto=END, update={
                "messages": [*removal, refusal], "customer_id": turn.customer_id, "answered_through": refusal.id,
            })
        try:
            query = memory.recall_query(state["messages"][:-1], text)
            known = await memory.arecall(turn.store, turn.customer_id, query, skip_episode=turn.thread_id)
        except MemoryUnavailable:
            known = None
        section = memory.render(known, counter, turn.budget.memory_limit)
        update = {
            "customer_id": turn.customer_id,
            "started_at": state.get("started_at") or memory.now_iso(),
            "memory": section.text,
            "fact_ids": section.fact_ids,
        }
        if text != latest.content:
            update["messages"] = [HumanMessage(text, id=latest.id)]
        return Command(goto=NEXT, update=update)

    return load_context
