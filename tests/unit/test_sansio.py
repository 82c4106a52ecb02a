"""The one sans-I/O driver: replies go in, errors are thrown in, sync and async alike."""

from dataclasses import dataclass

import pytest

from backends.sansio import Emit, arun, astream, run, stream


class Refused(Exception):
    pass


@dataclass(frozen=True)
class Get:
    key: str


STORED = {"a": 1, "b": 2}


def execute(call: Get) -> int:
    if call.key not in STORED:
        raise Refused(call.key)
    return STORED[call.key]


async def aexecute(call: Get) -> int:
    return execute(call)


def total(keys):
    """Sums what it can read; a refused read counts as 0 and is noted."""
    found, refused = 0, []
    for key in keys:
        try:
            found += yield Get(key)
        except Refused as error:
            refused.append(str(error))
    return found, refused


def listing(keys):
    for key in keys:
        yield Emit((key, (yield Get(key))))


def test_sync_driver_throws_errors_into_the_operation():
    assert run(total(["a", "missing", "b"]), execute) == (3, ["missing"])


async def test_async_driver_throws_errors_into_the_operation():
    assert await arun(total(["a", "missing", "b"]), aexecute) == (3, ["missing"])


async def test_an_error_the_operation_does_not_catch_reaches_the_caller():
    with pytest.raises(Refused, match="missing"):
        run(listing(["missing"]), execute)
    with pytest.raises(Refused, match="missing"):
        await arun(listing(["missing"]), aexecute)


async def test_streaming_hands_out_emitted_items_in_order():
    assert list(stream(listing(["b", "a"]), execute)) == [("b", 2), ("a", 1)]
    assert [item async for item in astream(listing(["b", "a"]), aexecute)] == [("b", 2), ("a", 1)]
