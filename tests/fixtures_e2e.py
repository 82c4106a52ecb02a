"""Fixtures for the end-to-end session tests: agent processes on Redis + Cosmos DB."""
