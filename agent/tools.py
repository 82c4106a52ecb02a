"""The tools the model uses to keep the customer's facts true: learn, correct, forget."""

from typing import Literal

from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool

FactCategory = Literal["preference", "risk_tolerance", "product_interest", "life_event", "other"]
MAX_FACT_CHARS = 300


@tool
def remember_fact(category: FactCategory, fact: str, replaces: str = "", subject: str = "") -> str:
    """Remember a lasting fact the customer told you about themselves, in one short sentence
    (replaces: the id, e.g. f3, of a known fact it corrects; subject: what it is about in a
    word or two, e.g. "home city", so a later fact on the same subject replaces it)."""
    # Executed by the graph's remember-facts node, which writes to the store.
    return "remembered"


@tool
def forget_fact(id: str) -> str:
    """Forget a known fact, by its id (e.g. f3)."""
    return "forgotten"


MEMORY_TOOLS = (remember_fact, forget_fact)
TOOL_SCHEMAS = tuple(convert_to_openai_tool(memory_tool) for memory_tool in MEMORY_TOOLS)
"""The tools as the model receives them (counted in every prompt that offers them)."""
