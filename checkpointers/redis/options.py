"""The options of a ``redis://`` / ``rediss://`` checkpointer URL."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.credentials import CredentialProvider
from redis.retry import Retry

from backends.registry import UnsupportedURL, redact

MODES = ("auto", "modules", "plain")
ENTRA_SCOPE = "https://redis.azure.com/.default"
TRUE = {"1", "true", "yes", "on"}


class EntraIdCredentials(CredentialProvider):
    """Microsoft Entra ID access tokens as Redis passwords (Azure Cache for
    Redis / Azure Managed Redis). The username is the object id of the identity;
    the token comes from ``azure-identity``'s ``DefaultAzureCredential`` (managed
    identity, workload identity, Azure CLI login, ...) and is renewed five
    minutes before it expires, for new connections."""

    def __init__(self, username: str) -> None:
        self.username = username
        self._credential: Any = None
        self._token: Any = None

    def get_credentials(self) -> tuple[str, str]:
        if self._token is None or self._token.expires_on - time.time() < 300:
            if self._credential is None:
                from azure.identity import DefaultAzureCredential

                self._credential = DefaultAzureCredential()
            self._token = self._credential.get_token(ENTRA_SCOPE)
        return self.username, self._token.token

    async def get_credentials_async(self) -> tuple[str, str]:
        return await asyncio.to_thread(self.get_credentials)


@dataclass
class RedisOptions:
    """A parsed checkpointer URL; see the package docstring for each option."""

    url: str
    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    tls: bool
    mode: str = "auto"
    ttl: float | None = None
    prefix: str = "lgcp"
    cluster: str = "auto"
    entra: bool = False
    connect_timeout: float = 5.0
    timeout: float = 10.0
    ssl_cert_reqs: str = "required"
    ssl_ca_certs: str | None = None

    @classmethod
    def parse(cls, url: str, overrides: dict[str, Any]) -> RedisOptions:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise UnsupportedURL(f"malformed Redis URL {redact(url)!r}: expected "
                                 "redis[s]://[user][:password@]host[:port][/db][?options]")
        path = parts.path.strip("/")
        options = cls(
            url=url, host=parts.hostname, port=parts.port or 6379,
            db=int(path) if path.isdigit() else 0,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=parts.scheme == "rediss",
        )
        for name, value in [*parse_qsl(parts.query), *overrides.items()]:
            options._set(name, value)
        if options.mode not in MODES:
            raise UnsupportedURL(f"Redis checkpointer mode must be one of {', '.join(MODES)}, "
                                 f"not {options.mode!r} (in {redact(url)!r})")
        # A username without a password means an Entra ID identity (Azure).
        options.entra = options.entra or bool(options.username and not options.password)
        return options

    def _set(self, name: str, value: Any) -> None:
        if name in ("ttl", "connect_timeout", "timeout"):
            value = float(value) if value not in (None, "", "none") else None
            if name == "ttl" and value is not None and value <= 0:
                value = None
        elif name == "entra":
            value = str(value).lower() in TRUE
        elif name not in ("mode", "prefix", "cluster", "ssl_cert_reqs", "ssl_ca_certs"):
            raise UnsupportedURL(f"unknown Redis checkpointer option {name!r} in {redact(self.url)!r}")
        setattr(self, name, value)

    def ttl_config(self) -> dict[str, Any] | None:
        """The modules mode's ``ttl`` argument for ``langgraph-checkpoint-redis``."""
        if not self.ttl:
            return None
        # Upstream truncates to whole seconds, and EXPIRE 0 would delete at once.
        return {"default_ttl": max(self.ttl, 1 / 60), "refresh_on_read": True}

    def client_kwargs(self, asyncio: bool = False) -> dict[str, Any]:
        """Keyword arguments for ``redis.Redis`` / ``RedisCluster``, or with
        ``asyncio`` for their ``redis.asyncio`` counterparts."""
        retry_class = AsyncRetry if asyncio else Retry
        kwargs: dict[str, Any] = {
            "host": self.host, "port": self.port,
            "socket_connect_timeout": self.connect_timeout, "socket_timeout": self.timeout,
            # redis-py's default retries turn a 1 s timeout into ~15 s; one
            # quick retry keeps failures within about twice the timeout.
            # A dropped connection (e.g. Redis restarted) is retried on a new one.
            "retry": retry_class(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
        }
        if self.entra:
            if not self.username:
                raise UnsupportedURL(f"Entra ID needs the identity's object id as the URL's "
                                     f"username: {redact(self.url)!r}")
            kwargs["credential_provider"] = EntraIdCredentials(self.username)
        else:
            kwargs.update(username=self.username, password=self.password)
        if self.tls:
            kwargs.update(ssl=True, ssl_cert_reqs=self.ssl_cert_reqs, ssl_ca_certs=self.ssl_ca_certs)
        return kwargs
