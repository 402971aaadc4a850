"""Accepted differences in the session summary (issue 16.6): matched groups whose sides
differ by a recorded fee, FX, rounding or write-off are counted per asset (with amounts)
and reason in the close summary, ``session show``/``close``, the sessions screen and the
export (``session.json`` version 2); a version 1 export still opens and validates under the
schema it carries."""

from __future__ import annotations

import io
import json
import zipfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from recon_tui.cli import cli
from recon_tui.services import export, sessions, writeoff
from recon_tui.services.decisions import DecisionError, Decisions
from recon_tui.store import Store, groups
from tests.sessionkit import OPERATOR, PAIR, closed_session, demo_store, world_period
from tests.test_export import SCHEMA, check

SCHEMA_V1 = json.loads((Path(__file__).parent / "data" / "export_schema_v1.json").read_text())


def independent_count(store: Store, session: sessions.Session) -> dict[str, Any]:
    """The same figure another way: every in-scope record's confirmed groups, then their
    adjustments summed in Python."""
    conn = store.connection()
    records = sessions.scope_records(conn, session.scope)
    gids = groups.groups_touching(conn, None, [r.id for r in records], ("confirmed",))
    per: dict[str, dict[str, Any]] = {}
    n = 0
    for g in groups.get_groups(conn, gids).values():
        if g.kind == "explained" or g.pair not in session.scope.pair_names:
            continue
        items = [a for a in g.adjustments or [] if Decimal(str(a["amount"])) != 0]
        if not items:
            continue
        n += 1
        assets: set[str] = set()
        reasons: set[tuple[str, str]] = set()
        for a in items:
            asset, reason = a["asset"], a.get("kind") or "unspecified"
            row = per.setdefault(asset, {"groups": 0, "amount": Decimal(0),
                                         "by_reason": defaultdict(lambda: [0, Decimal(0)])})  # fmt: skip
            if asset not in assets:
                row["groups"] += 1
                assets.add(asset)
            if (asset, reason) not in reasons:
                row["by_reason"][reason][0] += 1
                reasons.add((asset, reason))
            row["amount"] += Decimal(str(a["amount"]))
            row["by_reason"][reason][1] += Decimal(str(a["amount"]))
    return {"groups": n, "by_asset": {
        asset: (r["groups"], r["amount"], {k: (c, amt) for k, (c, amt) in r["by_reason"].items()})
        for asset, r in per.items()}}  # fmt: skip


def as_comparable(acc: dict[str, Any]) -> dict[str, Any]:
    return {"groups": acc["groups"], "by_asset": {
        a["asset"]: (a["groups"], Decimal(a["amount"]),
                     {r["reason"]: (r["groups"], Decimal(r["amount"])) for r in a["by_reason"]})
        for a in acc["by_asset"]}}  # fmt: skip


@pytest.fixture
def closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    store, world, s, done = closed_session(tmp_path, monkeypatch)
    yield store, world, s, done
    store.close()


def test_close_counts_every_accepted_difference_per_asset_and_reason(closed) -> None:  # type: ignore[no-untyped-def]
    store, _world, s, _done = closed
    acc = s.summary["close"]["accepted_differences"]
    assert acc["groups"] > 0  # the demo's declared fees, and the operator's manual 'fee's
    assert as_comparable(acc) == independent_count(store, s)
    assert sessions.accepted(store.connection(), s) == acc  # frozen at the close
    reasons = {r["reason"] for a in acc["by_asset"] for r in a["by_reason"]}
    assert "fee" in reasons


def test_a_write_off_within_limits_is_counted_under_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, world = demo_store(tmp_path, monkeypatch)
    start, end = world_period(world)
    s = sessions.open_session(store, [PAIR], start, end, actor=OPERATOR)
    before = sessions.accepted(store.connection(), s)
    conn = store.connection()
    # The closest unmatched ledger and bank EUR items, written off within a limit the pair
    # allows (the small demo has no open pair inside the default 10.00 and 0.5%).
    wide = writeoff.with_limit(writeoff.DEFAULT, "write-off", {"EUR": Decimal(10_000)},
                               Decimal(1))  # fmt: skip
    writeoff.set_limits(store, PAIR, wide)
    rows = conn.execute(
        "SELECT ps.side, ps.record_id, r.amount FROM pair_states ps JOIN records r "
        "ON r.id = ps.record_id WHERE ps.pair = ? AND ps.state != 'matched' AND ps.live = 1 "
        "AND r.asset = 'EUR' ORDER BY ps.record_id", (PAIR,),
    ).fetchall()  # fmt: skip
    lefts = [(rid, Decimal(a)) for side, rid, a in rows if side == "L"]
    rights = [(rid, Decimal(a)) for side, rid, a in rows if side == "R"]
    tries = sorted(((abs(la - ra), lid, rid, la - ra) for lid, la in lefts for rid, ra in rights
                    if la != ra), key=lambda t: t[0])  # fmt: skip
    dec = Decisions(store, actor=OPERATOR)
    diff = None
    for _gap, lid, rid, gap in tries:
        try:
            dec.manual_match(PAIR, [lid], [rid], reason="write-off", note="bank rounding",
                             session_id=s.id)  # fmt: skip
        except DecisionError:
            continue
        diff = gap
        break
    if diff is None:
        pytest.fail("no open EUR pair within a write-off's limit")
    after = sessions.accepted(store.connection(), s)
    assert after["groups"] == before["groups"] + 1
    eur = next(a for a in after["by_asset"] if a["asset"] == "EUR")
    w = next(r for r in eur["by_reason"] if r["reason"] == "write-off")
    old = next((r for a in before["by_asset"] if a["asset"] == "EUR"
                for r in a["by_reason"] if r["reason"] == "write-off"), None)  # fmt: skip
    assert w["groups"] == (old["groups"] if old else 0) + 1
    assert Decimal(w["amount"]) == (Decimal(old["amount"]) if old else 0) + diff
    assert as_comparable(after) == independent_count(store, s)


