"""Session-wide real services: each starts once and is shared by the suite."""

import warnings

import pytest
from urllib3.exceptions import InsecureRequestWarning

from tests.services import CosmosServer, RedisServer

pytest_plugins = ["tests.fixtures_redis", "tests.fixtures_cosmos", "tests.fixtures_e2e"]

# The test Cosmos DB server uses a self-signed certificate (cosmos://...?tls=insecure).
warnings.filterwarnings("ignore", category=InsecureRequestWarning)


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
