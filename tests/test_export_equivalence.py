"""The streamed export's big tables equal, byte for byte, what the SQL-formatted export
wrote before it (the oracle below is that implementation's SQL, kept verbatim): every CSV
file, and every item of session.json's groups, explained, unresolved and decisions arrays,
on demo stores whose text holds formulas, quotes, commas, newlines, control characters,
edge whitespace, non-ASCII, ``#R#``/``%s`` and a 40,000-character value; and the
workbook's cells equal the CSV's."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from recon_tui.services import export, sessions
from recon_tui.services.export import _adjustments
from recon_tui.store import exports as reads
from tests.sessionkit import PAIR, closed_session, demo_store, world_period

HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-3+4", "@SUM(A1)", "\tTAB", "\rCR",
           " lead", "trail ", 'a, "quoted"\nline', "ctl\x01\x02char\x1f", "uni ü € 𝄞 \u2028 nbsp\u00a0",
           'back\\slash "q" /', "amp & <lt> >gt #R# %s %d", "-12.50", "x" * 40_000, "", "\n",
           "tab\tin", "\x7f del", "[1,2]", "{\"a\": 1}"]  # fmt: skip


def _poison(store) -> None:  # type: ignore[no-untyped-def]
    ids = [r for (r,) in store.conn.execute("SELECT id FROM records ORDER BY id")]
    n = len(HOSTILE)
    with store.tx() as conn:
        for i, rid in enumerate(ids):
            conn.execute("UPDATE records SET memo = ?, counterparty = ?, reference = ? "
                         "WHERE id = ?", (HOSTILE[i % n], HOSTILE[(i + 3) % n],
                                          HOSTILE[(i + 7) % n] or None, rid))  # fmt: skip


# --- the oracle: the SQL that formatted the big tables before (kept verbatim) ------------

_TRIGGERS = "(61, 43, 45, 64, 9, 13)"  # = + - @ tab CR


def _is_decimal(x: str) -> str:
    body = f"(CASE WHEN {x} GLOB '-*' THEN substr({x}, 2) ELSE {x} END)"
    return (f"({body} GLOB '[0-9]*' AND {body} NOT GLOB '*[^0-9.]*' "
            f"AND {body} NOT GLOB '*.*.*' AND {body} NOT GLOB '*.')")  # fmt: skip


def _neutral(x: str, numeric: bool) -> str:
    cond = f"unicode({x}) IN {_TRIGGERS}"
    if numeric:
        cond += f" AND NOT {_is_decimal(x)}"
    return f"(CASE WHEN {cond} THEN char(39) || {x} ELSE {x} END)"


_XML_SPECIAL = "'*[&<>#]*'"


def _xml_text(x: str) -> str:
    # Excel keeps at most 32,767 characters of a cell; most text needs no escaping at all.
    return (f"(CASE WHEN {x} NOT GLOB {_XML_SPECIAL} AND length({x}) <= 32767 THEN {x} "
            f"ELSE replace(replace(replace(replace(substr({x}, 1, 32767), '&', '&amp;'), '<', "
            f"'&lt;'), '>', '&gt;'), '#', '&#35;') END)")  # fmt: skip


def iso_sql(x: str) -> str:
    """SQL for ``sessions.iso`` of a µs timestamp (``…Z``, µs only when not zero)."""
    return (f"(CASE WHEN {x} IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S', "
            f"{x} / 1000000 - ({x} % 1000000 < 0), 'unixepoch') || CASE WHEN {x} % 1000000 = 0 "
            f"THEN '' ELSE printf('.%06d', ({x} % 1000000 + 1000000) % 1000000) END || 'Z' END)")  # fmt: skip


def _score_sql(x: str) -> str:
    # Six places are plenty for a score, and decimal text never has an exponent.
    return (f"(CASE WHEN {x} IS NULL THEN NULL ELSE "
            f"rtrim(rtrim(printf('%.6f', {x}), '0'), '.') END)")  # fmt: skip


def _col(i: int) -> str:
    out, n = "", i + 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def _formatted(columns: Sequence[tuple[str, str, str]], source: str, order: str,
               keep: Sequence[str] = ()) -> str:  # fmt: skip
    """One query: per row of ``source`` (FROM … WHERE …, with ``?`` parameters) in
    ``order``, the ``keep`` expressions, the JSON object, one CSV field per column and
    the spreadsheet cells of ``columns``: (JSON key, SQL expression, type) where type is
    ``text``, ``number`` (decimal text), ``int``, ``bool`` (0/1) or ``json`` (already
    JSON, only in the object). A key starting with ``-`` is left out of the JSON object.

    Each value is computed once: the base values, their neutralised text, and the
    formatting are three nested selects that SQLite may not flatten (``OFFSET 0``), so they
    stream as co-routines instead of repeating every expression in every use."""
    base = [f"{e} AS k{i}" for i, e in enumerate(keep)]
    base += [f"{expr} AS v{i}" for i, (_, expr, _) in enumerate(columns)]
    mid = [f"k{i}" for i in range(len(keep))]
    obj: list[str] = []
    line: list[str] = []
    cells: list[str] = []
    for i, (key, _, kind) in enumerate(columns):
        v, t = f"v{i}", f"t{i}"
        mid.append(v)
        if not key.startswith("-"):
            if kind == "bool":
                obj.append(f"'{key}', json(CASE WHEN {v} THEN 'true' ELSE 'false' END)")
            else:
                obj.append(f"'{key}', " + (f"json({v})" if kind == "json" else v))
        if kind == "json":
            continue
        col = _col(len(line))
        if kind == "int":
            line.append(v)
            cells.append(f"CASE WHEN {v} IS NULL THEN '' ELSE concat('<c r=\"{col}#R#\"><v>', "
                         f"{v}, '</v></c>') END")  # fmt: skip
            continue
        mid.append(f"(CASE WHEN {v} THEN 'true' ELSE 'false' END) AS {t}" if kind == "bool"
                   else f"{_neutral(v, kind == 'number')} AS {t}")  # fmt: skip
        line.append(t)
        cells.append(f"CASE WHEN {t} IS NULL THEN '' ELSE concat('<c r=\"{col}#R#\" "
                     f"t=\"inlineStr\"><is><t xml:space=\"preserve\">', {_xml_text(t)}, "
                     "'</t></is></c>') END")  # fmt: skip
    outer = [f"k{i}" for i in range(len(keep))]
    # concat() builds each text in one allocation (a chain of || copies it at every step).
    # CSV fields go out as columns: Python's csv writer quotes them faster than SQL can.
    outer += [f"json_object({', '.join(obj)})", *line, f"concat({', '.join(cells)})"]
    return (f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(mid)} FROM "
            f"(SELECT {', '.join(base)} {source} ORDER BY {order} LIMIT -1 OFFSET 0) "
            f"LIMIT -1 OFFSET 0)")  # fmt: skip


_IN_SCOPE = "EXISTS (SELECT 1 FROM x_scope s WHERE s.id = r.id)"
_GROUP = (
    ("group_id", "g.id", "int"), ("pair", "g.pair", "text"), ("kind", "g.kind", "text"),
    ("state", "g.state", "text"), ("origin", "g.origin", "text"), ("rule", "g.rule", "text"),
    ("score", _score_sql("g.score"), "number"), ("decided_by", "g.decided_by", "text"),
    ("decided_at", iso_sql("g.decided_us"), "text"), ("reason", "g.reason", "text"),
    ("note", "g.note", "text"),
)  # fmt: skip
_MEMBER = (
    ("record_id", "r.id", "int"), ("side", "m.side", "text"), ("in_scope", _IN_SCOPE, "bool"),
    ("source", "r.source", "text"), ("account", "r.account", "text"),
    ("external_id", "r.external_id", "text"), ("kind", "r.kind", "text"),
    ("ts", iso_sql("r.ts_us"), "text"), ("asset", "r.asset", "text"),
    ("amount", "r.amount", "number"), ("fee", "r.fee", "number"),
    ("fee_asset", "r.fee_asset", "text"), ("status", "r.status", "text"),
    ("booking_date", "r.booking_date", "text"), ("value_date", "r.value_date", "text"),
    ("reference", "r.reference", "text"), ("counterparty", "r.counterparty", "text"),
    ("txid", "r.txid", "text"), ("memo", "r.memo", "text"),
)  # fmt: skip
_GROUP_JSON = ("json_object(" + ", ".join(f"'{k}', {e}" for k, e, _ in _GROUP)
               + ", 'adjustments', json('[]'))")  # fmt: skip
_MEMBERS_SQL = _formatted(
    [*((f"-{k}", e, t) for k, e, t in _GROUP), *_MEMBER],
    "FROM x_groups x JOIN match_groups g ON g.id = x.id AND g.kind = ? "
    "JOIN group_members m ON m.group_id = g.id JOIN records r ON r.id = m.record_id",
    "g.id, m.side, r.ts_us, r.id", keep=("g.id", "g.adjustments", _GROUP_JSON),
)


_UNRESOLVED = (
    ("record_id", "r.id", "int"), ("pair", "s.pair", "text"), ("side", "s.side", "text"),
    ("source", "r.source", "text"), ("account", "r.account", "text"),
    ("external_id", "r.external_id", "text"), ("kind", "r.kind", "text"),
    ("ts", iso_sql("r.ts_us"), "text"), ("asset", "r.asset", "text"),
    ("amount", "r.amount", "number"), ("state", "s.state", "text"),
)  # fmt: skip
_UNRESOLVED_SQL = _formatted(
    _UNRESOLVED, "FROM x_scope s JOIN records r ON r.id = s.id "
    "WHERE s.pair = ? AND s.state != 'matched'", "s.side, r.ts_us, r.id",
)


_DECISION = (
    ("seq", "d.seq", "int"), ("at", iso_sql("d.at_us"), "text"), ("at_us", "d.at_us", "int"),
    ("actor", "d.actor", "text"), ("actor_kind", "d.actor_kind", "text"),
    ("action", "d.action", "text"), ("pair", "d.pair", "text"),
    ("group_id", "d.group_id", "int"), ("record_ids", "d.record_ids", "text"),
    ("session_id", "d.session_id", "int"), ("before", "d.before", "text"),
    ("after", "d.after", "text"), ("reason", "d.reason", "text"), ("note", "d.note", "text"),
    ("prev_hash", "d.prev_hash", "text"), ("hash", "d.hash", "text"),
)  # fmt: skip
_DECISION_SQL = _formatted(
    _DECISION, "FROM x_decisions x JOIN decisions d ON d.seq = x.seq", "d.seq")




# --- what the oracle says the files hold -------------------------------------------------


def _csv(header: Sequence[str], rows: list[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _group_item(gjson: str, adj: str | None, members: list[str]) -> str:
    if adj:
        g = json.loads(gjson)
        g["adjustments"] = _adjustments(adj)
        gjson = json.dumps(g, ensure_ascii=False, separators=(",", ":"))
    return f'{gjson[:-1]},"members":[{",".join(members)}]}}'


def _expected(store, session_id: int) -> tuple[dict[str, bytes], dict[str, list[str]]]:  # type: ignore[no-untyped-def]
    files: dict[str, bytes] = {}
    items: dict[str, list[str]] = {}
    with reads.snapshot(store) as conn:
        s = sessions.get_session(conn, session_id)
        export._gather(conn, s, actor="x", draft=True, generated_at="x")
        for key, kind in (("groups", "match"), ("explained", "explained")):
            lines, groups = [], []
            current, head, head_adj, members = None, "", None, []
            for row in conn.execute(_MEMBERS_SQL, (kind,)):
                gid, adj, gjson, mjson = row[:4]
                if gid != current:
                    if current is not None:
                        groups.append(_group_item(head, head_adj, members))
                    current, head, head_adj, members = gid, gjson, adj, []
                members.append(mjson)
                lines.append(row[4:-1])
            if current is not None:
                groups.append(_group_item(head, head_adj, members))
            files[f"{key}.csv"] = _csv(export.MEMBER_HEADER, lines)
            items[key] = groups
        rows = [r for p in s.scope.pairs for r in conn.execute(_UNRESOLVED_SQL, (p.name,))]
        files["unresolved.csv"] = _csv(export.UNRESOLVED_FIELDS, [r[1:-1] for r in rows])
        items["unresolved"] = [r[0] for r in rows]
        rows = list(conn.execute(_DECISION_SQL))
        files["decisions.csv"] = _csv(export.DECISION_FIELDS, [r[1:-1] for r in rows])
        items["decisions"] = [r[0] for r in rows]
    return files, items


def _arrays(doc_text: str) -> dict[str, list[str]]:
    """The big arrays of session.json as the item lines it holds (one item a line)."""
    out: dict[str, list[str]] = {}
    key = None
    for line in doc_text.split("\n"):
        if line.startswith('  "') and line.rstrip().endswith(": ["):
            key = line.strip()[1:].split('"', 1)[0]
            out[key] = []
        elif key is not None and line.startswith("    "):
            out[key].append(line[4:].rstrip(","))
        elif line.startswith("  ]") or line.endswith(": []"):
            key = None
    return out


def _check(store, session_id: int, out: Path, **kw: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    files, items = _expected(store, session_id)
    folder = export.export_session(store, session_id, out, **kw).path
    for name, data in files.items():
        assert (folder / name).read_bytes() == data, name
    text = (folder / "session.json").read_text("utf-8")
    got = _arrays(text)
    for key, want in items.items():
        assert got.get(key, []) == want, key
    doc = json.loads(text)  # and it is one valid document
    return {"folder": folder, "doc": doc, "items": items}


@pytest.mark.parametrize("in_process", [False, True], ids=["child", "thread"])
def test_closed_session_files_equal_the_sql_formatted_export(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              in_process: bool) -> None:  # fmt: skip
    if in_process:
        monkeypatch.setenv("RECON_TUI_EXPORT_XLSX_INPROCESS", "1")
    store, _world, s, _ = closed_session(tmp_path, monkeypatch)
    try:
        _poison(store)
        got = _check(store, s.id, tmp_path / "out")
        assert len(got["items"]["groups"]) > 10 and got["items"]["explained"]
        assert got["items"]["decisions"]
        _workbook_equals_csv(got["folder"])
    finally:
        store.close()


def test_draft_with_unresolved_rows_equals_the_sql_formatted_export(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    store, world = demo_store(tmp_path, monkeypatch)
    try:
        _poison(store)
        start, end = world_period(world)
        s = sessions.open_session(store, [PAIR], start, end, name="draft", actor="alice")
        got = _check(store, s.id, tmp_path / "out", force=True)
        assert len(got["items"]["unresolved"]) >= 5
        _workbook_equals_csv(got["folder"])
    finally:
        store.close()


def _workbook_equals_csv(folder: Path) -> None:
    """Every sheet of a big table holds its CSV file's fields: numbers for the id columns,
    text cut at Excel's 32,767 characters with the characters XML cannot hold dropped, no
    cell for an empty field."""
    import openpyxl

    from recon_tui.services.xlsx_stream import _DROP, _MAX_TEXT

    wb = openpyxl.load_workbook(folder / "workbook.xlsx", read_only=True)
    try:
        for name in ("groups", "explained", "unresolved", "decisions"):
            with open(folder / f"{name}.csv", encoding="utf-8", newline="") as f:
                rows = list(csv.reader(f))
            header = rows[0]
            sheet = [list(r) for r in wb[name.capitalize()].iter_rows(values_only=True)]
            assert sheet[0] == header
            assert len(sheet) == len(rows), name
            for fields, cells in zip(rows[1:], sheet[1:], strict=True):
                want = []
                for h, v in zip(header, fields, strict=True):
                    if not v:
                        want.append(None)
                    elif h in export.INT_COLUMNS and v.isdigit():
                        want.append(int(v))
                    else:  # (an XML reader reads a CR as LF, as it always has here)
                        text = _DROP.sub("", v[:_MAX_TEXT])
                        want.append(text.replace("\r\n", "\n").replace("\r", "\n"))
                cells = cells + [None] * (len(want) - len(cells))
                assert cells == want, (name, fields[:2])
    finally:
        wb.close()
