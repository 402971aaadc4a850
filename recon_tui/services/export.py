"""Exports of reconciliation sessions: a folder, a zip archive, or an encrypted bundle.

An export holds, for one session (see :mod:`recon_tui.services.sessions`):

``session.json``      the whole export as one JSON document (``export_schema.json``)
``groups.csv``        matched groups, one row per member (source, external id, amounts)
``explained.csv``     explained breaks, one row per record, with reason and note
``adjustments.csv``   adjustments recorded on groups (fees, fx, write-offs…)
``summary.csv``       counts, totals and differences per pair and asset (pair ``*``: all)
``unresolved.csv``    in-scope records neither matched nor explained (drafts only)
``decisions.csv``     the session's decisions, with their chain hashes
``workbook.xlsx``     the same tables as sheets
``export_schema.json`` the JSON Schema of ``session.json``
``manifest.json``     SHA-256 of every other file and the audit-chain head

Money is exact decimal text everywhere (never floats); times are ISO-8601 UTC. Decision
rows carry ``record_ids``/``before``/``after`` as the exact JSON text that was hashed, so
an auditor can recompute each row's hash from the export alone (see :func:`decision_hash`).

Everything is built in memory and published atomically: files go to a temporary
directory (or file) beside the target, are fsynced, then renamed into place; any failure
removes the temporary and leaves nothing under the final name. ``encrypt`` writes only an
encrypted bundle (AES-256-GCM, key from the passphrase by scrypt, random salt and nonce
in the bundle header, header authenticated) — no plaintext touches the disk. Secrets
(store key, passphrases, source settings and secrets, raw source payloads) are never read
into an export.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import json
import os
import secrets
import shutil
import struct
import tempfile
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from recon_tui.model import canonical_amount
from recon_tui.services import sessions
from recon_tui.services.runs import export_summary, recorded
from recon_tui.services.sessions import ScopedRecord, Session, SessionError, iso
from recon_tui.store import Store
from recon_tui.store.audit import append, current_actor, entry_hash, head
from recon_tui.store.audit import verify as verify_chain
from recon_tui.store.db import Connection

FORMAT = "recon-tui.session-export"
VERSION = 1
PASSPHRASE_ENV = "RECON_TUI_EXPORT_PASSPHRASE"
BUNDLE_MAGIC = b"RTUIXB01"
BUNDLE_FORMAT = "recon-tui.encrypted-export"
BUNDLE_SUFFIX = ".rtbundle"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MAX_HEADER = 64 * 1024


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

    def line(self) -> str:
        kind = ("an encrypted bundle" if self.encrypted else "a zip archive" if self.zipped
                else "a folder")
        draft = f"DRAFT ({self.unresolved:,} unresolved) " if self.draft else ""
        return (f"Exported {draft}session {self.session.id} '{self.session.name}' as {kind}: "
                f"{self.path} ({len(self.files)} files, audit head "
                f"{self.audit_head['seq']}:{self.audit_head['hash'][:12]})")  # fmt: skip


# --- gathering -------------------------------------------------------------------------

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


def _score(v: float | None) -> str | None:
    # Scores are not money, but the document carries no floats at all: keep it uniform.
    return None if v is None else format(Decimal(repr(v)).normalize(), "f")


def _members(conn: Connection, gids: list[int], in_scope: set[int],
             ) -> dict[int, list[dict[str, Any]]]:  # fmt: skip
    out: dict[int, list[dict[str, Any]]] = {g: [] for g in gids}
    for part in sessions._chunks(gids):
        marks = ", ".join("?" * len(part))
        for row in conn.execute(
            "SELECT m.group_id, m.side, r.id, r.source, r.account, r.external_id, r.kind, "
            "r.ts_us, r.asset, r.amount, r.fee, r.fee_asset, r.status, r.booking_date, "
            "r.value_date, r.reference, r.counterparty, r.txid, r.memo FROM group_members m "
            f"JOIN records r ON r.id = m.record_id WHERE m.group_id IN ({marks}) "
            "ORDER BY m.group_id, m.side, r.ts_us, r.id", part,
        ):  # fmt: skip
            (gid, side, rid, source, account, ext, kind, ts_us, asset, amount, fee, fee_asset,
             status, booking, value, reference, counterparty, txid, memo) = row  # fmt: skip
            out[gid].append({
                "record_id": rid, "side": side, "in_scope": rid in in_scope, "source": source,
                "account": account, "external_id": ext, "kind": kind, "ts": iso(ts_us),
                "asset": asset, "amount": amount, "fee": fee, "fee_asset": fee_asset,
                "status": status, "booking_date": booking, "value_date": value,
                "reference": reference, "counterparty": counterparty, "txid": txid, "memo": memo,
            })  # fmt: skip
    return out


def _groups(conn: Connection, records: list[ScopedRecord]) -> list[dict[str, Any]]:
    """Confirmed groups (matches and explained breaks) with a member in scope."""
    in_scope = {r.id for r in records}
    pairs = {r.pair for r in records}
    gids: set[int] = set()
    for part in sessions._chunks(sorted(in_scope)):
        marks = ", ".join("?" * len(part))
        gids.update(g for (g,) in conn.execute(
            f"SELECT DISTINCT g.id FROM group_members m JOIN match_groups g ON g.id = m.group_id "
            f"WHERE m.record_id IN ({marks}) AND g.state = 'confirmed'", part))  # fmt: skip
    ordered = sorted(gids)
    members = _members(conn, ordered, in_scope)
    out = []
    for part in sessions._chunks(ordered):
        marks = ", ".join("?" * len(part))
        for row in conn.execute(
            "SELECT id, pair, kind, state, origin, rule, score, decided_by, decided_us, reason, "
            f"note, adjustments FROM match_groups WHERE id IN ({marks}) ORDER BY id", part,
        ):  # fmt: skip
            if row[1] not in pairs:
                continue
            adjustments = [
                {"kind": str(a.get("kind", "")), "asset": str(a["asset"]),
                 "amount": canonical_amount(Decimal(str(a["amount"]))),
                 "note": a.get("note")}
                for a in (json.loads(row[11]) if row[11] else []) or []
                if isinstance(a, dict) and "asset" in a and "amount" in a
            ]  # fmt: skip
            out.append({
                "group_id": row[0], "pair": row[1], "kind": row[2], "state": row[3],
                "origin": row[4], "rule": row[5], "score": _score(row[6]),
                "decided_by": row[7], "decided_at": iso(row[8]), "reason": row[9],
                "note": row[10], "adjustments": adjustments, "members": members[row[0]],
            })  # fmt: skip
    return out


def _decision_out(d: dict[str, Any], raw: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "seq": d["seq"], "at": iso(d["at_us"]), "at_us": d["at_us"], "actor": d["actor"],
        "actor_kind": d["actor_kind"], "action": d["action"], "pair": d["pair"],
        "group_id": d["group_id"], "record_ids": raw[0], "session_id": d["session_id"],
        "before": raw[1], "after": raw[2], "reason": d["reason"], "note": d["note"],
        "prev_hash": d["prev_hash"], "hash": d["hash"],
    }  # fmt: skip


def decision_hash(d: dict[str, Any]) -> str:
    """Recompute an exported decision's hash (what an auditor does with ``decisions.csv``)."""
    content = (d["seq"], d["at_us"], d["actor"], d["actor_kind"], d["action"], d["pair"],
               d["group_id"], d["record_ids"], d["session_id"], d["before"], d["after"],
               d["reason"], d["note"])  # fmt: skip
    return entry_hash(d["prev_hash"], content)


