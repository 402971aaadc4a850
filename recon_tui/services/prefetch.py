"""Run an iterator in a producer thread, a few items ahead of its consumer.

The sync service uses it so an adapter fetches and converts batch n+1 (network, parsing,
hashing: Python work) while the store writes batch n (SQLite releases the GIL while it
steps), which keeps both of this machine's cores busy during a big sync.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield ``items`` as produced by a background thread; re-raises its exceptions here.

    Closing the generator early stops the producer at its next item.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            q.put(_Failure(exc))

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        # An abandoned generator is finalised by the garbage collector in whichever thread
        # runs it, the producer's included (a failed write leaves it in a traceback cycle):
        # joining the current thread raised RuntimeError, printed as "Exception ignored in
        # <generator object prefetch>" on stderr beside the error's one line.
        if thread is not threading.current_thread():
            thread.join(timeout=5)
