"""The company's internal ledger, from a CSV or JSON Lines export.

Columns (CSV) or keys (JSONL) are mapped to canonical fields by settings named
``<field>_column`` (default: the field's own name, so an export with columns ``id, ts,
account, kind, asset, amount, ...`` needs no mapping). Every other column or key goes to
``attrs``. Internal kinds can be renamed to canonical ones with ``kind_map``
(``customer_deposit=deposit, sweep=transfer``).

External id: the ledger's own ``id`` (required and unique: the ledger is the system of
record, so a missing or repeated id is an error, never guessed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters import file_util as fu
from adapters.base import Adapter, Batch, Capabilities, ListOption, PathOption, Setting, TextOption
from recon_tui.model import Record, ValidationError, make_record

FIELDS = (
    "id", "ts", "account", "kind", "asset", "amount", "fee", "fee_asset", "status",
    "counterparty", "reference", "memo", "txid",
)
_REQUIRED = ("id", "ts", "kind", "asset", "amount")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


class LedgerAdapter(Adapter):
    """An export of the internal ledger (CSV or JSON Lines)."""

    kind = "ledger"
    label = "Internal ledger (CSV / JSON Lines)"
    SETTINGS = (
        PathOption("path", "Ledger export", required=True),
        Setting("format", "Format", default="auto", choices=("auto", "csv", "jsonl")),
        Setting("encoding", "8-bit encoding", default="cp1252",
                help="Used only when the file is not UTF-8"),
        Setting("delimiter", "Delimiter (CSV)", default="", help="Empty: detect"),
        Setting("decimal", "Decimal mark (CSV)", default=".", choices=(".", ",")),
        Setting("timezone", "Timezone of naive timestamps", default="UTC"),
        ListOption("kind_map", "Kind renames", help="ledger_kind=canonical_kind, ..."),
        TextOption("default_kind", "Kind when the export has no kind column",
                   help="e.g. transfer; rows with a kind keep theirs"),
        *(Setting(f"{f}_column", f"Column for {f}", default=f) for f in FIELDS),
    )
    capabilities = Capabilities(
        fields=frozenset({"account", "fee", "counterparty", "reference", "memo", "txid"}),
        paging="file",
    )

    def __init__(
        self, source: str, settings: dict[str, Any], secrets: dict[str, str] | None = None
    ) -> None:
        super().__init__(source, settings, secrets)
        try:
            self.tz = ZoneInfo(str(self.settings.get("timezone") or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            tz = self.settings["timezone"]
            raise self.error("timezone", f"unknown timezone '{tz}'") from None
        self.kind_map: dict[str, str] = {}
        for pair in self.settings.get("kind_map") or []:
            left, sep, right = pair.partition("=")
            if not sep or not left.strip() or not right.strip():
                raise self.error("kind_map", f"'{pair}' is not ledger_kind=canonical_kind")
            self.kind_map[left.strip().lower()] = right.strip().lower()
        self.colmap = {f: str(self.settings.get(f"{f}_column") or f).strip() for f in FIELDS}

    def batches(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        data, name = fu.read_bytes(self.source, self.settings.get("path"))
        text, _ = fu.decode_auto(self.source, name, data,
                                 str(self.settings.get("encoding") or "cp1252"))
        if not text.strip():
            raise self.error(name, "file is empty")
        fmt = str(self.settings.get("format") or "auto")
        if fmt == "auto":
            fmt = "jsonl" if name.lower().endswith((".jsonl", ".ndjson", ".json")) else "csv"
        rows = self._jsonl_rows(name, text) if fmt == "jsonl" else self._csv_rows(name, text)
        ids = fu.UniqueIds(self.source)
        records: list[Record] = []
        for line, row in rows:
            where = f"{name}:line {line}"
            try:
                rec = self._record(row)
            except ValidationError as exc:
                raise fu.fail(self.source, where, exc) from None
            ids.check(rec.external_id, where)
            records.append(rec)
        yield from fu.file_batches(name, fu.sha256(data), records, cursor)

    # -- readers: both give (line, {column: value}) ----------------------------------------

    def _csv_rows(self, name: str, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
        want = [self.colmap[f] for f in _REQUIRED
                if not (f == "kind" and self.settings.get("default_kind"))]
        table = fu.read_csv_table(
            self.source, name, text, delimiter=str(self.settings.get("delimiter") or ""),
            want_columns=want, header_search=1,
        )
        head = table.header or []
        for line, row in table.rows:
            if len(row) != len(head):
                raise self.error(
                    f"{name}:line {line}", f"has {len(row)} columns, the header has {len(head)}"
                )
            yield line, dict(zip(head, row, strict=True))

    def _jsonl_rows(self, name: str, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
        for n, raw in enumerate(text.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
            except (ValueError, RecursionError) as exc:
                hint = " (truncated line?)" if n == text.count("\n") + 1 else ""
                raise self.error(f"{name}:line {n}", f"invalid JSON: {exc}{hint}") from None
            if not isinstance(obj, dict):
                got = type(obj).__name__
                raise self.error(f"{name}:line {n}", f"expected an object, got {got}")
            yield n, obj

    # -- mapping -----------------------------------------------------------------------------

    def _value(self, row: dict[str, Any], f: str) -> Any:
        v = row.get(self.colmap[f])
        if isinstance(v, str):
            v = v.strip()
            return v or None
        return v

    def _amount(self, row: dict[str, Any], f: str) -> Decimal | None:
        v = self._value(row, f)
        if v is None:
            return None
        if isinstance(v, str):
            return fu.parse_amount(v, f, str(self.settings.get("decimal") or "."))
        if isinstance(v, bool) or not isinstance(v, int | Decimal):
            raise ValidationError(f, f"{type(v).__name__} is not an amount")
        return Decimal(v)

    def _ts(self, row: dict[str, Any]) -> datetime:
        v = self._value(row, "ts")
        if v is None:
            raise ValidationError("ts", "missing")
        if isinstance(v, bool) or isinstance(v, Decimal):
            raise ValidationError("ts", f"{v!r} is not a timestamp")
        if isinstance(v, int) or (isinstance(v, str) and re.fullmatch(r"\d{9,13}", v)):
            secs = int(v)
            secs = secs / 1000 if secs > 10**11 else secs  # milliseconds export
            return datetime.fromtimestamp(secs, UTC)
        if not isinstance(v, str):
            raise ValidationError("ts", f"{type(v).__name__} is not a timestamp")
        text = v[:-1] + "+00:00" if v.endswith("Z") else v
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError("ts", f"{v!r} is not an ISO-8601 timestamp") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self.tz)  # the export's documented zone
        return dt.astimezone(UTC)

    def _record(self, row: dict[str, Any]) -> Record:
        ext = self._value(row, "id")
        if ext is None:
            raise ValidationError("id", "missing")
        if not isinstance(ext, str | int) or isinstance(ext, bool):
            raise ValidationError("id", f"{type(ext).__name__} is not an id")
        kind = self._value(row, "kind")
        if kind is None and self.settings.get("default_kind"):
            kind = str(self.settings["default_kind"])
        if not isinstance(kind, str):
            raise ValidationError("kind", "missing" if kind is None else "must be text")
        kind = self.kind_map.get(kind.lower(), kind.lower())
        amount = self._amount(row, "amount")
        if amount is None:
            raise ValidationError("amount", "missing")
        texts: dict[str, Any] = {}
        for f in ("account", "asset", "fee_asset", "status", "counterparty", "reference",
                  "memo", "txid"):
            v = self._value(row, f)
            if isinstance(v, bool) or (v is not None and not isinstance(v, str | int)):
                raise ValidationError(f, f"{type(v).__name__} is not text")
            texts[f] = None if v is None else str(v)
        mapped = set(self.colmap.values())
        attrs = {k: v for k, v in row.items() if k not in mapped and v not in (None, "")}
        return make_record(
            source=self.source,
            external_id=str(ext),
            kind=kind,
            ts=self._ts(row),
            amount=amount,
            fee=self._amount(row, "fee"),
            attrs=attrs,
            **{k: v for k, v in texts.items() if k != "status"},
            status=texts["status"] or "booked",
        )

