"""Banking topics recognised in a customer's words, without a model call.

Used to keep a session's episode current on every turn for free; the model
writes the final episode sentence once, when the session ends.
"""

from __future__ import annotations

import re

TOPICS: dict[str, str] = {
    "account balance": r"\bbalance\b",
    "investing": r"\binvest",
    "mortgage": r"\bmortgage",
    "certificates of deposit": r"\bcds?\b|certificates? of deposit",
    "a disputed charge": r"\bdisput|\bcharge ?back|unauthori[sz]ed charge|\brefund",
    "cards": r"\b(credit|debit) card|\bcard\b",
    "loans": r"\bloan",
    "transfers": r"\btransfer|\bwire\b",
    "savings": r"\bsavings?\b",
    "fees": r"\bfees?\b",
    "fraud": r"\bfraud|\bscam",
}
_COMPILED = {topic: re.compile(pattern, re.IGNORECASE) for topic, pattern in TOPICS.items()}


def topics_in(text: str) -> list[str]:
    """The known topics mentioned in ``text``, in catalogue order."""
    return [topic for topic, pattern in _COMPILED.items() if pattern.search(text)]


def describe(topics: list[str]) -> str:
    """A one-line episode description of a session's topics."""
    if not topics:
        return "General enquiry."
    return "Asked about " + ", ".join(topics) + "."
