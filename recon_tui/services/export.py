"""Exports of reconciliation sessions: a folder, a zip archive, or an encrypted bundle.

An export holds, for one session (see :mod:`recon_tui.services.sessions`):

``session.json``      the whole export as one JSON document (``export_schema.json``); the
                      big arrays (groups, explained, unresolved, decisions) hold one item
                      per line
``groups.csv``        matched groups, one row per member (source, external id, amounts)
``explained.csv``     explained breaks, one row per record, with reason and note
``adjustments.csv``   adjustments recorded on groups (fees, fx, write-offs…)
``summary.csv``       counts, totals and differences per pair and asset (pair ``*``: all)
``unresolved.csv``    in-scope records neither matched nor explained (drafts only)
``decisions.csv``     the session's decisions, with their chain hashes
``workbook.xlsx``     the same tables as sheets
``export_schema.json`` the JSON Schema of ``session.json``
``manifest.json``     SHA-256 of every other file, the audit-chain head and the snapshot read

Money is exact decimal text everywhere (never floats); times are ISO-8601 UTC. Decision
rows carry ``record_ids``/``before``/``after`` as the exact JSON text that was hashed, so
an auditor can recompute each row's hash from the export alone (see :func:`decision_hash`).

**Streaming.** Nothing is built in memory: the session is read in one read transaction of
a connection of its own (:func:`recon_tui.store.exports.snapshot`, so writers are never
held up and the export is one consistent state, recorded in the manifest as
``snapshot``), row by row, and every row goes straight into the files that show it; each
file's SHA-256 is computed as it is written. The big tables come from the store as raw
columns (:mod:`recon_tui.store.exports`; the timestamps already as ISO text) by a
thread of their own a batch ahead (:class:`_ReadAhead`: SQLite lets go of the GIL, so the
reading overlaps the formatting) and are formatted here, once per value: each JSON item
by ``orjson``, the big tables' CSV lines made by SQL on the reading thread as the csv
module writes them (:func:`recon_tui.store.exports.csv_line`; rows to neutralise, and the
small tables, by the csv module), and the workbook from that same CSV text in a child
process (see :class:`_Sheets`), which with the reading keeps the second core busy. The
files are byte for byte what the earlier SQL-formatted export wrote
(``tests/test_export_equivalence.py``). ``bench/export.py`` measures it.

**The audit check.** The store's own check judges the very snapshot the export reads and
the export is refused on any problem; it is the cheap check (``verify_all(full=False)``:
the logs below the verified watermark of :mod:`recon_tui.store.watermark` by their digest,
after it row by row, the tables against the whole log). It runs in a thread of its own on
a twin connection in the same snapshot (:func:`recon_tui.store.exports.snapshots`), beside
the reading and writing, and its verdict is awaited before anything is renamed into place
or recorded (:class:`_AuditCheck`): a refused export leaves nothing, as before, and an
audit problem still comes before any other refusal. A passing export moves the watermark
on.

**Spreadsheet safety.** CSV and XLSX cells that a spreadsheet would read as a formula
(text starting with ``=``, ``+``, ``-``, ``@``, tab or CR) get a leading single quote, as
OWASP recommends for CSV injection. Columns that hold numbers (amounts, fees, totals,
scores) keep a value that is exactly a decimal number (``-12.50``) as it is, so amounts
stay numeric; anything else in them is quoted like text. ``session.json`` keeps every
value verbatim (it is data, not a sheet).

**Publishing.** Files are written into a partial folder ``.<name>.<pid>.partial`` (0700)
beside the target, fsynced, then renamed into place; any failure removes it, and the next
export to that place removes one left by a killed run. For a zip or a bundle the files
are first staged in that folder *sealed* (AES-256-GCM under a random key that exists only
in this process's memory), then streamed into the archive; an encrypted bundle is
encrypted as it streams, so no plaintext of an encrypted export ever touches the disk.
Exported files are 0600, folders 0700. The bundle is ``magic | u32 header length | header
JSON | AES-256-GCM(zip)`` with the key from the passphrase by scrypt, random salt and
nonce in the header, header authenticated. Secrets (store key, passphrases, source
settings and secrets, raw source payloads) are never read into an export.

This module raises :class:`ExportError` (one line) and returns data; the CLI and the app
format it.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import itertools
import json
import operator
import os
import queue
import re
import secrets
import shutil
import struct
import subprocess
import sys
import threading
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import IO, Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from recon_tui.model import canonical_amount
from recon_tui.services import sessions, verify, xlsx_stream
from recon_tui.services.runs import export_summary, recorded
from recon_tui.services.sessions import ScopedRecord, Session, iso
from recon_tui.store import Store, keys
from recon_tui.store import exports as reads
from recon_tui.store.audit import append, current_actor, entry_hash, head
from recon_tui.store.db import Connection
from recon_tui.store.errors import StoreKeyError
from recon_tui.store.sessions import accepted_from_rows

FORMAT = "recon-tui.session-export"
VERSION = 2
PASSPHRASE_ENV = "RECON_TUI_EXPORT_PASSPHRASE"
BUNDLE_MAGIC = b"RTUIXB01"
BUNDLE_FORMAT = "recon-tui.encrypted-export"
BUNDLE_SUFFIX = ".rtbundle"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MAX_HEADER = 64 * 1024
_CHUNK = 1 << 20


class ExportError(ValueError):
    """An export (or opening a bundle) failed; the message is one line."""


class ExportRefused(ExportError):
    """The session is not closed; ``unresolved`` lists what still needs a decision."""

    def __init__(self, session: Session, unresolved: list[ScopedRecord]) -> None:
        self.session = session
        self.unresolved = unresolved
        what = (f"{len(unresolved):,} unresolved item(s)" if unresolved
                else "nothing unresolved; close it first")  # fmt: skip
        super().__init__(
            f"session {session.id} is {session.state} ({what}); "
            f"export it with --force to write a draft"
        )


@dataclass(slots=True)
class ExportResult:
    path: Path
    files: list[str]
    draft: bool
    encrypted: bool
    zipped: bool
    unresolved: int
    audit_head: dict[str, Any]
    manifest_sha256: str
    session: Session = field(repr=False)
    snapshot: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        kind = ("an encrypted bundle" if self.encrypted else "a zip archive" if self.zipped
                else "a folder")
        draft = f"DRAFT ({self.unresolved:,} unresolved) " if self.draft else ""
        return (f"Exported {draft}session {self.session.id} '{self.session.name}' as {kind}: "
                f"{self.path} ({len(self.files)} files, audit head "
                f"{self.audit_head['seq']}:{self.audit_head['hash'][:12]})")  # fmt: skip


# --- columns ---------------------------------------------------------------------------

MEMBER_FIELDS = (
    "record_id", "side", "in_scope", "source", "account", "external_id", "kind", "ts", "asset",
    "amount", "fee", "fee_asset", "status", "booking_date", "value_date", "reference",
    "counterparty", "txid", "memo",
)  # fmt: skip
GROUP_FIELDS = (
    "group_id", "pair", "kind", "state", "origin", "rule", "score", "decided_by", "decided_at",
    "reason", "note",
)  # fmt: skip
DECISION_FIELDS = (
    "seq", "at", "at_us", "actor", "actor_kind", "action", "pair", "group_id", "record_ids",
    "session_id", "before", "after", "reason", "note", "prev_hash", "hash",
)  # fmt: skip
SUMMARY_FIELDS = (
    "pair", "asset", "left_count", "left_total", "right_count", "right_total", "difference",
    "adjustments", "explained", "explained_count", "outside_period", "unadjusted",
    "unresolved_count",
)  # fmt: skip
UNRESOLVED_FIELDS = ("record_id", "pair", "side", "source", "account", "external_id", "kind",
                     "ts", "asset", "amount", "state")  # fmt: skip
ADJUSTMENT_FIELDS = ("group_id", "pair", "kind", "asset", "amount", "note")
# One header for group and member columns: both have a "kind", so name them apart.
MEMBER_HEADER = (*("group_kind" if k == "kind" else k for k in GROUP_FIELDS),
                 *("record_kind" if k == "kind" else k for k in MEMBER_FIELDS))  # fmt: skip
NUMBER_COLUMNS = frozenset({
    "score", "amount", "fee", "left_total", "right_total", "difference", "adjustments",
    "explained", "outside_period", "unadjusted",
})  # fmt: skip
"""Columns whose values are numbers: a value that is exactly a decimal stays as it is."""
_NUMERIC_COPY = ("left_total", "right_total", "difference", "adjustments", "explained",
                 "outside_period", "unadjusted")  # fmt: skip


# --- cells -----------------------------------------------------------------------------

_TRIGGERS = frozenset("=+-@\t\r")
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?\Z")


def safe_cell(value: Any, numeric: bool = False) -> Any:
    """A value as a spreadsheet cell: booleans as ``true``/``false``; text a spreadsheet
    would run as a formula gets a leading ``'`` (OWASP), except an exact decimal number
    in a number column (``-12.50`` is an amount, not a formula)."""
    if value.__class__ is str:
        if value and value[0] in _TRIGGERS and not (numeric and _DECIMAL.match(value)):
            return "'" + value
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    return value


def _cells(row: list[Any], numeric: tuple[bool, ...]) -> list[Any]:
    return [safe_cell(v, n) for v, n in zip(row, numeric, strict=True)]


def _flags(header: tuple[str, ...]) -> tuple[bool, ...]:
    return tuple(h in NUMBER_COLUMNS for h in header)


def _adjustments(text: str | None) -> list[dict[str, Any]]:
    return [
        {"kind": str(a.get("kind", "")), "asset": str(a["asset"]),
         "amount": canonical_amount(Decimal(str(a["amount"]))), "note": a.get("note")}
        for a in (json.loads(text) if text else []) or []
        if isinstance(a, dict) and "asset" in a and "amount" in a
    ]  # fmt: skip


def decision_hash(d: dict[str, Any]) -> str:
    """Recompute an exported decision's hash (what an auditor does with ``decisions.csv``)."""
    content = (d["seq"], d["at_us"], d["actor"], d["actor_kind"], d["action"], d["pair"],
               d["group_id"], d["record_ids"], d["session_id"], d["before"], d["after"],
               d["reason"], d["note"])  # fmt: skip
    return entry_hash(d["prev_hash"], content)