def _decisions(conn: Connection, session: Session) -> list[dict[str, Any]]:
    chosen = sessions.decisions_for(conn, session_id=session.id)
    raw: dict[int, tuple[Any, ...]] = {}
    seqs = [d["seq"] for d in chosen]
    for part in sessions._chunks(seqs):
        marks = ", ".join("?" * len(part))
        for seq, rids, before, after in conn.execute(
            f"SELECT seq, record_ids, before, after FROM decisions WHERE seq IN ({marks})", part
        ):
            raw[seq] = (rids, before, after)
    return [_decision_out(d, raw[d["seq"]]) for d in chosen]


def build_document(conn: Connection, session: Session, *, actor: str, draft: bool,
                   generated_at: str) -> dict[str, Any]:  # fmt: skip
    """The ``session.json`` document (see ``export_schema.json``)."""
    records = sessions.scope_records(conn, session.scope)
    groups = _groups(conn, records)
    decisions = _decisions(conn, session)
    balances = sessions.balances(conn, session, records)
    h_seq, h_hash = head(conn)
    open_items = [r for r in records if r.state != "matched"]
    matched = [g for g in groups if g["kind"] != "explained"]
    explained = [g for g in groups if g["kind"] == "explained"]
    explained_ids = {m["record_id"] for g in explained for m in g["members"] if m["in_scope"]}
    deciders: dict[tuple[str, str, str], int] = {}
    for d in decisions:
        key = (d["actor"], d["actor_kind"], d["action"])
        deciders[key] = deciders.get(key, 0) + 1
    by_decider: dict[tuple[str, str, str], int] = {}
    for g in groups:
        key = (g["decided_by"] or "", g["origin"], g["kind"])
        by_decider[key] = by_decider.get(key, 0) + 1
    scope = session.scope
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
                  "session_head": ({"seq": decisions[-1]["seq"], "hash": decisions[-1]["hash"]}
                                   if decisions else None)},
        "summary": {
            "records": {"in_scope": len(records),
                        "matched": len(records) - len(open_items) - len(explained_ids),
                        "explained": len(explained_ids), "unresolved": len(open_items)},
            "groups": {"matched": len(matched), "explained": len(explained),
                       # Auto means confirmed by the engine itself; an engine suggestion
                       # that an operator confirmed counts as the operator's decision.
                       "auto": sum(1 for g in groups if g["decided_by"] == "engine"),
                       "manual": sum(1 for g in groups if g["decided_by"] != "engine")},
            "by_pair": balances["by_pair"],
            "by_asset": balances["by_asset"],
            "decisions_by_actor": [
                {"actor": a, "actor_kind": k, "action": act, "count": n}
                for (a, k, act), n in sorted(deciders.items())
            ],
            "groups_by_decider": [
                {"decided_by": a, "origin": o, "kind": k, "count": n}
                for (a, o, k), n in sorted(by_decider.items())
            ],
        },
        "groups": matched,
        "explained": explained,
        "unresolved": [
            {"record_id": r.id, "pair": r.pair, "side": r.side, "source": r.source,
             "account": r.account, "external_id": r.external_id, "kind": r.kind,
             "ts": iso(r.ts_us), "asset": r.asset, "amount": canonical_amount(r.amount),
             "state": r.state}
            for r in open_items
        ],
        "decisions": decisions,
    }  # fmt: skip


