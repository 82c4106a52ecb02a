"""Checks on what a customer sends, before anything reaches the model or the state."""

from __future__ import annotations

import re

from agent.budget import Budget
from agent.errors import InvalidMessage

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CHARS_PER_TOKEN_CEILING = 12  # no text needs more characters per token than this


def clean_message(content: object, budget: Budget) -> str:
    """The message text without control characters, or an ``InvalidMessage``
    that tells the customer what to change. Oversized messages are refused,
    not truncated, so the customer knows nothing was silently dropped."""
    if not isinstance(content, str):
        raise InvalidMessage("only plain-text messages are supported")
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMessage("the message is not valid UTF-8 text; please retype it") from None
    text = CONTROL_CHARACTERS.sub("", content).strip()
    if not text:
        raise InvalidMessage("the message is empty; please type your question")
    limit = budget.customer_message_limit
    if len(text) > limit * CHARS_PER_TOKEN_CEILING or budget.counter.text(text) > limit:
        raise InvalidMessage(
            f"the message is too long ({len(text):,} characters; the limit is about "
            f"{limit:,} tokens, roughly {limit * 3:,} characters); please shorten it "
            "or send it in parts"
        )
    return text
