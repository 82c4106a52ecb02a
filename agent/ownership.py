"""What a turn may touch on behalf of its customer.

Deferred memory writes (``unsaved_memory``) travel in the session's state from
one turn to the next, so before any of them reaches the store it is checked to
lie in the owner's own namespaces, ``("customers", owner, ...)``. Anything else
(another customer's, an ``("admin",)`` namespace, a malformed entry) is dropped
and logged, never written.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def is_owned(customer_id: str, write: object) -> bool:
    """Whether a deferred write is well formed and inside the customer's namespaces."""
    if not isinstance(write, dict) or not isinstance(write.get("key"), str) or not isinstance(write.get("value"), dict):
        return False
    namespace = write.get("namespace")
    return (
        isinstance(namespace, (list, tuple))
        and len(namespace) >= 3
        and all(isinstance(label, str) for label in namespace)
        and tuple(namespace[:2]) == ("customers", customer_id)
    )


def owned_writes(customer_id: str, unsaved: list | None) -> list[dict]:
    """The deferred writes the customer may make; the others are dropped and logged."""
    kept = [write for write in unsaved or [] if is_owned(customer_id, write)]
    if len(kept) != len(unsaved or []):
        log.warning("dropped %d deferred memory writes outside customer %s's namespaces",
                    len(unsaved) - len(kept), customer_id)
    return kept
