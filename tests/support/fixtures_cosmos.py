"""Fixtures for the Cosmos DB store tests: a fresh database per test on the
session's Cosmos DB server, a fault-injecting proxy in front of it, and a
deterministic embedding model."""

import hashlib
import math
import uuid

import pytest
from langchain_core.embeddings import Embeddings

from tests.support.fault_proxy import FaultProxy

TEST_KEY = "dGVzdC1rZXk="  # the open server accepts any base64 key


class WordHashEmbeddings(Embeddings):
    """Bag-of-words vectors from word hashes: texts sharing words score closer,
    with no model download."""

    def __init__(self, dims: int = 16) -> None:
        self.dims = dims

    def embed_query(self, text: str) -> list[float]:
        vector = [0.0] * self.dims
        for word in text.lower().split():
            digest = hashlib.sha256(word.encode()).digest()
            vector[digest[0] % self.dims] += 1.0 + digest[1] / 255
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        return [x / norm for x in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]


@pytest.fixture
def cosmos_key(monkeypatch):
    monkeypatch.setenv("COSMOS_KEY", TEST_KEY)
    monkeypatch.delenv("COSMOS_CONNECTION_STRING", raising=False)
    return TEST_KEY


@pytest.fixture
def cosmos_url(cosmos_server, cosmos_key):
    """A store URL naming a database no other test uses."""
    return f"{cosmos_server.url}/db-{uuid.uuid4().hex[:12]}/memory?tls=insecure"


@pytest.fixture
def embeddings():
    return WordHashEmbeddings()


@pytest.fixture(scope="session")
def fault_proxy_server(cosmos_server):
    proxy = FaultProxy(cosmos_server.port).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def fault_proxy(fault_proxy_server):
    """The session's fault-injecting proxy in front of the Cosmos DB server,
    with no fault armed and nothing seen yet."""
    fault_proxy_server.reset()
    yield fault_proxy_server
    fault_proxy_server.reset()
