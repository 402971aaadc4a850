"""Run a generator in a second (spawned) process, a few items ahead of its consumer.

A big file import is half Python (parsing the file, building records, converting them to
rows: hashing, JSON) and half SQLite. :mod:`recon_tui.services.prefetch` overlaps the two
in a thread, but the thread shares the writer's GIL, so on this machine the import still
costs parse + convert + write on one core. Here the Python half runs in a child process
and only the prepared rows cross over (pickled, in order, at most ``depth`` waiting), so
the writer pays for the SQLite half alone.

The child never touches the store: it has no key and opens nothing but what ``fn`` reads.
Errors come back as the exception they were (:class:`adapters.base.SourceError` and
:class:`recon_tui.model.ValidationError` rebuilt from their fields, since their pickled
form cannot be rebuilt by ``__init__``; anything else as a ``RuntimeError`` with the
child's traceback). A writer that is killed leaves a child that notices within a second
and stops; the writer's open transaction dies with it, so the store is as it was.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_POLL_S = 1.0


def _encode_error(exc: BaseException) -> tuple[str, Any]:
    from adapters.base import SourceError
    from recon_tui.model import ValidationError

    if isinstance(exc, SourceError):
        return "source", (exc.source, exc.where, exc.message)
    if isinstance(exc, ValidationError):
        return "validation", (exc.field, exc.detail, exc.where)
    if isinstance(exc, ValueError):
        return "value", str(exc)
    return "other", traceback.format_exc()


def _decode_error(kind: str, payload: Any) -> BaseException:
    from adapters.base import SourceError
    from recon_tui.model import ValidationError

    if kind == "source":
        return SourceError(*payload)
    if kind == "validation":
        field, detail, where = payload
        return ValidationError(field, detail, where=where)
    if kind == "value":
        return ValueError(payload)
    return RuntimeError(f"the import process failed:\n{payload}")


def _orphaned(parent: int) -> None:
    """Leave at once when the writer is gone (killed): ``os._exit``, because a normal exit
    waits for the queue's feeder thread to flush into a pipe nobody reads any more."""
    os._exit(0)


def _watch(parent: int) -> None:
    while True:
        time.sleep(_POLL_S)
        if os.getppid() != parent:
            _orphaned(parent)


def _produce(fn: Callable[..., Iterable[Any]], args: tuple[Any, ...], q: Any,
             parent: int) -> None:  # fmt: skip
    # A watchdog, since parsing a big file can take a while before the first put.
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="watch").start()

    def put(item: tuple[str, Any, Any]) -> None:
        while True:
            try:
                q.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                if os.getppid() != parent:
                    _orphaned(parent)

    try:
        for item in fn(*args):
            put(("item", item, None))
        put(("done", None, None))
    except BaseException as exc:
        put(("error", *_encode_error(exc)))


def run_apart(fn: Callable[..., Iterable[Any]], args: tuple[Any, ...] = (),
              depth: int = 3) -> Iterator[Any]:  # fmt: skip
    """Yield every item of ``fn(*args)`` computed in a spawned child process.

    ``fn`` must be a module-level function and its items picklable. Closing the generator
    early stops the child."""
    ctx = mp.get_context("spawn")  # never fork a process holding an open store
    q = ctx.Queue(maxsize=depth)
    child = ctx.Process(target=_produce, args=(fn, args, q, os.getpid()), daemon=True,
                        name="import-reader")  # fmt: skip
    child.start()
    try:
        while True:
            try:
                kind, item, extra = q.get(timeout=_POLL_S)
            except queue.Empty:
                if not child.is_alive():
                    raise RuntimeError(
                        f"the import process stopped (exit code {child.exitcode})") from None
                continue
            if kind == "done":
                return
            if kind == "error":
                raise _decode_error(item, extra)
            yield item
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=10)
        q.close()
