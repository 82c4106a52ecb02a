"""The graph's nodes, one module each, and what they share about a run."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore

from agent.budget import Budget, budget_for
from agent.context import Context
from agent.errors import InvalidContext, SessionOwnershipError
from agent.prompts import NO_SUMMARY, SYSTEM
from agent.state import State
from agent.store_circuit import begin_turn
from agent.tokens import TokenCounter

END_SESSION = "end-session"
"""The node a run goes to with ``Command(goto=END_SESSION)`` to end the session."""


@dataclass(frozen=True)
class Turn:
    """Everything a node needs to know about the run it is part of."""

    customer_id: str
    thread_id: str
    budget: Budget
    store: BaseStore

    @classmethod
    def of(cls, runtime: Runtime[Context], config: RunnableConfig, counter: TokenCounter) -> "Turn":
        context = runtime.context
        if not isinstance(context, Context):
            raise InvalidContext("customer_id is required in the run's context")
        if runtime.store is None:
            raise RuntimeError("the graph needs a store: pass store= to build_graph")
        thread_id = (config.get("configurable") or {}).get("thread_id")
        if not thread_id:
            raise InvalidContext("a session (thread_id) is required to run the agent")
        return cls(context.customer_id, str(thread_id), budget_for(context.token_budget, counter), runtime.store)

    @classmethod
    def begin(cls, state: State, runtime: Runtime[Context], config: RunnableConfig, counter: TokenCounter) -> "Turn":
        """``of``, for the run's first node: the session's store circuit is
        reset and the session must belong to the run's customer."""
        turn = cls.of(runtime, config, counter)
        begin_turn(turn.thread_id)
        owner = state.get("customer_id")
        if owner and owner != turn.customer_id:
            raise SessionOwnershipError("this session belongs to another customer")
        return turn


def system_prompt(state: State) -> SystemMessage:
    return SystemMessage(SYSTEM.format(memory=state.get("memory", ""), summary=state.get("summary") or NO_SUMMARY))


def prompt_of(state: State) -> list[BaseMessage]:
    """Exactly what the model receives to answer: system prompt, then messages."""
    return [system_prompt(state), *state["messages"]]


def newest_customer_index(messages: list[BaseMessage]) -> int:
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], HumanMessage):
            return index
    return len(messages)
