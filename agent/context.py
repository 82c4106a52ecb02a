"""Per-run settings, given as LangGraph runtime context (a form in Studio)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields

from agent import settings
from agent.errors import InvalidContext

CUSTOMER_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MIN_TOKEN_BUDGET = 1024
MAX_TOKEN_BUDGET = 1_000_000


def validate_customer_id(customer_id: object) -> str:
    """The customer id if it is 1-64 letters, digits, '-' or '_' (starting
    alphanumeric); an InvalidContext naming the rule otherwise."""
    if customer_id is None or customer_id == "":
        raise InvalidContext("customer_id is required (e.g. C-123)")
    if not isinstance(customer_id, str) or not CUSTOMER_ID_PATTERN.fullmatch(customer_id):
        shown = repr(customer_id)[:40] + ("..." if len(repr(customer_id)) > 40 else "")
        raise InvalidContext(
            f"invalid customer_id {shown}: use 1-64 letters, digits, '-' or '_', "
            "starting with a letter or digit (e.g. C-123)"
        )
    return customer_id


@dataclass(frozen=True, init=False)
class Context:
    """Who the agent is serving in this run, and how large its prompts may be."""

    customer_id: str = field(
        default="",
        metadata={"description": "The bank customer's id, e.g. C-123 (required)."},
    )
    token_budget: int | None = field(
        default=None,
        metadata={
            "description": "Most tokens any model prompt may hold "
            f"(default: TOKEN_BUDGET or 8000; at least {MIN_TOKEN_BUDGET})."
        },
    )

    def __init__(self, customer_id: str = "", token_budget: int | None = None, **unknown: object) -> None:
        if unknown:
            known = ", ".join(f.name for f in fields(self))
            raise InvalidContext(f"unknown run context key(s) {', '.join(sorted(map(repr, unknown)))[:120]}: "
                                 f"the context takes {known}")
        if token_budget is None:
            token_budget = settings.token_budget()
        object.__setattr__(self, "customer_id", validate_customer_id(customer_id))
        object.__setattr__(self, "token_budget", token_budget)
        if (
            isinstance(self.token_budget, bool)
            or not isinstance(self.token_budget, int)
            or not MIN_TOKEN_BUDGET <= self.token_budget <= MAX_TOKEN_BUDGET
        ):
            raise InvalidContext(
                f"token_budget must be an integer from {MIN_TOKEN_BUDGET} to "
                f"{MAX_TOKEN_BUDGET}, got {self.token_budget!r}"
            )
