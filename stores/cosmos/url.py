"""``cosmos://HOST[:PORT]/DATABASE/CONTAINER?options`` and the credentials to
connect with, which come from the environment, never from the URL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from langgraph.store.base import IndexConfig

from backends.registry import UnsupportedURL, redact
from stores.cosmos.bootstrap import ContainerSpec


@dataclass(frozen=True)
class CosmosURL:
    endpoint: str
    database: str
    container: str
    verify_tls: bool
    partition_depth: int
    create: bool | None = None  # None: only with an account key (Entra ID cannot create)
    vector_index: str = "quantizedFlat"
    hybrid: bool = False

    @classmethod
    def parse(cls, url: str) -> "CosmosURL":
        parts = urlsplit(url)
        path = [p for p in parts.path.split("/") if p]
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.scheme.lower() != "cosmos" or not parts.hostname or len(path) != 2:
            raise UnsupportedURL(
                f"malformed Cosmos DB URL {redact(url)!r}: expected cosmos://HOST[:PORT]/DATABASE/CONTAINER"
            )
        if parts.password or parts.username:
            raise UnsupportedURL("Cosmos DB credentials go in COSMOS_KEY or COSMOS_CONNECTION_STRING, not the URL")
        depth = options.get("partition_depth", "2")
        if not depth.isdigit() or int(depth) < 1:
            raise UnsupportedURL(f"partition_depth must be a positive integer in {redact(url)!r}")
        create, search = options.get("create"), options.get("search", "vector")
        if create not in (None, "if-missing", "never"):
            raise UnsupportedURL(f"create must be if-missing or never in {redact(url)!r}")
        if search not in ("vector", "hybrid"):
            raise UnsupportedURL(f"search must be vector or hybrid in {redact(url)!r}")
        port = f":{parts.port}" if parts.port else ""
        return cls(f"https://{parts.hostname}{port}/", path[0], path[1],
                   options.get("tls") != "insecure", int(depth),
                   None if create is None else create == "if-missing",
                   options.get("vector_index", "quantizedFlat"), search == "hybrid")

    def spec(self, index: IndexConfig | None) -> ContainerSpec:
        return ContainerSpec.of(self.database, self.container, index, self.vector_index)


def account_key() -> str | None:
    """The account key from the environment, if any (never logged)."""
    if key := os.environ.get("COSMOS_KEY"):
        return key
    for part in os.environ.get("COSMOS_CONNECTION_STRING", "").split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "accountkey" and value:
            return value.strip()
    return None


def credential(target: CosmosURL, *, aio: bool) -> tuple[Any, bool]:
    """The credential to connect with, and whether to create the container:
    the account key if the environment has one, else Entra ID through
    ``DefaultAzureCredential`` (sync or ``aio``), whose data-plane roles
    cannot create containers, so ``create`` defaults to off then."""
    key = account_key()
    create = target.create if target.create is not None else key is not None
    if key is not None:
        return key, create
    if aio:
        from azure.identity.aio import DefaultAzureCredential as AsyncDefaultAzureCredential
        return AsyncDefaultAzureCredential(), create
    from azure.identity import DefaultAzureCredential
    return DefaultAzureCredential(), create