# --- rendering -------------------------------------------------------------------------


def _csv(header: tuple[str, ...] | list[str], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for row in rows:
        w.writerow(["" if v is None else "true" if v is True else "false" if v is False else v
                    for v in row])  # fmt: skip
    return buf.getvalue().encode("utf-8")


def _tables(doc: dict[str, Any]) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """The CSV/XLSX tables of a document: name -> (header, rows)."""
    def member_rows(groups: list[dict[str, Any]]) -> list[list[Any]]:
        return [[*(g[k] for k in GROUP_FIELDS), *(m[k] for k in MEMBER_FIELDS)]
                for g in groups for m in g["members"]]  # fmt: skip

    summary = [[r.get(k) for k in SUMMARY_FIELDS] for r in doc["summary"]["by_pair"]]
    summary += [["*", *(r.get(k) for k in SUMMARY_FIELDS[1:])] for r in doc["summary"]["by_asset"]]
    unresolved_fields = ["record_id", "pair", "side", "source", "account", "external_id", "kind",
                         "ts", "asset", "amount", "state"]  # fmt: skip
    # One header for group and member columns: both have a "kind", so name them apart.
    header = [*("group_kind" if k == "kind" else k for k in GROUP_FIELDS),
              *("record_kind" if k == "kind" else k for k in MEMBER_FIELDS)]  # fmt: skip
    return {
        "groups": (header, member_rows(doc["groups"])),
        "explained": (header, member_rows(doc["explained"])),
        "adjustments": (["group_id", "pair", "kind", "asset", "amount", "note"], [
            [g["group_id"], g["pair"], a["kind"], a["asset"], a["amount"], a.get("note")]
            for g in doc["groups"] + doc["explained"] for a in g["adjustments"]
        ]),
        "summary": (list(SUMMARY_FIELDS), summary),
        "unresolved": (unresolved_fields,
                       [[u[k] for k in unresolved_fields] for u in doc["unresolved"]]),
        "decisions": (list(DECISION_FIELDS),
                      [[d[k] for k in DECISION_FIELDS] for d in doc["decisions"]]),
    }  # fmt: skip


_NUMERIC_COPY = ("left_total", "right_total", "difference", "adjustments", "explained",
                 "outside_period", "unadjusted")  # fmt: skip


def _xlsx(doc: dict[str, Any], tables: dict[str, tuple[list[str], list[list[Any]]]]) -> bytes:
    import xlsxwriter

    buf = io.BytesIO()
    # in_memory: xlsxwriter would otherwise stage plaintext parts in the system temp dir.
    options = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
               "strings_to_numbers": False}  # fmt: skip
    wb = xlsxwriter.Workbook(buf, options)
    bold = wb.add_format({"bold": True})
    s = doc["session"]
    info = wb.add_worksheet("Session")
    facts = [
        ("Session", f"{s['id']} {s['name']}"), ("State", s["state"]),
        ("Draft", "yes" if doc["draft"] else "no"), ("Owner", s["owner"]),
        ("Pairs", ", ".join(p["name"] for p in s["pairs"])),
        ("Period start (incl.)", s["period"]["start"]), ("Period end (excl.)", s["period"]["end"]),
        ("As of", s["as_of"]), ("Opened", s["opened_at"]), ("Closed", s["closed_at"] or ""),
        ("Generated", doc["generated_at"]), ("Generated by", doc["generated_by"]),
        ("Audit head", f"{doc['audit']['head_seq']}:{doc['audit']['head_hash']}"),
        ("Amounts", "exact decimal text; the Summary sheet adds numeric copies (≈) for sums"),
    ]  # fmt: skip
    for i, (k, v) in enumerate(facts):
        info.write_string(i, 0, k, bold)
        info.write_string(i, 1, str(v))
    info.set_column(0, 0, 22)
    info.set_column(1, 1, 70)
    for name, (header, rows) in tables.items():
        ws = wb.add_worksheet(name.capitalize())
        extra = [h for h in header if name == "summary" and h in _NUMERIC_COPY]
        for c, h in enumerate([*header, *(f"{h} (number)" for h in extra)]):
            ws.write_string(0, c, h, bold)
        for r, row in enumerate(rows, start=1):
            for c, v in enumerate(row):
                if v is None:
                    continue
                # Always strings: exact amounts, and no formula injection from source text.
                ws.write_string(r, c, v if isinstance(v, str) else json.dumps(v))
            for j, h in enumerate(extra):
                v = row[header.index(h)]
                if v is not None:
                    ws.write_number(r, len(header) + j, float(Decimal(v)))
        ws.freeze_panes(1, 0)
    wb.close()
    return buf.getvalue()