# --- output streams --------------------------------------------------------------------


class _Sink(io.RawIOBase):
    """A file being written: counts and hashes its plaintext; optionally encrypts it
    (AES-256-GCM, the tag appended on close) before it reaches ``raw``."""

    def __init__(self, raw: IO[bytes], key: bytes | None = None, nonce: bytes = b"",
                 aad: bytes = b"") -> None:  # fmt: skip
        super().__init__()
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0
        self._enc = None
        if key is not None:
            self._enc = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
            if aad:
                self._enc.authenticate_additional_data(aad)

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = b if isinstance(b, bytes) else memoryview(b).cast("B")
        self.sha256.update(data)
        self.size += len(data)
        self._raw.write(self._enc.update(data) if self._enc is not None else data)
        return len(data)

    def finish(self) -> None:
        """Finish the cipher (the tag) and flush; the caller closes ``raw``."""
        if self._enc is not None:
            self._raw.write(self._enc.finalize() + self._enc.tag)
            self._enc = None
        self._raw.flush()


class _SinkThread(_Sink):
    """A :class:`_Sink` whose hashing, sealing and writing happen in a thread of its own:
    the exporting thread hands each chunk over (a copy: the caller's buffer is reused) and
    goes on formatting, while SHA-256, AES-GCM and the write to disk, which let go of the
    GIL, run beside it (~7% of the exporting thread before). At most a few chunks wait;
    an error of the writing is raised at the next write or at :meth:`finish`, and
    :meth:`abort` stops the thread without writing what is left."""

    def __init__(self, raw: IO[bytes], key: bytes | None = None, nonce: bytes = b"") -> None:
        super().__init__(raw, key, nonce)
        self._queue: queue.Queue[bytes | None] = queue.Queue(8)
        self._failed: BaseException | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="export-sink", daemon=True)
        self._thread.start()

    def write(self, b: Any) -> int:
        if self._failed is not None:
            raise self._failed
        if self._stopped:
            raise ValueError("write to an export file that was given up")
        data = bytes(b)
        self._queue.put(data)
        return len(data)

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._failed is None:
                try:
                    _Sink.write(self, data)
                except BaseException as exc:  # raised in the exporting thread
                    self._failed = exc

    def _stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._queue.put(None)
            self._thread.join()

    def finish(self) -> None:
        self._stop()
        if self._failed is not None:
            raise self._failed
        super().finish()

    def abort(self) -> None:
        """Stop the thread (the file is being thrown away)."""
        self._stop()


