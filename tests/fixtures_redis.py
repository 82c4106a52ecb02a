"""Fixtures for the Redis checkpointer tests (cluster, per-test clean state)."""