def schema_text() -> bytes:
    return resources.files("recon_tui").joinpath("export_schema.json").read_bytes()


def render(doc: dict[str, Any]) -> dict[str, bytes]:
    """All files of an export, ``manifest.json`` last (it lists the others' SHA-256)."""
    files: dict[str, bytes] = {
        "session.json": (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
    }
    tables = _tables(doc)
    for name, (header, rows) in tables.items():
        files[f"{name}.csv"] = _csv(header, rows)
    files["workbook.xlsx"] = _xlsx(doc, tables)
    files["export_schema.json"] = schema_text()
    manifest = {
        "format": FORMAT, "version": VERSION, "generated_at": doc["generated_at"],
        "session_id": doc["session"]["id"], "session_state": doc["session"]["state"],
        "draft": doc["draft"], "audit_head": {"seq": doc["audit"]["head_seq"],
                                              "hash": doc["audit"]["head_hash"]},
        "session_head": doc["audit"]["session_head"],
        "files": [{"name": n, "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                  for n, b in sorted(files.items())],
    }  # fmt: skip
    files["manifest.json"] = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    return files


def check_manifest(folder: Path) -> list[str]:
    """Files whose SHA-256 differs from the manifest (or are missing); [] when intact."""
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    bad = []
    for f in manifest["files"]:
        p = folder / f["name"]
        if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != f["sha256"]:
            bad.append(f["name"])
    return bad


# --- atomic publishing -----------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _refuse_existing(final: Path) -> None:
    if final.exists() or final.is_symlink():
        raise ExportError(f"{final} already exists; choose another --out")


def publish_folder(files: dict[str, bytes], final: Path) -> None:
    """Write ``files`` into a new folder ``final``, atomically."""
    _refuse_existing(final)
    parent = final.parent
    tmp: Path | None = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=parent))
        for name, data in files.items():
            _write_synced(tmp / name, data)
        _fsync_dir(tmp)
        os.replace(tmp, final)
        tmp = None
        _fsync_dir(parent)
    except OSError as exc:
        raise ExportError(f"could not write {final}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def publish_file(data: bytes, final: Path) -> None:
    """Write one file ``final`` atomically (temp file beside it, fsync, rename)."""
    _refuse_existing(final)
    parent = final.parent
    tmp: str | None = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        tmp = None
        _fsync_dir(parent)
    except OSError as exc:
        raise ExportError(f"could not write {final}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def zip_bytes(files: dict[str, bytes], root: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(f"{root}/{name}", date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            z.writestr(info, data)
    return buf.getvalue()


# --- encryption ------------------------------------------------------------------------


def _kdf(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def encrypt_bundle(payload: bytes, passphrase: str) -> bytes:
    """``magic | u32 header length | header JSON | AES-256-GCM(payload)``; the header
    (KDF parameters, salt, nonce) is authenticated as associated data."""
    if not passphrase:
        raise ExportError("an encrypted export needs a passphrase")
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = json.dumps({
        "format": BUNDLE_FORMAT, "version": 1, "cipher": "AES-256-GCM", "kdf": "scrypt",
        "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "content": "zip",
        "salt": base64.b64encode(salt).decode(), "nonce": base64.b64encode(nonce).decode(),
    }, separators=(",", ":")).encode()  # fmt: skip
    prefix = BUNDLE_MAGIC + struct.pack(">I", len(header)) + header
    key = _kdf(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return prefix + AESGCM(key).encrypt(nonce, payload, prefix)


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
    if not (2**10 <= params[0] <= 2**20 and params[1] <= 32 and params[2] <= 16):
        raise damaged  # refuse absurd KDF costs from a crafted header
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
    files: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as z:
            for info in z.infolist():
                if info.is_dir():
                    continue
                name = info.filename.split("/", 1)[-1]
                if not name or "/" in name or "\\" in name or name in (".", ".."):
                    raise ExportError(f"the bundle holds an unexpected path {info.filename!r}")
                files[name] = z.read(info)
    except zipfile.BadZipFile:
        raise ExportError("the bundle's content is damaged") from None
    publish_folder(files, Path(out))
    return Path(out)


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
    the default name inside it; ``None`` means the current directory.
    """
    actor = actor or current_actor()
    if encrypt and not passphrase:
        raise ExportError("an encrypted export needs a passphrase")
    with store.tx() as conn:  # one consistent snapshot (the write lock keeps writers out)
        session = sessions.get_session(conn, session_id)
        chain = verify_chain(conn)
        if not chain.ok:
            raise ExportError(f"the audit trail is broken at decision {chain.broken_at} "
                              f"({chain.problem}); run 'recon-tui verify'")  # fmt: skip
        draft = session.state != "closed"
        if draft and not force:
            raise ExportRefused(session, sessions.unresolved(conn, session))
        from datetime import UTC, datetime

        generated = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        doc = build_document(conn, session, actor=actor, draft=draft, generated_at=generated)
    files = render(doc)
    name = default_name(session, draft)
    suffix = BUNDLE_SUFFIX if encrypt else ".zip" if zip_archive else ""
    target = Path(out) if out is not None else Path.cwd() / (name + suffix)
    if target.is_dir():
        target = target / (name + suffix)
    if encrypt:
        assert passphrase is not None
        publish_file(encrypt_bundle(zip_bytes(files, name), passphrase), target)
    elif zip_archive:
        publish_file(zip_bytes(files, name), target)
    else:
        publish_folder(files, target)
    manifest_sha = hashlib.sha256(files["manifest.json"]).hexdigest()
    with store.tx() as conn:  # who exported what, bound to the chain
        append(conn, "session_export", actor=actor, session_id=session.id,
               after={"manifest_sha256": manifest_sha, "draft": draft, "encrypted": encrypt,
                      "files": len(files), "audit_head": doc["audit"]["head_seq"]})  # fmt: skip
    return ExportResult(
        path=target, files=sorted(files), draft=draft, encrypted=encrypt, zipped=zip_archive,
        unresolved=len(doc["unresolved"]), manifest_sha256=manifest_sha,
        audit_head={"seq": doc["audit"]["head_seq"], "hash": doc["audit"]["head_hash"]},
        session=session,
    )  # fmt: skip


# --- command line ----------------------------------------------------------------------


def _passphrase(confirm: bool) -> str:
    from recon_tui.store import keys

    try:
        return keys.ask_passphrase("Export passphrase: ", env=PASSPHRASE_ENV, confirm=confirm)
    except Exception as exc:  # KeyUnavailable: no terminal and no env
        raise ExportError(str(exc)) from None


def cli_export(
    c: Any, session: str | None, decrypt_path: Path | None, out: Path | None, encrypt: bool,
    *, zip_archive: bool = False, force: bool = False,
) -> None:  # fmt: skip
    """``recon-tui export``: one line on success, one ``error:`` line (exit 1) on failure."""
    import click

    if decrypt_path is not None:
        if session is not None or encrypt or zip_archive or force:
            raise click.UsageError("--decrypt takes only a bundle and --out")
        if out is None:
            raise click.UsageError("--decrypt needs --out DIR (a new folder)")
        path = open_bundle(decrypt_path, out, _passphrase(confirm=False))
        bad = check_manifest(path)
        if bad:
            raise ExportError(f"opened into {path}, but {', '.join(bad)} do not match the manifest")
        n = len(json.loads((path / "manifest.json").read_text("utf-8"))["files"])
        click.echo(f"Opened {decrypt_path} into {path} ({n + 1} files, manifest checks out).")
        return
    if session is None:
        raise click.UsageError("give a SESSION id (see 'recon-tui session list') or --decrypt")
    passphrase = _passphrase(confirm=True) if encrypt else None
    try:
        result = export_session(c.store(), session, out, zip_archive=zip_archive,
                                encrypt=encrypt, passphrase=passphrase, force=force)  # fmt: skip
    except ExportRefused as exc:
        for r in exc.unresolved[:20]:
            click.echo("  unresolved " + r.line())
        if len(exc.unresolved) > 20:
            click.echo(f"  … and {len(exc.unresolved) - 20:,} more")
        raise
    except SessionError as exc:
        raise ExportError(str(exc)) from None
    click.echo(result.line())
