"""The conversation state kept by the checkpointer for each session (thread).

A run's input is ``InputState``: the customer's message and nothing else, so
no caller can set the owner, the summary, the deferred memory writes or the
ended flag; every other field is written only by the graph's nodes.
"""

from __future__ import annotations

from typing import Annotated

from langchain_core.messages import AnyMessage
from langgraph.graph import MessagesState

from agent.privacy import add_masked_messages


class Conversation(MessagesState):
    """The ``messages`` channel, card numbers and secrets masked as they arrive
    (``agent.privacy``). Every schema of the graph (state, input, output) must
    declare ``messages`` this way: LangGraph refuses one channel with two reducers."""

    messages: Annotated[list[AnyMessage], add_masked_messages]


class InputState(Conversation):
    """What a run takes: one customer (human) message in ``messages``."""


class OutputState(Conversation, total=False):
    """What a run returns: the conversation, ending with the agent's answer."""

    turns: int
    """Completed customer turns in this session."""
    episode: dict
    """The session's episode as written when it ended (end-session)."""


class State(Conversation, total=False):
    """Messages since the last summarisation, plus what frames them."""

    customer_id: str
    """The customer who started the session; no one else may continue it."""
    started_at: str
    """ISO time of the session's first turn (the episode's start)."""
    summary: str
    """Running summary of the messages already folded out of ``messages``."""
    memory: str
    """The customer's long-term memory as rendered into this turn's prompt."""
    fact_ids: dict[str, str]
    """The ids this turn's memory shows for facts (``f1`` ...) -> their keys in the store."""
    turns: int
    """Completed customer turns in this session."""
    topics: list[str]
    """Banking topics the customer raised this session (for the episode)."""
    ended: bool
    """Set when the session is closed; it then takes no more turns."""
    episode: dict
    """The session's episode as written when it ended (end-session)."""
    unsaved_memory: list[dict]
    """Long-term memory writes the store could not take yet; retried every turn."""
    answered_through: str
    """Id of the last message of the last finished turn: what follows it is the new input."""
