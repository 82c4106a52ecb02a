"""What both Redis modes store alike: a thread's channel values once per version.

Each mode keeps one hash of blobs per thread (plain: ``<prefix>:{<thread>}:blobs``,
modules: ``<checkpoint prefix>_blobs:<thread>``), as langgraph's Postgres saver
keeps its blobs table. A field names one version of one channel; its value is
``<serde type>\\0<serde bytes>``, or ``EMPTY_BLOB`` for a channel that had no
value at that version.
"""

from __future__ import annotations

from typing import Any

EMPTY_BLOB = b"empty\x00"


def blob_field(ns: str, channel: str, version: Any) -> bytes:
    """The blob hash's field of ``channel`` at ``version`` in namespace ``ns``."""
    return f"{ns}\x00{channel}\x00{version}".encode()
