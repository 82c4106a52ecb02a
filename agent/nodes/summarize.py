"""summarize-if-over-token-budget: fold older messages into the running summary.

Runs before every model answer. When the next prompt would exceed the budget,
the oldest messages are folded into the summary by the model (which extends
the previous summary) and removed from the state, until the messages use at
most half their share, so summarising is rare rather than every turn. A tool
call is never separated from its results and the newest customer message is
always kept.
"""

from __future__ import annotations

import json

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from agent.budget import Budget
from agent.context import Context
from agent.models import call_model
from agent.nodes import Turn, newest_customer_index, prompt_of
from agent.prompts import NO_SUMMARY, SPEAKERS, SUMMARIZE, TRANSCRIPT_HEADING
from agent.state import State
from agent.tokens import TokenCounter, message_text
from agent.tools import TOOL_SCHEMAS



def fold_point(messages: list[BaseMessage], budget: Budget) -> int:
    """How many of the oldest messages to fold so the rest fit in half the
    message share, moved forward past tool results so a call and its results
    are folded together."""
    keep_at_most = budget.messages_limit // 2
    newest = newest_customer_index(messages)
    kept = budget.counter.messages(messages[newest:]) 
    cut = newest
    while cut > 0:
        cost = budget.counter.messages([messages[cut - 1]]) - budget.counter.messages([])
        if kept + cost > keep_at_most:
            break
        kept, cut = kept + cost, cut - 1
    while cut < newest and isinstance(messages[cut], ToolMessage):
        cut += 1
    return cut


def transcript_lines(messages: list[BaseMessage]) -> list[str]:
    """One line per message for the summariser: what was said, and what the
    assistant chose to remember, without protocol ids."""
    lines = []
    for message in messages:
        text = message.content if isinstance(message.content, str) else message_text(message)
        for call in getattr(message, "tool_calls", None) or []:
            text += f" [{call['name']}: {json.dumps(call['args'], ensure_ascii=False)}]"
        lines.append(f"{SPEAKERS.get(message.type, message.type)}: {' '.join(text.split())}")
    return lines


async def extend_summary(model: BaseChatModel, budget: Budget, summary: str, messages: list[BaseMessage]) -> str:
    """The summary extended with ``messages``, in as many model calls as it
    takes to keep every summarisation prompt within the budget."""
    pending = transcript_lines(messages)
    while pending:
        instructions = SystemMessage(SUMMARIZE.format(words=budget.summary_words, summary=summary or NO_SUMMARY))
        room = budget.total - budget.counter.messages([instructions, HumanMessage(TRANSCRIPT_HEADING)]) - 8
        chunk: list[str] = []
        while pending:
            line = budget.counter.truncate(pending[0], room)
            if chunk and budget.counter.text("\n".join([*chunk, line])) > room:
                break
            chunk.append(line)
            pending.pop(0)
        prompt = [instructions, HumanMessage("\n".join([TRANSCRIPT_HEADING, *chunk]))]
        reply = await call_model(model.bind(max_tokens=budget.summary_limit), prompt)
        summary = budget.counter.truncate(str(reply.content).strip(), budget.summary_limit)
    return summary


def make_summarize(model: BaseChatModel, counter: TokenCounter):
    async def summarize_if_over_token_budget(state: State, config: RunnableConfig, runtime: Runtime[Context]) -> dict:
        budget = Turn.of(runtime, config, counter).budget
        if counter.messages(prompt_of(state), TOOL_SCHEMAS) <= budget.total:
            return {}
        messages = state["messages"]
        cut = fold_point(messages, budget)
        if cut == 0:
            return {}
        summary = await extend_summary(model, budget, state.get("summary", ""), messages[:cut])
        return {"summary": summary, "messages": [RemoveMessage(id=m.id) for m in messages[:cut]]}

    return summarize_if_over_token_budget
