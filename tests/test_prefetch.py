"""The prefetching iterator: order, errors, and being closed from any thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from recon_tui.services.prefetch import prefetch


def test_items_arrive_in_order_and_errors_are_reraised_in_the_consumer() -> None:
    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))

    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("row 2: bad amount")

    got = prefetch(failing())
    assert next(got) == 1
    with pytest.raises(ValueError, match="row 2"):
        next(got)


def test_closed_by_the_producer_thread_it_stops_without_an_error() -> None:
    """The garbage collector may finalise an abandoned prefetch generator in the producer
    thread; closing it there must not try to join that thread (RuntimeError, printed as
    "Exception ignored" beside an import's one-line error)."""
    holder: list[Iterator[int]] = []
    closed_in: list[str] = []
    errors: list[BaseException] = []
    consumed = threading.Event()

    def items() -> Iterator[int]:
        yield 0
        consumed.wait(10)  # the consumer holds item 0: the generator is suspended
        try:
            holder[0].close()  # type: ignore[attr-defined]
            closed_in.append(threading.current_thread().name)
        except BaseException as exc:  # what the test is about
            errors.append(exc)
        yield from range(1, 1000)

    gen = prefetch(items(), depth=1)
    holder.append(gen)
    assert next(gen) == 0
    consumed.set()
    for thread in threading.enumerate():
        if thread.name == "prefetch":
            thread.join(timeout=10)
    assert errors == []
    assert closed_in == ["prefetch"]
    assert not any(t.name == "prefetch" and t.is_alive() for t in threading.enumerate())
