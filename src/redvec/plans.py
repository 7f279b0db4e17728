"""The vocabulary of plans: how an operation on Redis is written once, without I/O.

A plan is a generator. It yields a :data:`Step` (a list of commands to send in one
round trip, a :class:`Meanwhile`, or a :class:`Pause`), receives the replies (a list,
Redis's refusals as ``redis.ResponseError`` values, never raised), and returns the
operation's result. It never touches a socket, so the same plan runs on a sync client
(:mod:`redvec.index`), an asyncio client (:mod:`redvec.aio`) or a cluster router: the
executors only send what a plan yields and sleep when it pauses. That is redis-py's split
(commands build their arguments once; clients only execute) carried to multi-step
operations.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from redvec._resp import pairs
from redvec.connection import IndexProgress, is_missing_index, progress_of
from redvec.errors import (
    IndexNotFoundError,
    RedisUnavailableError,
    RedvecError,
    ValidationError,
    VectorError,
)

__all__ = [
    "Command",
    "Meanwhile",
    "Pause",
    "Plan",
    "Search",
    "Step",
    "checked",
    "one",
    "redis_message",
    "search_error",
    "wait_ready",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Search:
    """One FT.SEARCH of the index (split storage sends it inside its join script), or of
    ``index`` when given (an index's write buffer)."""

    args: list[Any]
    scored: bool = False
    index: str | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait this many seconds before the next step (polling)."""

    seconds: float


Command = tuple[Any, ...] | Search


@dataclass(frozen=True, slots=True)
class Meanwhile:
    """Send ``commands`` in one round trip and run ``work`` (pure computation, no I/O)
    while Redis answers them; the plan receives ``(replies, result, error)``: ``work``'s
    result, or the exception it raised (the replies always arrive first, so a failing
    ``work`` never leaves a write unaccounted for). A write spends most of its round
    trip waiting for Redis (an HNSW insert per document), so preparing the next batch
    in that wait takes the client's share off the write's time. An executor that cannot
    overlap runs ``work`` after the round trip: the same outcome, later."""

    commands: list[Command]
    work: Callable[[], Any]


Step = list[Command] | Pause | Meanwhile
Plan = Generator[Step, Any, T]


def run_work(work: Callable[[], Any]) -> tuple[Any, Exception | None]:
    """``work``'s result, or the exception it raised, for a :class:`Meanwhile` reply."""
    try:
        return work(), None
    except Exception as e:  # handed to the plan, which raises it once its replies are read
        return None, e


def redis_message(e: Exception) -> str:
    """What Redis said, without redis-py's wrapping (``Command # 1 (FT.SEARCH ...) of
    pipeline caused error:`` repeats the whole request, vector bytes included)."""
    return _PIPELINE_PREFIX.sub("", str(e)).strip()


def search_error(index: str, e: redis.ResponseError) -> RedvecError:
    """The redvec error for RediSearch's refusal of a request on ``index``: a missing
    index, a vector of the wrong size, a malformed query; else the refusal as it is."""
    message = redis_message(e)
    if is_missing_index(e):
        return IndexNotFoundError(f"no index named '{index}'")
    if m := _BLOB_SIZE.search(message):
        return VectorError(
            f"the query vector has {int(m[1])} bytes where index '{index}' expects "
            f"{int(m[2])}: it has another dimension or type than the index's vector field "
            f"(blob size mismatch)"
        )
    return ValidationError(f"Redis refused the query on index '{index}': {message}")


def checked(replies: list[Any]) -> list[Any]:
    """The replies, or Redis's first refusal raised as it is."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


def one(command: Command) -> Plan[Any]:
    """One command's reply; a refusal raised."""
    return checked((yield [command]))[0]


def wait_ready(name: str, timeout: float, interval: float = 0.05) -> Plan[IndexProgress]:
    """Until FT.INFO reports the index fully indexed (a loading server rides along)."""
    deadline = time.monotonic() + timeout
    while True:
        (reply,) = yield [("FT.INFO", name)]
        if isinstance(reply, redis.BusyLoadingError):
            progress = None
        elif isinstance(reply, Exception):
            raise reply
        else:
            progress = progress_of(name, pairs(reply))
        if progress is not None and progress.ready:
            return progress
        if time.monotonic() >= deadline:
            raise RedisUnavailableError(
                f"indexes not fully indexed after {timeout:.0f}s; see `redvec server status`"
            )
        yield Pause(interval)


_PIPELINE_PREFIX = re.compile(r"^Command # \d+ \(.*?\) of pipeline caused error: ", re.DOTALL)
_BLOB_SIZE = re.compile(r"blob size \((\d+)\) does not match index's expected size \((\d+)\)")
