"""A banking customer-service agent with short-term, long-term and episodic memory."""

from agent.graph import build_graph
from agent.privacy import mask_logs

mask_logs()  # card numbers and secrets never reach a log, whoever logs them

__all__ = ["build_graph"]
