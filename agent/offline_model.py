"""A deterministic chat model that needs no network, clearly labelled offline.

It reads the same prompt a real model gets: the customer memory sections of
the system prompt (see ``agent.prompts``), the summary and the messages. So the
demo shows memory at work on a machine with no credentials: it greets the
customer by name, refers to past sessions and known facts, learns facts through
the ``remember_fact`` tool, and writes summaries and episode records.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool

from agent.prompts import (
    EPISODE_TASK, EPISODES_HEADING, FACTS_HEADING, MEMORY_UNAVAILABLE, PREVIOUS_SUMMARY_HEADING, PROFILE_HEADING,
    SPEAKERS, SUMMARIZE_TASK,
)
from agent.topics import describe, topics_in

LABEL = "[offline model] "

FACT_PATTERNS = [
    ("risk_tolerance", r"\bmy risk (?:tolerance|appetite) is ([^.!?\n]{2,60})"),
    ("risk_tolerance", r"\bi(?:'m| am) an? (conservative|moderate|aggressive|cautious) investor"),
    ("preference", r"\bi (?:prefer|like) ([^.!?\n]{3,80})"),
    ("product_interest", r"\bi(?:'m| am) interested in ([^.!?\n]{3,80})"),
    ("life_event", r"\bi(?:'m| am) (?:buying|saving for|planning) ([^.!?\n]{3,80})"),
]
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
FACT_ENTRY = re.compile(r'\[f\d+\] ([a-z_]+) ("(?:[^"\\]|\\.)*")')
RECALL = re.compile(r"last time|remember|talked about|previous", re.IGNORECASE)


class OfflineBankModel(BaseChatModel):
    """Rule-based stand-in for an OpenAI chat model; same inputs, no network."""

    model_name: str = "offline-bank-model"

    @property
    def _llm_type(self) -> str:
        return "offline-bank-model"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any):
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        system = messages[0].content if messages and isinstance(messages[0], SystemMessage) else ""
        if SUMMARIZE_TASK in system:
            reply = AIMessage(content=_extend_summary(system, messages[1:]))
        elif EPISODE_TASK in system:
            said = re.findall(rf"{SPEAKERS['human']}: ([^\n]*)", system)
            reply = AIMessage(content=describe(topics_in("\n".join(said))))
        else:
            reply = _answer(system, messages[1:], can_call_tools=bool(kwargs.get("tools")))
        return ChatResult(generations=[ChatGeneration(message=reply)])


def _section(system: str, heading: str) -> list[str]:
    match = re.search(rf"^{re.escape(heading)}[^\n]*\n((?:- [^\n]*\n?)*)", system, re.MULTILINE)
    return [line[2:] for line in match.group(1).splitlines()] if match else []


def _profile(system: str) -> dict[str, str]:
    pairs = [json.loads("{" + line + "}") for line in _section(system, PROFILE_HEADING) if line.startswith('"')]
    return {str(key).strip().lower(): str(value).strip() for pair in pairs for key, value in pair.items()}


def _facts(system: str) -> list[str]:
    """Known facts as "[category] text" (the prompt shows them as data: ``[f1] category "text"``)."""
    return [f"[{category}] {json.loads(text)}"
            for line in _section(system, FACTS_HEADING) for category, text in FACT_ENTRY.findall(line)]


def _episodes(system: str) -> list[str]:
    """Past sessions' records, newest day first."""
    return [json.loads(text) for line in _section(system, EPISODES_HEADING) for text in QUOTED.findall(line)]


def _learned_facts(text: str) -> list[tuple[str, str]]:
    found = []
    for category, pattern in FACT_PATTERNS:
        for match in re.finditer(pattern, text, re.IGNORECASE):
            found.append((category, match.group(0).strip()))
    return found


