"""Read-modify-write of one store item, for any store.

>>> await aupdate_item(store, ("customers", id, "profile"), "profile",
...                    lambda current: {**(current or {}), "email": "a@b.c"})

A store that can write conditionally (``CosmosStore``: the item's ``_etag``,
retried on 412) loses no concurrent update; on the others this is a get and
a put. ``change`` maps the current value, or None, to the new one (which is
returned); it may run more than once, so it should depend only on its argument.
"""

from __future__ import annotations

from typing import Any, Callable

from langgraph.store.base import BaseStore

Change = Callable[[dict[str, Any] | None], dict[str, Any]]


async def aupdate_item(store: BaseStore, namespace: tuple[str, ...], key: str, change: Change) -> dict[str, Any]:
    if hasattr(store, "aupdate"):
        return await store.aupdate(namespace, key, change)
    item = await store.aget(namespace, key)
    value = change(dict(item.value) if item else None)
    await store.aput(namespace, key, value)
    return value
