"""Session-wide real services: each starts once per pytest-xdist worker and is
shared by the tests that worker runs."""

import pytest
from langchain_openai import ChatOpenAI

from tests.support.fake_openai import FakeOpenAI
from backends.devservers import CosmosServer, RedisServer

pytest_plugins = ["tests.support.fixtures_redis", "tests.support.fixtures_cosmos", "tests.support.fixtures_e2e"]


def pytest_collection_modifyitems(items):
    """Tests marked ``long`` start first, so that with parallel workers the longest
    does not run last on one worker while the others are idle."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture(autouse=True)
def bank_agent_data_dir(tmp_path_factory, monkeypatch):
    """The default SQLite files of this test and of any CLI it spawns go to a
    directory of its own, never the user's data directory."""
    monkeypatch.setenv("BANK_AGENT_DATA_DIR", str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="session")
def redis_modules(tmp_path_factory):
    """Redis 8 with RedisJSON + RediSearch, like Redis Stack / Azure Managed Redis."""
    server = RedisServer(tmp_path_factory.mktemp("redis-modules"), modules=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_plain(tmp_path_factory):
    """The same Redis with no modules, like Azure Cache for Redis or Valkey."""
    server = RedisServer(tmp_path_factory.mktemp("redis-plain")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cosmos_server():
    """The Cosmos DB REST server (HTTPS, self-signed certificate)."""
    server = CosmosServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake_openai():
    """A local OpenAI-compatible endpoint that records every request."""
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def model(fake_openai):
    """The real ChatOpenAI client, pointed at the local endpoint."""
    return ChatOpenAI(model="gpt-4", base_url=fake_openai.base_url, api_key="sk-test", max_retries=2, timeout=10)
