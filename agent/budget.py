"""How a turn's token budget is shared out, so no model prompt exceeds it.

Of the budget, the customer memory may take ``MEMORY_SHARE`` and the running
summary ``SUMMARY_SHARE``; the fixed instructions and tool schemas are counted
exactly; the messages get the rest. A single customer message may use the
message share less room for one round of tool calls, so the newest message
always fits, however much history there is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

from langchain_core.messages import SystemMessage

from agent.prompts import SYSTEM
from agent.tokens import TokenCounter
from agent.tools import TOOL_SCHEMAS

MEMORY_SHARE = 0.30
SUMMARY_SHARE = 0.15
TOOL_ROUND_SHARE = 0.08
REPLY_SHARE = 0.125
MAX_REPLY_TOKENS = 1024


@dataclass(frozen=True)
class Budget:
    """The token limits of one run, derived from its ``token_budget``."""

    total: int
    counter: TokenCounter

    @cached_property
    def fixed(self) -> int:
        """Instructions, tool schemas and message framing: present in every prompt."""
        empty = SystemMessage(SYSTEM.format(memory="", summary=""))
        return self.counter.messages([empty], TOOL_SCHEMAS)

    @property
    def memory_limit(self) -> int:
        return int(self.total * MEMORY_SHARE)

    @property
    def summary_limit(self) -> int:
        return int(self.total * SUMMARY_SHARE)

    @property
    def summary_words(self) -> int:
        return int(self.summary_limit * 0.6)

    @property
    def messages_limit(self) -> int:
        return self.total - self.fixed - self.memory_limit - self.summary_limit

    @property
    def customer_message_limit(self) -> int:
        """The largest customer message accepted, in tokens."""
        return self.messages_limit - int(self.total * TOOL_ROUND_SHARE)

    @property
    def reply_limit(self) -> int:
        """``max_tokens`` for the model's answers."""
        return min(MAX_REPLY_TOKENS, int(self.total * REPLY_SHARE))


@lru_cache(maxsize=64)
def budget_for(total: int, counter: TokenCounter) -> Budget:
    return Budget(total, counter)
