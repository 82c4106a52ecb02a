"""The tool the model uses to leave learned facts in long-term memory."""

from typing import Literal

from langchain_core.tools import tool

FactCategory = Literal["preference", "risk_tolerance", "product_interest", "life_event", "other"]
MAX_FACT_CHARS = 300


@tool
def remember_fact(category: FactCategory, fact: str) -> str:
    """Remember a lasting fact the customer told you about themselves, in one short sentence."""
    # Executed by the graph's remember-facts node, which writes to the store.
    return "remembered"
