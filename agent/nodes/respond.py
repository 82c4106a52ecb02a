"""respond: the model answers from the customer's memory, the summary and the messages."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from agent.budget import TOOL_SCHEMAS
from agent.context import Context
from agent.models import call_model
from agent.nodes import Turn, newest_customer_index, prompt_of
from agent.privacy import with_notice
from agent.state import State
from agent.tokens import TokenCounter
from agent.tools import MEMORY_TOOLS


class BudgetExceeded(RuntimeError):
    """A prompt would exceed the token budget (a bug: summarising prevents it)."""


def make_respond(model: BaseChatModel, counter: TokenCounter):
    with_tools = model.bind_tools(list(MEMORY_TOOLS))

    async def respond(state: State, config: RunnableConfig, runtime: Runtime[Context]) -> dict:
        budget = Turn.of(runtime, config, counter).budget
        messages = state["messages"]
        # One round of fact-remembering per turn: after it, the model must answer.
        tools_used = any(isinstance(m, ToolMessage) for m in messages[newest_customer_index(messages):])
        prompt = prompt_of(state)
        tokens = counter.messages(prompt, () if tools_used else TOOL_SCHEMAS)
        if tokens > budget.total:
            raise BudgetExceeded(f"prompt of {tokens} tokens exceeds the budget of {budget.total}")
        runnable = (model if tools_used else with_tools).bind(max_tokens=budget.reply_limit)
        reply = await call_model(runnable, prompt)
        return {"messages": [with_notice(reply, messages)]}

    return respond


def route_after_respond(state: State) -> str:
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and last.tool_calls:
        return "remember-facts"
    return "record-episode"
