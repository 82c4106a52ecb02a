"""The persistence `langgraph.json` and the CLI use, chosen by the environment."""

import pytest

from agent import memory, persistence
from backends.registry import UnsupportedURL


async def test_store_url_with_embeddings_gives_semantic_search_on_cosmos(cosmos_url, fake_openai, monkeypatch):
    monkeypatch.setenv("STORE_URL", cosmos_url)
    monkeypatch.setenv("STORE_EMBEDDINGS", "text-embedding-3-small")
    monkeypatch.setenv("STORE_EMBEDDING_DIMS", "16")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    async with persistence.store() as store:
        await store.abatch([
            memory.fact_put("C-1", "preference", "prefers paper statements by post", "s-1"),
            memory.fact_put("C-1", "product_interest", "interested in a fixed rate mortgage", "s-1"),
        ])
        found = await store.asearch(memory.facts_namespace("C-1"), query="mortgage fixed rate", limit=1)
    assert [item.value["fact"] for item in found] == ["interested in a fixed rate mortgage"]
    assert found[0].score is not None


@pytest.mark.parametrize("url", ["sqlite://", "sqlite://host/x.db", "cosmos", "", "mongo://h/db"])
async def test_malformed_or_unknown_urls_name_the_supported_schemes(monkeypatch, url):
    monkeypatch.setenv("CHECKPOINTER_URL", url or "nothing")
    with pytest.raises(UnsupportedURL, match="memory, redis, rediss, sqlite|sqlite:///"):
        async with persistence.checkpointer():
            pass


async def test_the_embedded_default_is_sqlite_files_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("CHECKPOINTER_URL", raising=False)
    monkeypatch.delenv("STORE_URL", raising=False)
    monkeypatch.setenv("BANK_AGENT_DATA_DIR", str(tmp_path / "data"))
    async with persistence.open_memory() as (saver, store):
        await store.aput(("customers", "C-1", "profile"), "profile", {"name": "Ana"})
    assert sorted(p.name for p in (tmp_path / "data").iterdir())[:2] == ["checkpoints.db", "store.db"]


def test_third_parties_add_schemes_through_entry_points(tmp_path, monkeypatch):
    import stores

    (tmp_path / "vault_store.py").write_text(
        "from contextlib import contextmanager\n"
        "from langgraph.store.memory import InMemoryStore\n"
        "@contextmanager\n"
        "def connect(url, **options):\n"
        "    yield InMemoryStore()\n"
        "def aconnect(url, **options):\n"
        "    raise NotImplementedError\n"
    )
    dist = tmp_path / "vault_store-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vault-store\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[bank_agent.stores]\nvault = vault_store\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "vault" in stores.registry.schemes()
    with stores.connect("vault://anything") as store:
        store.put(("customers", "C-1", "profile"), "profile", {"name": "Ana"})
        assert store.get(("customers", "C-1", "profile"), "profile").value == {"name": "Ana"}


async def test_replicas_starting_together_on_a_fresh_cosmos_account_all_connect(cosmos_url):
    import asyncio

    import stores

    async def start_replica(number: int) -> None:
        async with stores.aconnect(cosmos_url) as store:
            await store.aput(("customers", f"C-{number}", "profile"), "profile", {"replica": number})

    await asyncio.gather(*(start_replica(n) for n in range(6)))
    async with stores.aconnect(cosmos_url) as store:
        names = await store.alist_namespaces(prefix=("customers",))
    assert len(names) == 6
