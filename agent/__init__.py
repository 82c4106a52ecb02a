"""A banking customer-service agent with short-term, long-term and episodic memory."""

from agent.graph import build_graph

__all__ = ["build_graph"]
