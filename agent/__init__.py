"""A banking customer-service agent with short-term, long-term and episodic memory.

``from agent import build_graph`` is the entry point. Importing the package
builds nothing and reads no setting: the graph module loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.graph import build_graph

__all__ = ["build_graph"]


def __getattr__(name: str) -> Any:
    if name == "build_graph":
        from agent.graph import build_graph

        return build_graph
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
