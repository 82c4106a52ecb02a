"""Long-term memory stores (LangGraph ``BaseStore``) chosen by URL.

>>> with connect("sqlite:///data/store.db") as store: ...

Schemes: ``memory://``, ``sqlite:///path`` and ``cosmos://``; more through the
``bank_agent.stores`` entry-point group. Every back end accepts the keyword
options ``index`` (LangGraph ``IndexConfig``) and ``ttl`` (``TTLConfig``).
"""

from backends.registry import SchemeRegistry, UnsupportedURL
from stores.update import aupdate_item

registry = SchemeRegistry(
    kind="store",
    entry_point_group="bank_agent.stores",
    builtins={
        "memory": "stores.memory",
        "sqlite": "stores.sqlite",
        "cosmos": "stores.cosmos",
    },
)
connect = registry.connect
aconnect = registry.aconnect

__all__ = ["registry", "connect", "aconnect", "aupdate_item", "UnsupportedURL"]
