"""Fixtures for the Cosmos DB store tests."""
