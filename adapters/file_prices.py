"""Close prices from a CSV file (``base, quote, ts, interval, close``) into ``Batch.prices``.

For valuing movements when no exchange gives prices (OTC desks, an auditor's rate table).
Columns are mapped like the other CSV sources (``<field>_column``); ``base``, ``quote``
and ``interval`` may instead be fixed by settings for a file that holds one pair. ``ts``
is the start of the interval: ISO-8601 with a zone, or a bare date (00:00 UTC).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from adapters import file_util as fu
from adapters.base import Adapter, Batch, Capabilities, PathOption, Setting
from recon_tui.model import Price, ValidationError, make_price

_FIELDS = ("base", "quote", "ts", "interval", "close")


class PriceCsvAdapter(Adapter):
    """A CSV of close prices."""

    kind = "prices-csv"
    label = "Prices (CSV)"
    SETTINGS = (
        PathOption("path", "Price file", required=True),
        Setting("encoding", "8-bit encoding", default="cp1252",
                help="Used only when the file is not UTF-8"),
        Setting("delimiter", "Delimiter", default="", help="Empty: detect"),
        Setting("decimal", "Decimal mark", default=".", choices=(".", ",")),
        Setting("base", "Base asset", help="When the file has no base column"),
        Setting("quote", "Quote asset", help="When the file has no quote column"),
        Setting("interval", "Interval", help="When the file has no interval column",
                choices=("1h", "1d")),
        *(Setting(f"{f}_column", f"Column for {f}", default=f) for f in _FIELDS),
    )
    capabilities = Capabilities(fields=frozenset(), paging="file", prices=True)

    def batches(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        data, name = fu.read_bytes(self.source, self.settings.get("path"))
        text, _ = fu.decode_auto(self.source, name, data,
                                 str(self.settings.get("encoding") or "cp1252"))
        if not text.strip():
            raise self.error(name, "file is empty")
        cols = {f: str(self.settings.get(f"{f}_column") or f) for f in _FIELDS}
        fixed = {f: self.settings.get(f) for f in ("base", "quote", "interval")}
        # interval may be absent altogether: daily closes are the common case
        want = [cols[f] for f in _FIELDS if not fixed.get(f) and f != "interval"]
        table = fu.read_csv_table(
            self.source, name, text, delimiter=str(self.settings.get("delimiter") or ""),
            want_columns=want, header_search=1,
        )
        c = fu.Columns(self.source, table)
        pos = {f: (None if fixed.get(f) else c.position(cols[f])) for f in _FIELDS
               if f != "interval"}
        has_interval = not fixed.get("interval") and cols["interval"].lower() in c.index
        pos["interval"] = c.position(cols["interval"]) if has_interval else None
        prices = []
        seen: dict[tuple[str, str, str, datetime], int] = {}
        for line, row in table.rows:
            where = f"{name}:line {line}"
            try:
                p = self._price(row, c, pos, fixed)
            except ValidationError as exc:
                raise fu.fail(self.source, where, exc) from None
            key = (p.base, p.quote, p.interval, p.ts)
            if key in seen:
                raise self.error(where, f"duplicate price for {p.base}/{p.quote} {p.interval} "
                                        f"at {p.ts.isoformat()} (first at line {seen[key]})")
            seen[key] = line
            prices.append(p)
        yield from fu.file_batches(name, fu.sha256(data), [], cursor, prices=prices)

    def _price(
        self, row: list[str], c: fu.Columns, pos: dict[str, int | None], fixed: dict[str, Any]
    ) -> Price:
        def val(f: str) -> str | None:
            return str(fixed[f]) if fixed.get(f) else c.get(row, pos[f])

        ts_raw = val("ts")
        if not ts_raw:
            raise ValidationError("ts", "missing")
        if len(ts_raw) == 10:
            ts: Any = fu.midnight_utc(fu.parse_date(ts_raw, "ts", ["%Y-%m-%d"]))
        else:
            ts = ts_raw
            if "T" in ts_raw or " " in ts_raw:
                text = ts_raw[:-1] + "+00:00" if ts_raw.endswith("Z") else ts_raw
                try:
                    dt = datetime.fromisoformat(text)
                except ValueError:
                    raise ValidationError("ts", f"{ts_raw!r} is not ISO-8601") from None
                if dt.tzinfo is None:
                    raise ValidationError("ts", f"{ts_raw!r} has no timezone")
                ts = dt.astimezone(UTC)
        close_raw = val("close")
        if not close_raw:
            raise ValidationError("close", "missing")
        close = fu.parse_amount(close_raw, "close", str(self.settings.get("decimal") or "."))
        return make_price(
            base=val("base") or "", quote=val("quote") or "", ts=ts,
            interval=val("interval") or "1d", close=close, source=self.source,
        )