def _answer(system: str, messages: list[BaseMessage], *, can_call_tools: bool) -> AIMessage:
    customers = [m for m in messages if isinstance(m, HumanMessage)]
    question = str(customers[-1].content) if customers else ""
    if can_call_tools and not isinstance(messages[-1], ToolMessage):
        facts = _learned_facts(question)
        if facts:
            # Ids from the conversation so far, not random: the same conversation
            # gets the same prompts, token counts and summaries on every run.
            seen = "\n".join(str(m.content) for m in customers)
            calls = [
                {"name": "remember_fact", "args": {"category": c, "fact": f},
                 "id": "call_" + hashlib.sha256(f"{seen}\n{n}\n{f}".encode()).hexdigest()[:12]}
                for n, (c, f) in enumerate(facts)
            ]
            return AIMessage(content="", tool_calls=calls)
    profile = _profile(system)
    facts = _facts(system)
    episodes = _episodes(system)
    first_turn = not any(isinstance(m, AIMessage) and m.content for m in messages)
    parts = []
    if first_turn:
        name = profile.get("name", "").split(" ")[0]
        if "New customer, no prior history." in system:
            parts.append("Hello and welcome! I don't have any history with you yet.")
        else:
            parts.append(f"Hello {name}, good to see you again!" if name else "Hello again!")
            if episodes and not RECALL.search(question):
                parts.append(f"Our last conversation: {episodes[0]}")
    if MEMORY_UNAVAILABLE in system:
        parts.append("(Your history with us is temporarily unavailable, so I can't look it up right now.)")
    if isinstance(messages[-1], ToolMessage):
        parts.append("I've noted that for the future.")
    parts.append(_topic_reply(question, profile, facts, episodes))
    return AIMessage(content=LABEL + " ".join(parts))


def _mentioning(entries: list[str], word: str) -> list[str]:
    return [entry for entry in entries if word in entry.lower()]


def _topic_reply(question: str, profile: dict, facts: list[str], episodes: list[str]) -> str:
    text = question.lower()
    if re.search(r"\bc-\d+", text) or "another customer" in text or "other customer" in text:
        return "I can only discuss your own accounts and history."
    topics = topics_in(question)
    if "mortgage" in topics:
        earlier = _mentioning(episodes, "mortgage")
        if earlier:
            return f"About the mortgage: my records show {earlier[0]}. Shall I ask a mortgage advisor to call you with today's rates?"
        return "I don't see an earlier mortgage conversation; I can connect you with a mortgage advisor."
    if "investing" in topics:
        risk = profile.get("risk_tolerance") or profile.get("risk tolerance")
        risk_facts = [f for f in facts if f.startswith("[risk_tolerance]")]
        reply = "Happy to help you invest."
        if risk or risk_facts:
            reply += f" Your risk profile on file: {risk or risk_facts[0]}; so I'd suggest low-risk options."
        interests = _mentioning(facts + episodes, "cd")
        if interests:
            reply += f" You were interested in CDs before ({interests[0]}) — our 12-month CD may suit you."
        return reply
    if "account balance" in topics:
        return "For your security I can't read live balances here; the mobile app shows them in real time."
    if "a disputed charge" in topics:
        earlier = _mentioning(episodes, "disput")
        if earlier:
            return f"I see a previous dispute on record: {earlier[0]}. Is this a new charge?"
        return "I can open a dispute for that charge; which transaction is it?"
    if RECALL.search(text):
        if episodes:
            return "Here is what I have from our past sessions: " + "; ".join(episodes[:3]) + "."
        return "I don't have any earlier sessions with you on record."
    return "How can I help you today with your accounts, cards, loans or investments?"


def _extend_summary(system: str, messages: list[BaseMessage]) -> str:
    words = int(re.search(r"under\s+(\d+)\s+words", system).group(1))
    previous = system.split(f"{PREVIOUS_SUMMARY_HEADING}\n", 1)[-1].strip()
    bullets = [line for line in previous.splitlines() if line.startswith("- ")]
    transcript = messages[-1].content if messages else ""
    for line in str(transcript).splitlines():
        speaker, _, said = line.partition(": ")
        if said:
            bullets.append(f"- {speaker}: {' '.join(said.split()[:14])}")
    earlier = re.search(r"\((\d+) earlier points condensed\)", previous)
    condensed = int(earlier.group(1)) if earlier else 0
    while bullets and sum(len(b.split()) for b in bullets) > words - 8:
        bullets.pop(0)
        condensed += 1
    header = [f"({condensed} earlier points condensed)"] if condensed else []
    return "\n".join(header + bullets)
