"""When the Cosmos DB store tries a request again, and how long it waits.

The SDK's own retry options (``retry_total``, ``retry_on_status_codes`` ...)
act only on transport errors; for HTTP statuses it retries a 408 or 5xx at
most once or twice. The store's executors (``stores/cosmos/store.py``) therefore
ask this policy after every failed attempt, for reads and for the store's
writes, which are all idempotent: ids are deterministic (an upsert or a
delete repeated lands the same item) and patches carry an etag.

- 408, 449, 500, 502, 503, 504 and dropped connections: exponential backoff
  with full jitter, at most ``attempts`` tries;
- 429: the server's ``x-ms-retry-after-ms``;
- both within ``total`` seconds from the first try, after which the last
  error is raised, with a note of the attempts made.

The sync and the async executor share one loop shape::

    for attempt in policy.tries():
        with attempt:
            return call()
        sleep(attempt.wait)
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Iterator

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos import exceptions as cosmos_errors

TRANSIENT_STATUSES = frozenset({408, 449, 500, 502, 503, 504})
THROTTLED = 429


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries of one Cosmos DB request (seconds throughout)."""

    attempts: int = 6
    backoff: float = 0.1
    backoff_max: float = 5.0
    total: float = 60.0

    def delay(self, error: BaseException, attempt: int, elapsed: float) -> float | None:
        """Seconds to wait before trying again after ``attempt`` (1-based)
        failed with ``error``, ``elapsed`` seconds after the first try; None
        to give up."""
        status = getattr(error, "status_code", None)
        if isinstance(error, cosmos_errors.CosmosHttpResponseError) and status == THROTTLED:
            wait = retry_after(error)
            wait = self.backoff if wait is None else wait
        elif (isinstance(error, cosmos_errors.CosmosHttpResponseError) and status in TRANSIENT_STATUSES) or (
                isinstance(error, (ServiceRequestError, ServiceResponseError))):
            if attempt >= self.attempts:
                return None
            wait = random.uniform(0, min(self.backoff_max, self.backoff * 2 ** (attempt - 1)))
        else:
            return None
        return wait if elapsed + wait <= self.total else None

    def tries(self) -> Iterator["Attempt"]:
        attempt = Attempt(self, time.monotonic())
        while True:
            yield attempt


class Attempt:
    """One try: a retryable error leaving the ``with`` block is swallowed and
    ``wait`` set; any other error, or one past the bounds, propagates."""

    def __init__(self, policy: RetryPolicy, start: float) -> None:
        self.policy, self.start, self.number, self.wait = policy, start, 0, 0.0

    def __enter__(self) -> "Attempt":
        self.number += 1
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None or not isinstance(error, Exception):
            return False
        elapsed = time.monotonic() - self.start
        wait = self.policy.delay(error, self.number, elapsed)
        if wait is None:
            gave_up(error, self.number, elapsed)
            return False
        self.wait = wait
        return True


def retry_after(error: cosmos_errors.CosmosHttpResponseError) -> float | None:
    value = (error.headers or {}).get("x-ms-retry-after-ms")
    try:
        return float(value) / 1000 if value is not None else None
    except ValueError:
        return None


def gave_up(error: BaseException, attempts: int, elapsed: float) -> BaseException:
    """The last error, noting the retries behind it (its own message stays first)."""
    if attempts > 1:
        error.add_note(f"Cosmos DB store: gave up after {attempts} attempts in {elapsed:.1f} s")
    return error
