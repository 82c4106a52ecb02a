"""respond: the model answers from the customer's memory, the summary and the messages."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from agent.context import Context
from agent.errors import BudgetExceeded
from agent.models import call_model
from agent.nodes import Turn, newest_customer_index, prompt_of
from agent.privacy import with_notice
from agent.prompts import NO_ANSWER
from agent.state import State
from agent.tokens import TokenCounter
from agent.tools import MEMORY_TOOLS, TOOL_SCHEMAS


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
        return {"messages": [with_notice(bounded(reply, budget.reply_limit, counter, final=tools_used), messages)]}

    return respond


def bounded(reply: AIMessage, limit: int, counter: TokenCounter, *, final: bool) -> AIMessage:
    """The reply as the graph keeps it, whatever the model sent: its text cut to
    ``limit`` tokens, and, after the turn's one tool round (``final``), no tool
    calls, so a model that calls tools on every reply cannot loop."""
    text = reply.content if isinstance(reply.content, str) else reply.text
    if counter.text(text) > limit:
        text = counter.truncate(text, limit)
    elif text == reply.content and not (final and reply.tool_calls):
        return reply
    if final:
        return AIMessage(text or NO_ANSWER, id=reply.id, response_metadata=reply.response_metadata)
    return reply.model_copy(update={"content": text})


def route_after_respond(state: State) -> str:
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and last.tool_calls:
        return "remember-facts"
    return "record-episode"