def test_cli_session_show_and_close_print_the_accepted_differences(closed) -> None:  # type: ignore[no-untyped-def]
    store, _world, s, _done = closed
    acc = s.summary["close"]["accepted_differences"]
    result = CliRunner().invoke(cli, ["--store", str(store.path), "session", "show", str(s.id)])
    assert result.exit_code == 0, result.output
    assert f"accepted differences: {acc['groups']:,} matched group(s)" in result.output
    first = acc["by_asset"][0]
    assert f"{first['asset']:<6} {first['groups']:,} group(s) {first['amount']}" in result.output


def test_export_v2_carries_the_count_and_validates(closed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, _world, s, _done = closed
    folder = export.export_session(store, s.id, tmp_path / "out", actor="auditor").path
    doc = json.loads((folder / "session.json").read_text("utf-8"))
    assert doc["version"] == 2
    assert doc["summary"]["accepted_differences"] == s.summary["close"]["accepted_differences"]
    assert check(doc, SCHEMA) == []
    # The export carries the schema it was written under, and it is this version's.
    assert json.loads((folder / "export_schema.json").read_text()) == SCHEMA
    # A version 2 document is not a version 1 one (v1 summaries had no such field) …
    assert any("accepted_differences" in e for e in check(doc, SCHEMA_V1, root=SCHEMA_V1))
    # … and a version 1 document is not accepted as version 2.
    v1 = _as_v1(doc)
    assert check(v1, SCHEMA_V1, root=SCHEMA_V1) == []
    assert check(v1, SCHEMA) != []


def _as_v1(doc: dict[str, Any]) -> dict[str, Any]:
    v1 = json.loads(json.dumps(doc))
    v1["version"] = 1
    del v1["summary"]["accepted_differences"]
    return v1


def test_a_version_1_bundle_still_opens_and_validates_under_its_own_schema(
    closed, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    """A bundle written before version 2 (its session.json, schema and manifest at version
    1) opens, its manifest checks out, and its document validates under the schema inside."""
    store, _world, s, _done = closed
    folder = export.export_session(store, s.id, tmp_path / "new", actor="auditor").path
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    doc = json.loads(files["session.json"])
    files["session.json"] = json.dumps(_as_v1(doc), indent=2).encode()
    files["export_schema.json"] = json.dumps(SCHEMA_V1, indent=2).encode()
    manifest = json.loads(files["manifest.json"])
    manifest["version"] = 1
    for f in manifest["files"]:
        import hashlib

        f["sha256"] = hashlib.sha256(files[f["name"]]).hexdigest()
        f["bytes"] = len(files[f["name"]])
    files["manifest.json"] = json.dumps(manifest, indent=2).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in sorted(files.items()):
            z.writestr(f"recon-session-{s.id}/{name}", data)
    bundle = tmp_path / "old.rtbundle"
    bundle.write_bytes(export.encrypt_bundle(buf.getvalue(), "old pass"))
    opened = export.open_bundle(bundle, tmp_path / "opened", "old pass")
    assert export.check_manifest(opened) == []
    carried = json.loads((opened / "export_schema.json").read_text())
    old_doc = json.loads((opened / "session.json").read_text())
    assert old_doc["version"] == 1 and check(old_doc, carried, root=carried) == []
    result = CliRunner().invoke(cli, ["--store", str(store.path), "export", "--decrypt",
                                      str(bundle), "--out", str(tmp_path / "cli")],
                                env={"RECON_TUI_EXPORT_PASSPHRASE": "old pass"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "manifest checks out" in result.output


@pytest.mark.anyio
async def test_sessions_screen_shows_the_accepted_differences(closed) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import Static

    from recon_tui.screens.sessions import SessionsScreen
    from tests.workbench_fixtures import app_for, settle

    store, _world, s, _done = closed
    acc = s.summary["close"]["accepted_differences"]
    app = app_for(store)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)
        text = str(app.screen.query_one("#sessions-detail", Static).render())
        assert f"Accepted differences: {acc['groups']:,} matched group(s) with a difference" in text
        for a in acc["by_asset"]:
            assert f"  {a['asset']:<6} {a['groups']:,} group(s)" in text


def test_an_open_sessions_export_counts_them_from_its_staged_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A draft's accepted differences come from the groups the export staged (no second
    walk over the scope's records), and are the store's own figure: for each half of the
    period, the groups with a member in that half, and no others."""
    store, world = demo_store(tmp_path, monkeypatch)
    start, end = world_period(world)
    conn = store.connection()
    mid = start + (end - start) / 2
    halves = [sessions.open_session(store, [PAIR], a, b, actor=OPERATOR, name=n)
              for a, b, n in ((start, mid, "first"), (mid, end, "second"))]  # fmt: skip
    wanted = [sessions.accepted(conn, s) for s in halves]
    assert 0 < wanted[0]["groups"] + wanted[1]["groups"]  # the demo's declared fees
    assert wanted[0] != wanted[1]

    def walked(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the export walked the scope again")

    monkeypatch.setattr(sessions, "accepted_differences", walked)
    for s, expected in zip(halves, wanted, strict=True):
        out = export.export_session(store, s.id, tmp_path / f"out{s.id}", force=True,
                                    actor="auditor").path  # fmt: skip
        doc = json.loads((out / "session.json").read_text("utf-8"))
        assert doc["draft"] is True
        assert doc["summary"]["accepted_differences"] == expected
