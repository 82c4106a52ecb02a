"""Parsing of redis:// checkpointer URLs and their keyword overrides."""

import sys
import time
import types

import pytest

from checkpointers.redis.options import ENTRA_SCOPE, EntraIdCredentials, RedisOptions
from backends.registry import UnsupportedURL


def test_url_options_and_keyword_overrides():
    options = RedisOptions.parse(
        "redis://:s%40cret@cache.example:6390/2?ttl=30&mode=plain&prefix=bank", {"ttl": "1.5"}
    )
    assert (options.host, options.port, options.db) == ("cache.example", 6390, 2)
    assert options.password == "s@cret" and not options.tls and not options.entra
    assert (options.mode, options.ttl, options.prefix) == ("plain", 1.5, "bank")
    kwargs = options.client_kwargs()
    assert kwargs["password"] == "s@cret"
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (5.0, 10.0)


def test_azure_access_key_over_tls():
    options = RedisOptions.parse("rediss://:key=@bank.redis.cache.windows.net:6380", {})
    kwargs = options.client_kwargs()
    assert kwargs["ssl"] is True and kwargs["port"] == 6380 and kwargs["password"] == "key="
    assert options.mode == "auto" and options.ttl is None


def test_entra_id_token_for_a_username_without_password(monkeypatch):
    requested = []

    class FakeCredential:
        def get_token(self, scope):
            requested.append(scope)
            return types.SimpleNamespace(token="entra-token", expires_on=time.time() + 3600)

    monkeypatch.setitem(sys.modules, "azure.identity",
                        types.SimpleNamespace(DefaultAzureCredential=FakeCredential))
    options = RedisOptions.parse("rediss://0000-object-id@bank.redis.azure.net:10000", {})
    provider = options.client_kwargs()["credential_provider"]
    assert isinstance(provider, EntraIdCredentials)
    assert provider.get_credentials() == ("0000-object-id", "entra-token")
    assert provider.get_credentials() == ("0000-object-id", "entra-token")
    assert requested == [ENTRA_SCOPE]  # the token is cached until near expiry


@pytest.mark.parametrize("url, complaint", [
    ("redis://:pw@host?mode=fast", "mode must be one of"),
    ("redis://:pw@host?colour=blue", "unknown Redis checkpointer option 'colour'"),
    ("redis://:pw@/0", "malformed Redis URL"),
])
def test_bad_urls_are_named_without_password(url, complaint):
    with pytest.raises(UnsupportedURL) as raised:
        RedisOptions.parse(url, {})
    assert complaint in str(raised.value) and ":pw@" not in str(raised.value)
