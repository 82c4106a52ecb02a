"""``bank-agent memory import``: a customer's facts and episodes from a JSON
Lines file (a CRM export), with their own timestamps.

One JSON object per line, ``kind`` first (a fact's ``category`` defaults to
``other``; texts may run to 2,000 characters, a CRM note's length)::

    {"kind": "fact", "category": "preference", "fact": "Prefers paper statements",
     "learned_at": "2021-03-04T10:00:00Z", "subject": "statements"}
    {"kind": "episode", "session_id": "crm-8812", "started_at": "2021-03-04T09:55:00Z",
     "summary": "Asked about mortgage rates.", "outcome": "rates sent", "topics": ["mortgage"]}

Every line is checked before anything is written; any problem rejects the
whole file with every bad line named. Items land where the agent's own do
(the store layout in ``agent.memory``) under the same keys, so importing a
file again changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, get_args

from langgraph.store.base import BaseStore, PutOp

from agent import memory
from agent.calls import call
from agent.errors import ImportRejected, MemoryUnavailable
from agent.tools import FactCategory

FIELDS = {
    "fact": ({"kind", "fact", "learned_at"}, {"category", "subject"}),
    "episode": ({"kind", "session_id", "started_at", "summary"}, {"outcome", "topics", "ended_at"}),
}
BATCH = 500
MAX_ERRORS_SHOWN = 20


@dataclass
class Imported:
    facts: int
    episodes: int


def _stamp(value: Any, name: str) -> str:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name} is not an ISO-8601 time: {str(value)[:40]!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{name} needs a time zone (e.g. 2021-03-04T10:00:00Z)")
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _text(record: dict, name: str, limit: int = 2000) -> str:
    value = record[name]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be non-empty text")
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    return " ".join(value.split())


def parse_line(customer_id: str, line: str) -> PutOp:
    """The store write for one line, or ``ValueError`` saying what is wrong."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as problem:
        raise ValueError(f"not JSON ({problem.msg})") from None
    if not isinstance(record, dict) or record.get("kind") not in FIELDS:
        raise ValueError('expected an object with "kind": "fact" or "episode"')
    required, optional = FIELDS[record["kind"]]
    if missing := sorted(required - record.keys()):
        raise ValueError(f"missing {', '.join(missing)}")
    if unknown := sorted(record.keys() - required - optional):
        raise ValueError(f"unknown field {', '.join(unknown)}")
    if record["kind"] == "fact":
        category = record.get("category", "other")
        if category not in get_args(FactCategory):
            raise ValueError(f"category must be one of {', '.join(get_args(FactCategory))}")
        return memory.fact_put(
            customer_id, category, _text(record, "fact"), "import",
            subject=_text(record, "subject", 60) if "subject" in record else "",
            learned_at=_stamp(record["learned_at"], "learned_at"),
        )
    started = _stamp(record["started_at"], "started_at")
    topics = record.get("topics", [])
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise ValueError("topics must be a list of text")
    episode = {
        "session_id": _text(record, "session_id", 200), "started_at": started,
        "updated_at": _stamp(record.get("ended_at", started), "ended_at"), "summary": _text(record, "summary"),
        "topics": topics, "status": "ended", "source": "import",
        **({"outcome": _text(record, "outcome")} if "outcome" in record else {}),
    }
    return memory.episode_put(customer_id, episode)


def parse(customer_id: str, lines: list[str]) -> list[PutOp]:
    """Every line's write; ``ImportRejected`` naming each bad line if any is bad."""
    writes, errors = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            writes.append(parse_line(customer_id, line))
        except ValueError as problem:
            errors.append(f"line {number}: {problem}")
    if errors:
        more = f"\n… and {len(errors) - MAX_ERRORS_SHOWN} more" if len(errors) > MAX_ERRORS_SHOWN else ""
        raise ImportRejected(f"{len(errors)} bad line(s); nothing imported:\n" + "\n".join(errors[:MAX_ERRORS_SHOWN]) + more)
    return writes


async def aimport(store: BaseStore, customer_id: str, path: Path) -> Imported:
    """Import ``path`` for ``customer_id``: all lines or, on a bad line, none."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as problem:
        raise ImportRejected(f"cannot read {path}: {problem}") from None
    writes = parse(customer_id, lines)
    for start in range(0, len(writes), BATCH):
        try:
            await memory.bounded(call(store.batch, store.abatch, writes[start:start + BATCH]))
        except MemoryUnavailable as problem:
            raise MemoryUnavailable(
                f"the store failed after {start} of {len(writes)} items ({problem}); "
                "run the import again: it is idempotent"
            ) from None
    facts = sum(w.namespace[-1] == "facts" for w in writes)
    return Imported(facts=facts, episodes=len(writes) - facts)
