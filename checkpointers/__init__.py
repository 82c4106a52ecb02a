"""Checkpointers (short-term, per-thread memory) chosen by URL.

>>> with connect("sqlite:///data/checkpoints.db") as saver: ...

Schemes: ``memory://``, ``sqlite:///path``, ``redis://`` and ``rediss://``;
more through the ``bank_agent.checkpointers`` entry-point group.
"""

from plugin_registry import SchemeRegistry, UnsupportedURL

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
connect = registry.connect
aconnect = registry.aconnect

__all__ = ["registry", "connect", "aconnect", "UnsupportedURL"]
