"""Persistence back ends chosen by URL scheme, as SQLAlchemy picks a dialect.

A back end is any object (usually a module) with two callables:
``connect(url, **options)`` returning a context manager and
``aconnect(url, **options)`` returning an async context manager, each yielding
the ready-to-use saver or store. Built-in back ends are imported lazily, so a
Redis or Cosmos DB client is only imported when its scheme is used; third
parties add schemes through the registry's entry-point group.
"""

from __future__ import annotations

import importlib
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit


class UnsupportedURL(ValueError):
    """A persistence URL that is malformed or names no known scheme."""


class Backend(Protocol):
    def connect(self, url: str, **options: Any) -> AbstractContextManager[Any]: ...

    def aconnect(self, url: str, **options: Any) -> AbstractAsyncContextManager[Any]: ...


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``, safe for logs and errors."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


def scheme_of(url: str) -> str:
    if not isinstance(url, str) or "://" not in url:
        raise UnsupportedURL(f"{url!r} is not a URL of the form scheme://...")
    return url.split("://", 1)[0].lower()


class SchemeRegistry:
    """Maps URL schemes to back ends for one kind of persistence."""

    def __init__(self, kind: str, entry_point_group: str, builtins: dict[str, str]):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._builtins = dict(builtins)
        self._registered: dict[str, Backend] = {}

    def register(self, scheme: str, backend: Backend) -> None:
        """Add or replace the back end for ``scheme``."""
        self._registered[scheme.lower()] = backend

    def schemes(self) -> list[str]:
        """Every scheme this registry can serve, sorted."""
        plugins = {ep.name for ep in entry_points(group=self.entry_point_group)}
        return sorted(set(self._builtins) | set(self._registered) | plugins)

    def backend_for(self, url: str) -> Backend:
        try:
            scheme = scheme_of(url)
        except UnsupportedURL as error:
            raise UnsupportedURL(
                f"{self.kind} URL {error.args[0]}; supported schemes: "
                + ", ".join(self.schemes())
            ) from None
        if scheme in self._registered:
            return self._registered[scheme]
        if scheme in self._builtins:
            return importlib.import_module(self._builtins[scheme])
        for ep in entry_points(group=self.entry_point_group, name=scheme):
            return ep.load()
        raise UnsupportedURL(
            f"unknown {self.kind} URL scheme {scheme!r} in {redact(url)!r}; "
            f"supported schemes: {', '.join(self.schemes())}"
        )

    def connect(self, url: str, **options: Any) -> AbstractContextManager[Any]:
        """Open the back end named by ``url`` (sync context manager)."""
        return self.backend_for(url).connect(url, **options)

    def aconnect(self, url: str, **options: Any) -> AbstractAsyncContextManager[Any]:
        """Open the back end named by ``url`` (async context manager)."""
        return self.backend_for(url).aconnect(url, **options)


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///path`` URL (SQLAlchemy's convention:
    three slashes for a relative path, four for an absolute one), with its
    parent directory created."""
    prefix = "sqlite:///"
    if not url.lower().startswith(prefix) or len(url) == len(prefix):
        raise UnsupportedURL(
            f"malformed SQLite URL {redact(url)!r}: expected sqlite:///relative/path.db, "
            "sqlite:////absolute/path.db or sqlite:///:memory:"
        )
    path = url[len(prefix):]
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return path
