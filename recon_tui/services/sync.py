"""The sync service: runs sources through their adapters into the store, batch by batch.

Each batch and the cursor after it are written in one transaction, so a crash or kill at
any point resumes from the last committed cursor with nothing lost or duplicated
(upserts are idempotent by source and external id). Sources sync independently: one
failing source records its error in its health and the others go on.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from adapters import registry
from adapters.base import Adapter, Batch, SourceError
from adapters.redact import redact
from adapters.redact import register as register_secrets
from recon_tui.model import Record, ValidationError
from recon_tui.services.apart import run_apart
from recon_tui.services.prefetch import prefetch
from recon_tui.services.runs import recorded, sync_summary
from recon_tui.store import Store, StoreError, statements
from recon_tui.store.records import (
    AmountCache,
    PreparedBatch,
    adopt_legacy_ids,
    import_cache,
    prepare_batch,
    prepare_columns,
    write_batch,
)
from recon_tui.store.sources import (
    SourceInfo,
    get_secrets,
    get_source,
    list_sources,
    record_failure,
    record_success,
)

ProgressFn = Callable[[str, int, int | None], None]
"""(source, done, total) — called after every committed batch."""
ChangesFn = Callable[[str, list[int]], None]
"""(source, record ids added/changed/removed) — the incremental matcher listens here."""


@dataclass(slots=True)
class SyncReport:
    """The outcome of syncing one source."""

    source: str
    ok: bool
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    prices: int = 0
    batches: int = 0
    seconds: float = 0.0
    error: str | None = None
    changed_ids: list[int] = field(default_factory=list)
    balances: int = 0
    warnings: list[str] = field(default_factory=list)
    """Notices the source asked for instead of a refusal (``balance_check=warn``)."""

    def line(self) -> str:
        if not self.ok:
            return f"{self.source}: FAILED — {self.error}"
        bal = f", {self.balances} statement balances" if self.balances else ""
        warn = f" ({len(self.warnings)} warning(s))" if self.warnings else ""
        return (
            f"{self.source}: +{self.added} new, {self.changed} changed, {self.removed} removed, "
            f"{self.unchanged} unchanged, {self.prices} prices{bal} in {self.seconds:.1f}s{warn}"
        )


class SyncError(Exception):
    """A named source is unknown or misconfigured."""


def make_adapter(
    store: Store, info: SourceInfo, overrides: dict[str, Any] | None = None
) -> Adapter:
    """Instantiate the adapter of a configured source with its settings and secrets."""
    try:
        cls = registry.get(info.kind)
    except KeyError as exc:
        raise SourceError(info.name, "kind", str(exc.args[0])) from None
    secrets = get_secrets(store, info.name, [s.name for s in cls.SECRETS])
    register_secrets(secrets.values())  # so every report and error line can mask them
    settings = dict(info.settings)
    settings.update(overrides or {})
    return cls(info.name, settings, secrets)


@recorded("sync", scope=lambda a: a["name"], summary=sync_summary)
def sync_source(
    store: Store,
    name: str,
    *,
    overrides: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    on_changes: ChangesFn | None = None,
    keep_cursor: bool = True,
) -> SyncReport:
    """Sync one source; never raises for source failures (they land in the report)."""
    started = time.monotonic()
    report = SyncReport(source=name, ok=False)
    info = get_source(store, name)
    if info is None:
        report.error = f"no source named '{name}'"
        return report
    try:
        adapter = make_adapter(store, info, overrides)
        cursor = info.cursor if keep_cursor else None
        if _read_apart(adapter):
            # A big file: parsed and converted in a second process, written here.
            cls = type(adapter)
            batches: Iterator[tuple[Batch, PreparedBatch, list[tuple[str, str]]]] = run_apart(
                _prepared_file, (cls.__module__, cls.__qualname__, name,
                                 {**info.settings, **(overrides or {})},
                                 cursor, keep_cursor))  # fmt: skip
        else:
            batches = prefetch(_prepared(adapter, name, cursor, keep_cursor))
        for batch, ready, legacy in batches:
            # Renames from an earlier release's ids, the batch and the statement's own
            # balances commit together, or not at all.
            with store.tx() as conn:
                if legacy:
                    adopt_legacy_ids(conn, name, legacy)
                result = write_batch(store, ready)
                if batch.balances:
                    report.balances += statements.save(conn, name, batch.balances)
            report.warnings.extend(batch.warnings)
            report.batches += 1
            report.added += result.added
            report.changed += result.changed
            report.removed += result.removed
            report.unchanged += result.unchanged
            report.prices += result.prices
            report.changed_ids.extend(result.changed_ids)
            if on_changes and result.changed_ids:
                on_changes(name, result.changed_ids)
            if progress:
                done = batch.done if batch.done is not None else report.added + report.changed
                progress(name, done, batch.total)
        report.ok = True
    except SourceError as exc:
        report.error = str(exc)
    except StoreError as exc:  # a full disk, a busy store: one line, the user's to fix
        report.error = f"source '{name}': {exc}"
    except ValidationError as exc:
        report.error = f"source '{name}': {exc}"
    except ValueError as exc:
        report.error = f"source '{name}': {exc}"
    except Exception as exc:  # an adapter bug must not take the other sources down
        report.error = f"source '{name}': unexpected {type(exc).__name__}: {exc}"
    report.seconds = time.monotonic() - started
    report.error = redact(report.error) if report.error else report.error
    if report.ok:
        record_success(store, name, report.added, report.changed, report.removed)
    else:
        record_failure(store, name, report.error or "unknown error")
    return report


def _prepared(adapter: Adapter, name: str, cursor: dict[str, Any] | None,
              keep_cursor: bool) -> Iterator[tuple[Batch, PreparedBatch, list[tuple[str, str]]]]:
    """The adapter's batches, each with its rows prepared and its legacy-id renames.

    A file adapter that reads its file as columns (``column_batches``: the CSV statement)
    hands over columns instead of records, and the rows are made straight from them."""
    by_columns = getattr(adapter, "column_batches", None)
    if by_columns is not None:
        amounts: AmountCache = {}  # a statement's amounts repeat from batch to batch
        for b, cols in by_columns(cursor):
            if cols is None:
                yield from _prepared_one(b, name, keep_cursor)
                continue
            yield b, prepare_columns(name, cols.columns, cursor=b.cursor, set_cursor=keep_cursor,
                                     cache=amounts), cols.legacy_pairs()  # fmt: skip
        return
    for b in adapter.batches(cursor):
        yield from _prepared_one(b, name, keep_cursor)


def _prepared_one(b: Batch, name: str, keep_cursor: bool,
                  ) -> Iterator[tuple[Batch, PreparedBatch, list[tuple[str, str]]]]:  # fmt: skip
    """One adapter batch of records with its rows prepared and its legacy-id renames."""
    legacy = _legacy_pairs(b.records)
    yield b, prepare_batch(
        name, b.records, removed=b.removed, prices=b.prices, cursor=b.cursor,
        set_cursor=keep_cursor,
    ), legacy  # fmt: skip


READ_APART_FROM = 4 * 2**20
"""File size (bytes) from which a file source is parsed and converted in a second process
(measured: parsing and converting a CSV row costs more CPU than writing it; below a few
MB, starting the process costs more than it saves)."""


READ_APART_ENV = "RECON_TUI_READ_APART_BYTES"
"""Overrides :data:`READ_APART_FROM` (tests: a small file through the second process)."""


def _read_apart(adapter: Adapter) -> bool:
    """Whether this source's batches are read in a second process: a file source (no
    secrets, no network) whose file is big."""
    if adapter.capabilities.paging != "file" or adapter.SECRETS:
        return False
    path = adapter.settings.get("path")
    limit = os.environ.get(READ_APART_ENV, "")
    try:
        return bool(path) and os.path.getsize(str(path)) >= (
            int(limit) if limit.isdigit() else READ_APART_FROM)
    except OSError:
        return False  # the adapter says what is wrong with the path, in the usual way


def _prepared_file(module: str, cls_name: str, name: str, settings: dict[str, Any],
                   cursor: dict[str, Any] | None, keep_cursor: bool,
                   ) -> Iterator[tuple[Batch, PreparedBatch, list[tuple[str, str]]]]:  # fmt: skip
    """In the child process: the file adapter's batches prepared, without their records
    (the rows carry them; the writer needs only the rows, balances, warnings, progress)."""
    import importlib

    cls = getattr(importlib.import_module(module), cls_name)
    adapter = cls(name, settings, {})
    for b, ready, legacy in _prepared(adapter, name, cursor, keep_cursor):
        b.records = []
        b.prices = []
        yield b, ready, legacy


def _legacy_pairs(records: list[Record]) -> list[tuple[str, str]]:
    """(legacy id, external id) of the records an adapter marked with ``attrs['legacy_id']``
    (the id an earlier release stored them under), taken out of ``attrs`` so the marker
    never counts as a change of the record."""
    pairs = []
    for r in records:
        legacy = r.attrs.pop("legacy_id", None) if r.attrs else None
        if legacy:
            pairs.append((str(legacy), r.external_id))
    return pairs


def sync_all(
    store: Store,
    names: Iterable[str] | None = None,
    *,
    progress: ProgressFn | None = None,
    on_changes: ChangesFn | None = None,
) -> list[SyncReport]:
    """Sync the named sources (default: every enabled one that is not a file import)."""
    if names:
        chosen = list(names)
    else:
        chosen = [s.name for s in list_sources(store) if s.enabled and not _needs_file(s)]
    return [sync_source(store, n, progress=progress, on_changes=on_changes) for n in chosen]


def _needs_file(info: SourceInfo) -> bool:
    """File sources sync through ``import`` unless a path is saved in their settings."""
    try:
        cls = registry.get(info.kind)
    except KeyError:
        return False
    return cls.capabilities.paging == "file" and not info.settings.get("path")


def import_file(
    store: Store, name: str, path: str, *, progress: ProgressFn | None = None,
    on_changes: ChangesFn | None = None,
) -> SyncReport:  # fmt: skip
    """Import one statement/ledger file into a file source (idempotent re-import).

    The whole import is one transaction (its batches are savepoints): a file that fails
    part-way, or a disk that fills, leaves the store exactly as it was.
    """
    try:
        with import_cache(store), store.tx():
            report = sync_source(store, name, overrides={"path": path}, progress=progress,
                                 on_changes=on_changes, keep_cursor=False)  # fmt: skip
            if not report.ok:
                raise _ImportFailed(report)
    except _ImportFailed as failed:
        report = failed.report
        report.added = report.changed = report.removed = report.unchanged = 0
        report.changed_ids = []
        with contextlib.suppress(StoreError):  # the failure itself was rolled back with it
            record_failure(store, name, report.error or "import failed")
    return report


class _ImportFailed(Exception):
    def __init__(self, report: SyncReport) -> None:
        super().__init__(report.error)
        self.report = report


def due_sources(
    store: Store, now_us: int, *, default_interval_s: int | None = None,
    names: Iterable[str] | None = None,
) -> list[str]:  # fmt: skip
    """Sources whose own sync interval has elapsed (for ``sync --every`` and the app's timer).

    A source without an interval of its own uses ``default_interval_s`` (``None``: never
    due). File sources without a saved path are never due: they sync through ``import``.
    """
    wanted = set(names) if names else None
    due = []
    for s in list_sources(store):
        if wanted is not None and s.name not in wanted:
            continue
        interval = s.interval_s or default_interval_s
        if not s.enabled or not interval or _needs_file(s):
            continue
        # 1 s of slack: a tick that lands a hair early must not skip a whole interval.
        if s.last_sync_us is None or now_us - s.last_sync_us >= (interval - 1) * 1_000_000:
            due.append(s.name)
    return due
