"""Checkpointers (short-term, per-thread memory) chosen by URL.

>>> with connect("sqlite:///data/checkpoints.db") as saver: ...

Schemes: ``memory://``, ``sqlite:///path``, ``redis://`` and ``rediss://``;
more through the ``bank_agent.checkpointers`` entry-point group.

With ``BANK_AGENT_ENCRYPTION_KEY`` set, every back end is handed an encrypting
``serde`` here (see ``checkpointers.encryption``); a back end that cannot take
one fails rather than store conversations in clear.
"""

from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

from checkpointers.encryption import serializer_from_env
from backends.registry import SchemeRegistry, UnsupportedURL

registry = SchemeRegistry(
    kind="checkpointer",
    entry_point_group="bank_agent.checkpointers",
    builtins={
        "memory": "checkpointers.memory",
        "sqlite": "checkpointers.sqlite",
        "redis": "checkpointers.redis",
        "rediss": "checkpointers.redis",
    },
)


def connect(url: str, **options: Any) -> AbstractContextManager[Any]:
    """A sync saver for ``url``, encrypting if the environment asks for it."""
    return registry.connect(url, **_with_serde(options))


def aconnect(url: str, **options: Any) -> AbstractAsyncContextManager[Any]:
    """An async saver for ``url``, encrypting if the environment asks for it."""
    return registry.aconnect(url, **_with_serde(options))


def _with_serde(options: dict[str, Any]) -> dict[str, Any]:
    if "serde" in options:
        return options
    serde = serializer_from_env()
    return options if serde is None else {**options, "serde": serde}


__all__ = ["registry", "connect", "aconnect", "UnsupportedURL"]
