"""One run per connection at a time, across processes and machines: a lock that the
holder's death releases (kill -9 included), never a flag that a crash leaves behind."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

#: how often a waiting run tries a SQLite lock file again
POLL_S = 0.1
#: PostgreSQL's SQLSTATE for "lock_timeout passed" (lock_not_available)
LOCK_NOT_AVAILABLE = "55P03"

Release = Callable[[], None]


class Held(Exception):
    """The lock is held by another run (and stayed so for the time allowed)."""


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock, the same in every process."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


def acquire(engine: sa.Engine, name: str, wait: float = 0.0) -> Release:
    """Take the lock called `name` for the store behind `engine`, waiting up to `wait`
    seconds; returns the function that releases it. Raises Held."""
    if engine.dialect.name == "postgresql":
        return _advisory(engine, name, wait)
    database = engine.url.database
    if not database or database == ":memory:" or "mode=memory" in str(engine.url):
        return _in_process(f"{engine.url}/{name}", wait)
    return _flock(lock_path(database, name), wait)


def lock_path(database: str, name: str) -> Path:
    """The lock file beside a SQLite database: one per lock name, never deleted (a
    file removed while another process opens it would let two holders in)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60]
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    path = Path(database)
    return path.with_name(f"{path.name}.{safe}-{digest}.lock")


def _advisory(engine: sa.Engine, name: str, wait: float) -> Release:
    """A session-level advisory lock on a connection of its own: PostgreSQL releases it
    when that session ends, which the death of the process (or of its host) ends too
    ("Advisory Locks", PostgreSQL manual 13.3.5). Waiting is the server's: lock_timeout
    bounds pg_advisory_lock, so no client loop polls."""
    key = advisory_key(name)
    conn = engine.connect()
    try:
        with conn.begin():
            if wait > 0:
                # SET LOCAL lasts this transaction; the session-level lock outlives it.
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, int(wait * 1000))}")
                conn.execute(sa.select(sa.func.pg_advisory_lock(key)))
                got = True
            else:
                got = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar())
    except sa.exc.OperationalError as exc:
        conn.invalidate()
        conn.close()
        if getattr(exc.orig, "pgcode", None) == LOCK_NOT_AVAILABLE:
            raise Held(name) from None
        raise
    if not got:
        conn.close()
        raise Held(name)

    def release() -> None:
        # Ending the session releases the lock whatever state the connection is in; it
        # never goes back to the pool still holding it.
        conn.invalidate()
        conn.close()

    return release


def _flock(path: Path, wait: float) -> Release:
    """An exclusive flock(2) on a file beside the database: the kernel drops it when
    the holder's file descriptor closes, which its death does too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def attempt() -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    try:
        if wait > 0:
            Retrying(retry=retry_if_exception_type(BlockingIOError), stop=stop_after_delay(wait),
                     wait=wait_fixed(POLL_S), reraise=True)(attempt)
        else:
            attempt()
    except BlockingIOError:
        os.close(fd)
        raise Held(str(path)) from None
    except BaseException:
        os.close(fd)
        raise
    return lambda: os.close(fd)


_local: dict[str, threading.Lock] = {}
_local_guard = threading.Lock()


def _in_process(name: str, wait: float) -> Release:
    """An in-memory database lives in one process: a lock of that process is enough."""
    with _local_guard:
        lock = _local.setdefault(name, threading.Lock())
    got = lock.acquire(timeout=wait) if wait > 0 else lock.acquire(blocking=False)
    if not got:
        raise Held(name)
    return lock.release