def _open_private(path: Path) -> IO[bytes]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    return os.fdopen(fd, "wb", buffering=_CHUNK)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _Staging:
    """The files of one export as they are written: plain in the partial folder (a folder
    export) or sealed under a key held only in memory (a zip or a bundle, assembled after)."""

    def __init__(self, folder: Path, sealed: bool) -> None:
        self.folder = folder
        self.key = AESGCM.generate_key(bit_length=256) if sealed else None
        self.files: dict[str, tuple[int, str, bytes]] = {}  # name -> (bytes, sha256, nonce)

    @contextlib.contextmanager
    def binary(self, name: str) -> Iterator[IO[bytes]]:
        nonce = secrets.token_bytes(12) if self.key is not None else b""
        with _open_private(self.folder / name) as raw:
            sink = _SinkThread(raw, self.key, nonce)
            try:
                buffered = io.BufferedWriter(sink, _CHUNK)
                yield buffered
                buffered.flush()
                sink.finish()
            finally:
                sink.abort()
            os.fsync(raw.fileno())
        self.files[name] = (sink.size, sink.sha256.hexdigest(), nonce)

    @contextlib.contextmanager
    def text(self, name: str) -> Iterator[IO[str]]:
        with self.binary(name) as b:
            t = io.TextIOWrapper(b, encoding="utf-8", newline="", write_through=False)
            yield t
            t.flush()
            t.detach()

    def read(self, name: str) -> Iterator[bytes]:
        """The plaintext of a staged file, in chunks (sealed ones checked at the end)."""
        size, _, nonce = self.files[name]
        with open(self.folder / name, "rb") as f:
            if self.key is None:
                while chunk := f.read(_CHUNK):
                    yield chunk
                return
            dec = Cipher(algorithms.AES(self.key), modes.GCM(nonce)).decryptor()
            left = size
            while left > 0:
                chunk = f.read(min(_CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                yield dec.update(chunk)
            tag = f.read(16)
            try:
                dec.finalize_with_tag(tag)
            except (InvalidTag, ValueError):
                raise ExportError(f"the staged {name} changed on disk while exporting") from None


# --- the document ----------------------------------------------------------------------


def _sum(amounts: str | None) -> Decimal:
    """Exact sum of comma-joined decimal texts (amounts never hold a comma)."""
    return sum(map(Decimal, amounts.split(",")), Decimal(0)) if amounts else Decimal(0)


def _gather(conn: Connection, session: Session, *, actor: str, draft: bool,
            generated_at: str) -> dict[str, Any]:  # fmt: skip
    """Stage the scope and compute everything of ``session.json`` except its big arrays."""
    scope = session.scope
    reads.stage_scope(conn, [(p.name, p.left, p.right) for p in scope.pairs], scope.start_us,
                      scope.end_us, session.id)  # fmt: skip
    reads.stage_decisions(conn, session.id)
    pairs = {p.name for p in scope.pairs}
    zero = Decimal(0)
    acc: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    in_scope = unresolved = 0
    for pair, side, asset, n, not_matched, amounts in reads.scope_totals(conn):
        a, c = acc[(pair, asset)], counts[(pair, asset)]
        total = _sum(amounts)
        in_scope += n
        if side == "L":
            a["left_total"] += total
            c["left_count"] += n
        else:
            a["right_total"] += total
            c["right_count"] += n
        c["unresolved"] += not_matched
        unresolved += not_matched
    for pair, kind, side, asset, member_in_scope, n, amounts in reads.member_totals(conn):
        if pair not in pairs:
            continue
        total = _sum(amounts)
        signed = total if side == "L" else -total
        if member_in_scope:
            if kind == "explained":
                acc[(pair, asset)]["explained"] += signed
                counts[(pair, asset)]["explained_count"] += n
        elif kind == "match":
            acc[(pair, asset)]["outside_period"] += signed
    for _gid, pair, _kind, adj in reads.group_adjustments(conn):
        for item in _adjustments(adj):
            acc[(pair, item["asset"])]["adjustments"] += Decimal(item["amount"])
    by_pair: list[dict[str, Any]] = []
    by_asset: dict[str, dict[str, Any]] = {}
    for (pair, asset), a in sorted(acc.items()):
        c = counts[(pair, asset)]
        diff = a["left_total"] - a["right_total"]
        row = {
            "pair": pair, "asset": asset, "left_count": c["left_count"],
            "left_total": a["left_total"], "right_count": c["right_count"],
            "right_total": a["right_total"], "difference": diff,
            "adjustments": a["adjustments"], "explained": a["explained"],
            "explained_count": c["explained_count"], "outside_period": a["outside_period"],
            "unadjusted": diff - a["adjustments"] + a["outside_period"] - a["explained"],
            "unresolved_count": c["unresolved"],
        }  # fmt: skip
        by_pair.append(row)
        b = by_asset.setdefault(asset, {"asset": asset})
        for k, v in row.items():
            if k not in ("pair", "asset"):
                b[k] = b.get(k, 0 if isinstance(v, int) else zero) + v

    def money(r: dict[str, Any]) -> dict[str, Any]:
        return {k: canonical_amount(v) if isinstance(v, Decimal) else v for k, v in r.items()}

    group_counts = reads.group_counts(conn)
    matched = sum(n for _, _, k, n in group_counts if k != "explained")
    explained = sum(n for _, _, k, n in group_counts if k == "explained")
    by_decider: dict[tuple[str, str, str], int] = defaultdict(int)
    for decided_by, origin, kind, n in group_counts:
        by_decider[(decided_by or "", origin, kind)] += n
    explained_ids = reads.explained_in_scope(conn)
    decision_counts, last = reads.decision_counts(conn)
    h_seq, h_hash = head(conn)
    return {
        "format": FORMAT,
        "version": VERSION,
        "generated_at": generated_at,
        "generated_by": actor,
        "draft": draft,
        "session": {
            "id": session.id, "name": session.name, "owner": session.owner,
            "state": session.state, "pairs": [
                {"name": p.name, "left": p.left.label(), "right": p.right.label()}
                for p in scope.pairs
            ],
            "period": {"start": iso(scope.start_us), "end": iso(scope.end_us)},
            "as_of": iso(scope.as_of_us), "opened_at": iso(session.opened_us),
            "closed_at": iso(session.closed_us),
            "reopened": int(session.summary.get("reopened", 0)),
        },
        "audit": {"entries": h_seq, "head_seq": h_seq, "head_hash": h_hash,
                  "session_head": {"seq": last[0], "hash": last[1]} if last else None},
        "summary": {
            "records": {"in_scope": in_scope,
                        "matched": in_scope - unresolved - explained_ids,
                        "explained": explained_ids, "unresolved": unresolved},
            "groups": {"matched": matched, "explained": explained,
                       # Auto means confirmed by the engine itself; an engine suggestion
                       # that an operator confirmed counts as the operator's decision.
                       "auto": sum(n for d, _, _, n in group_counts if d == "engine"),
                       "manual": sum(n for d, _, _, n in group_counts if d != "engine")},
            "by_pair": [money(r) for r in by_pair],
            "by_asset": [money(b) for _, b in sorted(by_asset.items())],
            "decisions_by_actor": [
                {"actor": a, "actor_kind": k, "action": act, "count": n}
                for a, k, act, n in decision_counts
            ],
            "groups_by_decider": [
                {"decided_by": a, "origin": o, "kind": k, "count": n}
                for (a, o, k), n in sorted(by_decider.items())
            ],
            "accepted_differences": _accepted(conn, session),  # version 2
        },
    }  # fmt: skip


def _accepted(conn: Connection, session: Session) -> dict[str, Any]:
    """:func:`recon_tui.services.sessions.accepted` of the staged scope: frozen at the close
    for a closed session, else from the staged groups (:func:`reads.accepted_groups`; the
    store's own query walks the scope's records again, ~1.4 s of a 500k-record export)."""
    close = session.summary.get("close") if session.closed else None
    if close and "accepted_differences" in close:
        return sessions.accepted(conn, session)
    return accepted_from_rows(reads.accepted_groups(conn))


class _JsonDoc:
    """``session.json`` written as it goes: small parts indented, big arrays one item a
    line (the items are compact JSON bytes, see :func:`_dumps`)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self._first_key = True
        self._items = 0

    def _key(self, key: str) -> None:
        self.out.write((("{\n" if self._first_key else ",\n") + f"  {json.dumps(key)}: ")
                       .encode("utf-8"))  # fmt: skip
        self._first_key = False

    def value(self, key: str, value: Any) -> None:
        self._key(key)
        text = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        self.out.write(text.encode("utf-8"))

    def begin(self, key: str) -> None:
        self._key(key)
        self.out.write(b"[")
        self._items = 0

    def items(self, items: list[bytes]) -> None:
        """Items that are JSON bytes already."""
        if not items:
            return
        self.out.write(b"\n    " if self._items == 0 else b",\n    ")
        self.out.write(b",\n    ".join(items))
        self._items += len(items)

    def end(self) -> None:
        self.out.write(b"\n  ]" if self._items else b"]")

    def close(self) -> None:
        self.out.write(b"\n}\n")


def _dumps(value: Any) -> bytes:
    """Compact JSON, text verbatim (UTF-8, not ``\\u`` escapes): byte for byte what SQLite's
    ``json_object`` and ``json.dumps(ensure_ascii=False, separators=(",", ":"))`` write for
    these values (ints, text, booleans, null), at a tenth of the cost."""
    return orjson.dumps(value)


def schema_text() -> bytes:
    return resources.files("recon_tui").joinpath("export_schema.json").read_bytes()


INT_COLUMNS = frozenset({
    "group_id", "record_id", "seq", "at_us", "session_id", "left_count", "right_count",
    "explained_count", "unresolved_count",
})  # fmt: skip
"""Columns of whole numbers: written to the workbook as numbers."""
_ROWS = 4_096  # rows per CSV chunk (and per hand-over to the workbook)
_XLSX_CHILD_ENV = "RECON_TUI_EXPORT_XLSX_INPROCESS"
"""Set to 1 to build the workbook in a thread of the exporting process (no child)."""


def _ints(header: tuple[str, ...]) -> list[int]:
    return [i for i, h in enumerate(header) if h in INT_COLUMNS]


def _child_command() -> list[str]:
    """The workbook child: this Python, isolated (``-I``: neither the working directory nor
    ``PYTHON*`` variables on its path, so a ``recon_tui`` folder where the user stands
    cannot stand in for ours), importing this very package."""
    root = str(Path(__file__).resolve().parents[2])
    code = (f"import sys; sys.path.insert(0, {root!r}); "
            "from recon_tui.services.xlsx_stream import main; main()")  # fmt: skip
    return [sys.executable, "-I", "-c", code]


def _child_env() -> dict[str, str]:
    """The workbook child's environment: nothing of ours (no passphrase or key variable
    reaches it; it needs none). The child inherits no open file either (``close_fds``), so
    not the store's lock."""
    return {k: os.environ[k] for k in ("PATH", "SYSTEMROOT", "LANG", "LC_ALL") if k in os.environ}


class _Sheets:
    """The workbook, built from the CSV text of the tables as it is written (see
    :func:`recon_tui.services.xlsx_stream.build`).

    By default in a child process (:func:`_child_command`): turning
    half a million rows into cell XML and deflating it is as much work as everything else
    of the export, and a process of its own runs it on the second core. The messages go to
    it through a pipe and the workbook's bytes come back through one, into ``stream`` (the
    staged file: hashed, and sealed when the export is), so nothing of it touches the disk
    in plaintext. Where no child can be started, a thread does the same work here."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._queue: queue.Queue[bytes | tuple[str, Any] | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._disk_error: OSError | None = None  # writing the staged file failed
        self._proc: subprocess.Popen[bytes] | None = None
        threads: list[threading.Thread] = []
        if (os.environ.get(_XLSX_CHILD_ENV) != "1" and sys.executable
                and not getattr(sys, "frozen", False)):  # fmt: skip
            with contextlib.suppress(OSError):
                self._proc = subprocess.Popen(
                    _child_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, env=_child_env(),
                )  # fmt: skip
        if self._proc is not None:
            threads = [threading.Thread(target=self._feed, name="export-workbook-in"),
                       threading.Thread(target=self._drain, name="export-workbook-out")]
        else:
            threads = [threading.Thread(target=self._build_here, name="export-workbook")]
        self._threads = threads
        for t in threads:
            t.daemon = True
            t.start()

    # -- transports
    def _feed(self) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        pipe = self._proc.stdin
        ended = False  # the end (None) taken off the queue: nothing more will come
        try:
            while (msg := self._queue.get()) is not None:
                assert isinstance(msg, bytes)
                pipe.write(msg)
            ended = True
            pipe.close()  # may flush into a child that is gone (an abort killed it)
        except BaseException as exc:  # the child died: the reader reports why
            self._error = self._error or exc
            while not ended and self._queue.get() is not None:
                pass

    def _drain(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        out = self._proc.stdout
        try:
            while chunk := out.read(_CHUNK):
                try:
                    self._stream.write(chunk)
                except OSError as exc:  # e.g. the disk is full: stop the child
                    self._disk_error = exc
                    self._proc.kill()
                    return
        except BaseException as exc:
            self._error = self._error or exc

    def _build_here(self) -> None:
        ended = [False]  # the end (None) taken off the queue: nothing more will come

        def recv() -> tuple[str, Any]:
            msg = self._queue.get()
            if msg is None:
                ended[0] = True
                raise EOFError("the export gave up")
            assert isinstance(msg, tuple)
            return msg

        def drain() -> None:
            while not ended[0] and self._queue.get() is not None:
                pass

        wb = xlsx_stream.Workbook(self._stream)
        try:
            xlsx_stream.build(recv, wb)
        except OSError as exc:  # writing the staged file
            self._disk_error = exc
            wb.abort()
            drain()
        except BaseException as exc:  # handed to the writer at close
            self._error = self._error or exc
            wb.abort()
            drain()

    # -- the writer's side
    @property
    def remote(self) -> bool:
        """Whether the workbook is built in a child (CSV text goes to it as UTF-8)."""
        return self._proc is not None

    def send(self, op: str, arg: Any = None) -> None:
        self._queue.put(xlsx_stream.frame(op, arg) if self._proc is not None else (op, arg))

    def sheet(self, name: str, header: tuple[str, ...] = (), copies: tuple[int, ...] = (),
              widths: dict[int, float] | None = None, freeze: bool = True) -> None:  # fmt: skip
        self.send("sheet", {"name": name, "header": list(header), "ints": _ints(header),
                            "copies": list(copies), "widths": widths, "freeze": freeze})  # fmt: skip

    def close(self) -> None:
        self.send("close")
        self._queue.put(None)
        for t in self._threads:
            t.join()
        why = ""
        if self._proc is not None:
            code = self._proc.wait()
            assert self._proc.stderr is not None
            lines = self._proc.stderr.read().decode("utf-8", "replace").strip().splitlines()
            self._proc.stderr.close()
            if code != 0:  # the child's own last line says why (a broken pipe here does not)
                why = lines[-1] if lines else f"the workbook's process ended with status {code}"
        if self._disk_error is not None:
            raise self._disk_error  # reported like any other write of the export
        if not why and isinstance(self._error, BrokenPipeError):
            why = "the workbook's process ended before the export did"
        elif not why and self._error is not None:
            why = str(self._error) or type(self._error).__name__
        if why:
            raise ExportError(f"writing workbook.xlsx failed: {why}")

    def abort(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.kill()
        with contextlib.suppress(queue.Full):
            while True:  # make room, then tell the feeding thread to stop
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._queue.put(None, timeout=5)
        for t in self._threads:
            t.join(timeout=30)
        if self._proc is not None:
            with contextlib.suppress(Exception):
                self._proc.wait(timeout=30)
            for pipe in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
                if pipe is not None:
                    with contextlib.suppress(Exception):
                        pipe.close()


class _Csv:
    """One table going out as a CSV file and a workbook sheet: lines are buffered, written
    in chunks, and the same text goes to the workbook. The big tables' lines come made by
    SQL (:func:`recon_tui.store.exports.csv_line`, what ``csv.writer`` writes); rows of
    values (the small tables, and a big table's rows that are neutralised) go through the
    csv module here (:meth:`add`)."""

    def __init__(self, out: IO[bytes], sheets: _Sheets, name: str, header: tuple[str, ...],
                 extra: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.out = out
        self.sheets = sheets
        self.buf = io.StringIO()
        self.writer = csv.writer(self.buf)
        out.write(self.format(header).encode("utf-8"))
        sheets.sheet(name.capitalize(), header, tuple(header.index(h) for h in extra))
        self.lines: list[str] = []

    def format(self, fields: Any) -> str:
        """One row of values as its CSV line (the csv module's own)."""
        self.writer.writerow(fields)
        text = self.buf.getvalue()
        self.buf.seek(0)
        self.buf.truncate()
        return text

    def add(self, fields: Any) -> None:
        self.line(self.format(fields))

    def line(self, text: str) -> None:
        self.lines.append(text)
        if len(self.lines) >= _ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.lines:
            return
        text = "".join(self.lines)
        self.lines = []
        data = text.encode("utf-8")
        self.out.write(data)
        self.sheets.send("csv", data if self.sheets.remote else text)


def _neutralise(values: tuple[Any, ...], numeric: tuple[bool, ...]) -> tuple[Any, ...]:
    return tuple(safe_cell(v, n) for v, n in zip(values, numeric, strict=True))


_MEMBER_NUMERIC = _flags(MEMBER_FIELDS)
_GROUP_NUMERIC = _flags(GROUP_FIELDS)
_UNRESOLVED_NUMERIC = _flags(UNRESOLVED_FIELDS)
_DECISION_NUMERIC = _flags(DECISION_FIELDS)
_GROUP_KEYS = (*GROUP_FIELDS, "adjustments", "members")
_BY_SIDE_TIME_ID = operator.itemgetter(2, 8, 1)  # side, ts_us, record id of a member row


class _ReadAhead:
    """The rows of a store read, fetched a batch ahead by a thread of their own while this
    one formats the batch before: SQLite's stepping and decrypting lets go of the GIL, so
    the reading (~5 s of the 500k-record export) overlaps the formatting instead of
    alternating with it. At most ``depth`` batches wait (a few MB); the rows come in
    their order, an error of the read is raised here, and :meth:`close` (always called,
    see :func:`_read_ahead`) stops the thread before the connection can go."""

    def __init__(self, rows: Iterator[Any], depth: int = 2, batch: int = _ROWS) -> None:
        self._queue: queue.Queue[list[Any] | BaseException] = queue.Queue(depth)
        self._batch = batch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(rows,), daemon=True,
                                        name="export-read")  # fmt: skip
        self._thread.start()

    def _put(self, item: list[Any] | BaseException) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, rows: Iterator[Any]) -> None:
        try:
            while True:
                batch = list(itertools.islice(rows, self._batch))
                if not self._put(batch) or not batch:
                    return
        except BaseException as exc:  # raised in the reading thread by __iter__
            self._put(exc)

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if isinstance(item, BaseException):
                raise item
            if not item:
                return
            yield from item

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:  # make room for a put in progress
                self._queue.get_nowait()
        self._thread.join()


@contextlib.contextmanager
def _read_ahead(rows: Iterator[Any], batch: int = _ROWS) -> Iterator[Iterator[Any]]:
    ahead = _ReadAhead(rows, batch=batch)
    try:
        yield iter(ahead)
    finally:
        ahead.close()


def _write_all(conn: Connection, staging: _Staging, doc: dict[str, Any]) -> int:
    """Write every file of the export into ``staging``; returns the unresolved count."""
    counter = [0]
    with staging.binary("workbook.xlsx") as xf:
        sheets = _Sheets(xf)
        try:
            with staging.binary("session.json") as jf:
                _write_tables(conn, staging, doc, sheets, _JsonDoc(jf), counter)
            sheets.close()
        except BaseException:
            sheets.abort()
            raise
    with staging.binary("export_schema.json") as f:
        f.write(schema_text())
    return counter[0]


def _write_groups(conn: Connection, staging: _Staging, sheets: _Sheets, j: _JsonDoc,
                  kind: str, name: str, adjustments: list[list[Any]]) -> None:  # fmt: skip
    """One group kind: a JSON item per group (its members inside, by side, time and id)
    and a CSV row per member (the group's columns, then the member's)."""
    items: list[bytes] = []
    keys = MEMBER_FIELDS
    numeric = _MEMBER_NUMERIC
    grouped = _grouped(reads.group_members(conn, kind), reads.groups(conn, kind))
    with (staging.binary(f"{name}.csv") as cf,
          _read_ahead(grouped, batch=_ROWS // 2) as ahead):  # fmt: skip
        table = _Csv(cf, sheets, name, MEMBER_HEADER)
        lines = table.lines
        for g, rows in ahead:
            gid = g[0]
            gcsv = g[:11]
            adj = _adjustments(g[11]) if g[11] else []
            for a in adj:
                adjustments.append([gid, g[1], a["kind"], a["asset"], a["amount"],
                                    a.get("note")])  # fmt: skip
            gjson = dict(zip(_GROUP_KEYS, (*gcsv, adj, None), strict=False))
            gline = None if g[12] else g[13]  # the group's columns as the line's start
            if g[12]:
                gcsv = _neutralise(gcsv, _GROUP_NUMERIC)
            objs = []
            for m in rows:
                mcsv = (m[1], m[2], "true" if m[3] else "false", m[4], m[5], m[6], m[7],
                        m[21], *m[9:20])  # fmt: skip
                obj = dict(zip(keys, mcsv, strict=False))  # (strict costs a check a row)
                obj["in_scope"] = m[3] == 1
                objs.append(obj)
                if gline is not None and not m[20]:
                    # Made by SQL as csv.writer would (see reads.group_members).
                    lines.append("".join((gline, m[22], "true," if m[3] else "false,", m[23],
                                          m[21], m[24])))  # fmt: skip
                else:  # something to neutralise: the csv module writes the cells
                    lines.append(table.format(gcsv + (_neutralise(mcsv, numeric) if m[20]
                                                      else mcsv)))  # fmt: skip
            gjson["members"] = objs
            items.append(_dumps(gjson))
            if len(items) >= _ROWS:
                j.items(items)
                items = []
                table.flush()
                lines = table.lines
        j.items(items)
        table.flush()


def _grouped(members: Iterator[tuple[Any, ...]], groups: Iterator[tuple[Any, ...]]
             ) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:  # fmt: skip
    """(group row, its member rows by side, time and id) per group that has members, in
    group id order: both reads merged on the reading thread, so the connection is only
    ever used by one thread at a time."""
    pending = next(members, None)
    for g in groups:
        gid = g[0]
        rows = []
        while pending is not None and pending[0] <= gid:
            if pending[0] == gid:
                rows.append(pending)
            pending = next(members, None)
        if not rows:
            continue  # a group without members shows nowhere (as ever)
        if len(rows) > 1:
            rows.sort(key=_BY_SIDE_TIME_ID)
        yield g, rows


def _write_rows(staging: _Staging, sheets: _Sheets, j: _JsonDoc, name: str,
                header: tuple[str, ...], numeric: tuple[bool, ...],
                rows: Iterator[tuple[Any, ...]],
                shape: Callable[[tuple[Any, ...]], tuple[Any, ...]]) -> int:  # fmt: skip
    """A flat table (unresolved records, decisions): ``shape`` turns a store row into the
    table's fields, which go to the JSON array as an object, the CSV and the sheet."""
    items: list[bytes] = []
    n = 0
    with staging.binary(f"{name}.csv") as cf, _read_ahead(rows) as ahead:
        table = _Csv(cf, sheets, name, header)
        for row in ahead:
            fields = shape(row)
            items.append(_dumps(dict(zip(header, fields, strict=True))))
            if row[-2]:  # something to neutralise: the csv module writes the cells
                table.add(_neutralise(fields, numeric))
            else:
                table.line(row[-1])  # made by SQL as csv.writer would
            n += 1
            if len(items) >= _ROWS:
                j.items(items)
                items = []
        j.items(items)
        table.flush()
    return n


def _write_tables(conn: Connection, staging: _Staging, doc: dict[str, Any], sheets: _Sheets,
                  j: _JsonDoc, counter: list[int]) -> None:  # fmt: skip
    pair_names = [p["name"] for p in doc["session"]["pairs"]]
    for key in ("format", "version", "generated_at", "generated_by", "draft", "session",
                "audit", "summary"):  # fmt: skip
        j.value(key, doc[key])
    s = doc["session"]
    sheets.sheet("Session", widths={0: 22, 1: 70}, freeze=False)
    sheets.send("rows", [[k, safe_cell(str(v))] for k, v in [
        ("Session", f"{s['id']} {s['name']}"), ("State", s["state"]),
        ("Draft", "yes" if doc["draft"] else "no"), ("Owner", s["owner"]),
        ("Pairs", ", ".join(p["name"] for p in s["pairs"])),
        ("Period start (incl.)", s["period"]["start"]),
        ("Period end (excl.)", s["period"]["end"]), ("As of", s["as_of"]),
        ("Opened", s["opened_at"]), ("Closed", s["closed_at"] or ""),
        ("Generated", doc["generated_at"]), ("Generated by", doc["generated_by"]),
        ("Audit head", f"{doc['audit']['head_seq']}:{doc['audit']['head_hash']}"),
        ("Amounts", "exact decimal text; the Summary sheet adds numeric copies (≈) for sums"),
    ]])  # fmt: skip
    adjustments: list[list[Any]] = []
    for key, kind in (("groups", "match"), ("explained", "explained")):
        j.begin(key)
        _write_groups(conn, staging, sheets, j, kind, key, adjustments)
        j.end()
    with staging.binary("adjustments.csv") as cf:
        small = _Csv(cf, sheets, "adjustments", ADJUSTMENT_FIELDS)
        for values in adjustments:
            small.add(_cells(values, _flags(ADJUSTMENT_FIELDS)))
        small.flush()
    with staging.binary("summary.csv") as cf:
        extra = tuple(h for h in SUMMARY_FIELDS if h in _NUMERIC_COPY)
        small = _Csv(cf, sheets, "summary", SUMMARY_FIELDS, extra)
        flags = _flags(SUMMARY_FIELDS)
        for r in doc["summary"]["by_pair"]:
            small.add(_cells([r.get(k) for k in SUMMARY_FIELDS], flags))
        for r in doc["summary"]["by_asset"]:
            small.add(_cells(["*", *(r.get(k) for k in SUMMARY_FIELDS[1:])], flags))
        small.flush()
    j.begin("unresolved")
    counter[0] = _write_rows(
        staging, sheets, j, "unresolved", UNRESOLVED_FIELDS, _UNRESOLVED_NUMERIC,
        reads.unresolved(conn, pair_names),
        operator.itemgetter(slice(0, 11)),
    )  # fmt: skip
    j.end()
    j.begin("decisions")
    _write_rows(staging, sheets, j, "decisions", DECISION_FIELDS, _DECISION_NUMERIC,
                reads.decisions(conn), operator.itemgetter(slice(0, 16)))  # fmt: skip
    j.end()
    j.close()


def _manifest(doc: dict[str, Any], staging: _Staging, snapshot: dict[str, Any]) -> bytes:
    manifest = {
        "format": FORMAT, "version": VERSION, "generated_at": doc["generated_at"],
        "session_id": doc["session"]["id"], "session_state": doc["session"]["state"],
        "draft": doc["draft"], "audit_head": {"seq": doc["audit"]["head_seq"],
                                              "hash": doc["audit"]["head_hash"]},
        "session_head": doc["audit"]["session_head"],
        "snapshot": snapshot,
        "files": [{"name": n, "bytes": size, "sha256": sha}
                  for n, (size, sha, _) in sorted(staging.files.items())],
    }  # fmt: skip
    return (json.dumps(manifest, indent=2) + "\n").encode("utf-8")


def check_manifest(folder: Path) -> list[str]:
    """Files whose SHA-256 differs from the manifest (or are missing); [] when intact."""
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    bad = []
    for f in manifest["files"]:
        p = folder / f["name"]
        if not p.is_file() or _file_sha256(p) != f["sha256"]:
            bad.append(f["name"])
    return bad


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# --- partial folders ---------------------------------------------------------------------


def _partial_name(final: Path, pid: int) -> str:
    return f".{final.name}.{pid}.partial"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(final: Path) -> list[Path]:
    """Remove what killed exports to ``final`` left beside it (``.<name>.*.partial``
    whose writer is gone); returns what was removed."""
    removed: list[Path] = []
    parent = final.parent
    if not parent.is_dir():
        return removed
    prefix = f".{final.name}."
    for p in parent.iterdir():
        if not (p.name.startswith(prefix) and p.name.endswith(".partial")):
            continue
        middle = p.name[len(prefix) : -len(".partial")]
        if middle.isdigit() and _alive(int(middle)):
            continue  # an export running now
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
        removed.append(p)
    return removed


def _refuse_existing(final: Path) -> None:
    if final.exists() or final.is_symlink():
        raise ExportError(f"{final} already exists; choose another --out")


# --- archives and bundles ----------------------------------------------------------------


def _kdf(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _bundle_prefix(passphrase: str) -> tuple[bytes, bytes, bytes]:
    """(prefix, key, nonce) of a new bundle: magic, header length, header."""
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = json.dumps({
        "format": BUNDLE_FORMAT, "version": 1, "cipher": "AES-256-GCM", "kdf": "scrypt",
        "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "content": "zip",
        "salt": base64.b64encode(salt).decode(), "nonce": base64.b64encode(nonce).decode(),
    }, separators=(",", ":")).encode()  # fmt: skip
    prefix = BUNDLE_MAGIC + struct.pack(">I", len(header)) + header
    return prefix, _kdf(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P), nonce


def encrypt_bundle(payload: bytes, passphrase: str) -> bytes:
    """A whole bundle in memory (small payloads; the export streams instead)."""
    if not passphrase:
        raise ExportError("an encrypted export needs a passphrase")
    prefix, key, nonce = _bundle_prefix(passphrase)
    return prefix + AESGCM(key).encrypt(nonce, payload, prefix)


def _zip_into(raw: IO[bytes], staging: _Staging, root: str, names: list[str]) -> None:
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name in names:
            info = zipfile.ZipInfo(f"{root}/{name}", date_time=(2000, 1, 1, 0, 0, 0))
            # The workbook is a zip already: storing it is as small and costs nothing.
            info.compress_type = (zipfile.ZIP_STORED if name.endswith(".xlsx")
                                  else zipfile.ZIP_DEFLATED)  # fmt: skip
            info.external_attr = 0o600 << 16
            with z.open(info, "w", force_zip64=True) as entry:
                for chunk in staging.read(name):
                    entry.write(chunk)


def decrypt_bundle_bytes(blob: bytes, passphrase: str) -> bytes:
    damaged = ExportError("not a recon-tui export bundle, or it is damaged")
    if not blob.startswith(BUNDLE_MAGIC) or len(blob) < len(BUNDLE_MAGIC) + 4:
        raise damaged
    (n,) = struct.unpack(">I", blob[8:12])
    if n > MAX_HEADER or len(blob) < 12 + n:
        raise damaged
    prefix = blob[: 12 + n]
    try:
        h = json.loads(blob[12 : 12 + n])
        if h.get("format") != BUNDLE_FORMAT or h.get("cipher") != "AES-256-GCM":
            raise damaged
        salt, nonce = base64.b64decode(h["salt"]), base64.b64decode(h["nonce"])
        params = int(h["n"]), int(h["r"]), int(h["p"])
    except (ValueError, KeyError, TypeError):
        raise damaged from None
    try:  # refuse absurd or malformed KDF costs from a crafted header, in one line
        params = keys.check_scrypt(*(h["n"], h["r"], h["p"]), "bundle header")
    except StoreKeyError as exc:
        raise ExportError(str(exc)) from None
    key = _kdf(passphrase, salt, *params)
    try:
        return AESGCM(key).decrypt(nonce, blob[12 + n :], prefix)
    except InvalidTag:
        raise ExportError("wrong passphrase, or the bundle was altered") from None


def open_bundle(bundle: Path, out: Path, passphrase: str) -> Path:
    """Decrypt ``bundle`` into the new folder ``out`` (atomically); returns ``out``."""
    try:
        blob = Path(bundle).read_bytes()
    except OSError as exc:
        raise ExportError(f"cannot read {bundle}: {exc.strerror or exc}") from None
    payload = decrypt_bundle_bytes(blob, passphrase)
    del blob
    out = Path(out)
    _refuse_existing(out)
    remove_stale_partials(out)

    def fill(folder: Path) -> None:
        try:
            with zipfile.ZipFile(io.BytesIO(payload)) as z:
                for info in z.infolist():
                    if info.is_dir():
                        continue
                    name = info.filename.split("/", 1)[-1]
                    if not name or "/" in name or "\\" in name or name in (".", ".."):
                        raise ExportError(
                            f"the bundle holds an unexpected path {info.filename!r}")
                    with z.open(info) as src, _open_private(folder / name) as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
                        dst.flush()
                        os.fsync(dst.fileno())
        except zipfile.BadZipFile:
            raise ExportError("the bundle's content is damaged") from None

    _publish(out, fill)
    return out


def _publish(final: Path, fill: Callable[[Path], None]) -> None:
    """Fill a new partial folder and rename it to ``final``; removed on any failure."""
    parent = final.parent
    work: Path | None = None
    try:
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        work = parent / _partial_name(final, os.getpid())
        os.mkdir(work, 0o700)
        fill(work)
        _fsync_dir(work)
        os.replace(work, final)
        work = None
        _fsync_dir(parent)
    except OSError as exc:
        raise ExportError(f"could not write {final}: {exc.strerror or exc}") from None
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


# --- the export itself -----------------------------------------------------------------


def default_name(session: Session, draft: bool) -> str:
    return f"recon-session-{session.id}{'-DRAFT' if draft else ''}"


@recorded("export", scope=lambda a: f"session:{a['session_id']}", summary=export_summary)
def export_session(
    store: Store,
    session_id: int | str,
    out: Path | None = None,
    *,
    zip_archive: bool = False,
    encrypt: bool = False,
    passphrase: str | None = None,
    force: bool = False,
    actor: str | None = None,
) -> ExportResult:
    """Export a session. A session that is not closed is refused (:class:`ExportRefused`,
    listing what is unresolved) unless ``force``, which writes a draft.

    ``out`` is the final path (folder, ``.zip`` or bundle); an existing directory receives
    the default name inside it; ``None`` means the current directory. The store is read in
    one snapshot and is never locked against writers while the files are built.
    """
    actor = actor or current_actor()
    if encrypt and not passphrase:
        raise ExportError("an encrypted export needs a passphrase")
    try:
        with reads.snapshots(store) as (conn, twin):
            session = sessions.get_session(conn, session_id)
            # The chain, and the tables against the logs: only the rows after the verified
            # watermark walked in full (recon_tui.store.watermark), the tables against all;
            # on the twin connection (the same snapshot) beside the writing, and nothing is
            # published (nor recorded) unless it passed.
            check = _AuditCheck(twin if twin is not None else conn, background=twin is not None)
            try:
                target, draft, snap, doc, box = _export(
                    store, conn, session, out, check, zip_archive=zip_archive,
                    encrypt=encrypt, passphrase=passphrase, force=force, actor=actor)  # fmt: skip
            except ExportError:
                check.require()  # a store that disagrees with its log says so first
                raise
            except BaseException:
                check.stop()
                raise
            audit = check.require()
    except sessions.SessionError as exc:
        raise ExportError(str(exc)) from None
    manifest_sha = hashlib.sha256(box["manifest"]).hexdigest()
    with store.tx() as wconn:  # who exported what, bound to the chain: one short write
        append(wconn, "session_export", actor=actor, session_id=session.id,
               after={"manifest_sha256": manifest_sha, "draft": draft, "encrypted": encrypt,
                      "files": len(box["files"]), "audit_head": doc["audit"]["head_seq"],
                      "store_rev": snap["store_rev"]})  # fmt: skip
    verify.keep_watermark(store, audit)  # the next export starts where this check ended
    return ExportResult(
        path=target, files=box["files"], draft=draft, encrypted=encrypt, zipped=zip_archive,
        unresolved=box["unresolved"], manifest_sha256=manifest_sha,
        audit_head={"seq": doc["audit"]["head_seq"], "hash": doc["audit"]["head_hash"]},
        session=session, snapshot=snap,
    )  # fmt: skip


class _AuditCheck:
    """The store's audit check (``verify_all(full=False)``) of the export's snapshot: in a
    thread of its own on the twin connection (:func:`recon_tui.store.exports.snapshots`),
    so its SQL, most of it outside the GIL, runs beside the export's formatting instead of
    before it (~6 s of the 500k-record export), or at once on the export's own connection
    when there is no twin. :meth:`require` waits for it and refuses the export on any
    problem; the export calls it before anything is published."""

    def __init__(self, conn: Connection, *, background: bool) -> None:
        self._conn = conn
        self._report: verify.AuditReport | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="export-audit", daemon=True)
            self._thread.start()
        else:
            self._run()

    def _run(self) -> None:
        try:
            self._report = sessions.verify_all(self._conn, full=False)
        except BaseException as exc:  # raised in the exporting thread by require()
            self._error = exc

    def require(self) -> verify.AuditReport:
        """The passing report; :class:`ExportError` when the store disagrees with its log."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        audit = self._report
        assert audit is not None
        if not audit.ok:
            first = audit.problem if audit.broken_at is not None else audit.state_problems[0]
            raise ExportError(f"export refused: the store disagrees with its audit trail "
                              f"({first}); run 'recon-tui verify'")  # fmt: skip
        return audit

    def stop(self) -> None:
        """The export gave up: interrupt the check's SQL and wait for its thread (the
        connection is closed next)."""
        if self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._conn.interrupt()
            self._thread.join()


def _export(store: Store, conn: Connection, session: Session, out: Path | None,
            check: _AuditCheck, *, zip_archive: bool, encrypt: bool, passphrase: str | None,
            force: bool, actor: str) -> tuple[Path, bool, dict[str, Any], dict[str, Any],
                                              dict[str, Any]]:  # fmt: skip
    """The files of one export, published once ``check`` passed; returns (target, draft,
    snapshot, document, what was written)."""
    draft = session.state != "closed"
    if draft and not force:
        raise ExportRefused(session, sessions.unresolved(conn, session))
    name = default_name(session, draft)
    suffix = BUNDLE_SUFFIX if encrypt else ".zip" if zip_archive else ""
    target = Path(out) if out is not None else Path.cwd() / (name + suffix)
    if target.is_dir():
        target = target / (name + suffix)
    _refuse_existing(target)
    remove_stale_partials(target)
    generated = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    h_seq, h_hash = head(conn)
    snap = {"audit_seq": h_seq, "audit_hash": h_hash,
            "store_rev": reads.store_rev(conn), "read_at": generated,
            "consistent": "one read transaction"}  # fmt: skip
    doc = _gather(conn, session, actor=actor, draft=draft, generated_at=generated)
    box: dict[str, Any] = {}
    if encrypt or zip_archive:
        _archive(target, conn, doc, snap, box, name, passphrase if encrypt else None,
                 check.require)  # fmt: skip
    else:
        _folder(target, conn, doc, snap, box, check.require)
    return target, draft, snap, doc, box


def _folder(target: Path, conn: Connection, doc: dict[str, Any], snap: dict[str, Any],
            box: dict[str, Any], gate: Callable[[], object]) -> None:  # fmt: skip
    def fill(work: Path) -> None:
        staging = _Staging(work, sealed=False)
        box["unresolved"] = _write_all(conn, staging, doc)
        box["manifest"] = _manifest(doc, staging, snap)
        with _open_private(work / "manifest.json") as f:
            f.write(box["manifest"])
            f.flush()
            os.fsync(f.fileno())
        box["files"] = sorted([*staging.files, "manifest.json"])
        gate()  # the audit check passed, or nothing is renamed into place

    _publish(target, fill)


def _archive(target: Path, conn: Connection, doc: dict[str, Any], snap: dict[str, Any],
             box: dict[str, Any], root: str, passphrase: str | None,
             gate: Callable[[], object]) -> None:  # fmt: skip
    """A zip (or, with a passphrase, an encrypted bundle of one) at ``target``: files
    staged sealed in the partial folder, then streamed into the archive there."""
    parent = target.parent
    work: Path | None = None
    try:
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        work = parent / _partial_name(target, os.getpid())
        os.mkdir(work, 0o700)
        staging = _Staging(work, sealed=True)
        box["unresolved"] = _write_all(conn, staging, doc)
        box["manifest"] = _manifest(doc, staging, snap)
        with staging.binary("manifest.json") as f:
            f.write(box["manifest"])
        names = sorted(staging.files)
        box["files"] = names
        with _open_private(work / "archive") as raw:
            key: bytes | None = None
            nonce = prefix = b""
            if passphrase is not None:
                prefix, key, nonce = _bundle_prefix(passphrase)
                raw.write(prefix)
            sink = _Sink(raw, key, nonce, prefix)
            buffered = io.BufferedWriter(sink, _CHUNK)
            _zip_into(buffered, staging, root, names)
            buffered.flush()
            sink.finish()
            os.fsync(raw.fileno())
        gate()  # the audit check passed, or nothing is renamed into place
        os.replace(work / "archive", target)
        _fsync_dir(parent)
    except OSError as exc:
        raise ExportError(f"could not write {target}: {exc.strerror or exc}") from None
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
