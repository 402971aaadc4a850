"""Exports of resolved sessions: content (totals equal the store's, the operator's groups
are in it, decisions re-hash), the JSON Schema, CSV/XLSX, manifest, encryption, refusals,
atomic writes under failure, no secrets, and the CLI."""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import re
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from recon_tui.cli import main
from recon_tui.services import export, sessions
from recon_tui.store.sources import set_secret
from tests.sessionkit import PAIR, closed_session, demo_store, store_totals, world_period

SCHEMA = json.loads((Path(export.__file__).parents[1] / "export_schema.json").read_text("utf-8"))


# --- a tiny JSON Schema checker (the subset export_schema.json uses) ----------------------


def check(value: Any, schema: dict[str, Any], path: str = "$", root: dict[str, Any] = SCHEMA,
          ) -> list[str]:  # fmt: skip
    """Errors of ``value`` against ``schema``: type, const, enum, pattern, minimum,
    required, properties, additionalProperties, items, minItems and local ``$ref``."""
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return check(value, target, path, root)
    errors: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        kinds = {"object": dict, "array": list, "string": str, "boolean": bool,
                 "null": type(None)}  # fmt: skip
        ok = any(
            (n == "integer" and isinstance(value, int) and not isinstance(value, bool))
            or (n == "number" and isinstance(value, int | float) and not isinstance(value, bool))
            or (n in kinds and isinstance(value, kinds[n]))
            for n in names
        )
        if not ok:
            return [f"{path}: {value!r} is not {names}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, int) and "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{path}: {value} < {schema['minimum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing {key!r}")
        props = schema.get("properties", {})
        for key, v in value.items():
            if key in props:
                errors.extend(check(v, props[key], f"{path}.{key}", root))
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected {key!r}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                errors.extend(check(item, schema["items"], f"{path}[{i}]", root))
    return errors


def test_the_checker_catches_what_it_should() -> None:
    amount = {"$ref": "#/$defs/amount"}
    assert check("-1.50", amount) == [] and check(1.5, amount) and check("1e5", amount)
    assert check({"a": 1}, {"type": "object", "additionalProperties": False}) != []
    assert check({}, {"type": "object", "required": ["x"]}) == ["$: missing 'x'"]


def _no_floats(value: Any) -> bool:
    if isinstance(value, float):
        return False
    if isinstance(value, dict):
        return all(_no_floats(v) for v in value.values())
    if isinstance(value, list):
        return all(_no_floats(v) for v in value)
    return True


# --- the full export -------------------------------------------------------------------------


@pytest.fixture
def closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    store, world, s, done = closed_session(tmp_path, monkeypatch)
    yield store, world, s, done
    store.close()


def test_export_of_a_closed_session_is_complete_exact_and_valid(closed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, world, s, done = closed
    result = export.export_session(store, s.id, tmp_path / "out", actor="auditor")
    folder = result.path
    assert folder == tmp_path / "out" and not result.draft
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(["session.json", "groups.csv", "explained.csv", "adjustments.csv",
                            "summary.csv", "unresolved.csv", "decisions.csv", "workbook.xlsx",
                            "export_schema.json", "manifest.json"])  # fmt: skip
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left behind

    doc = json.loads((folder / "session.json").read_text("utf-8"))
    assert check(doc, SCHEMA) == []
    assert _no_floats(doc)
    assert doc["session"]["state"] == "closed" and doc["draft"] is False

    # Totals equal the store's, per asset, computed independently with SQL.
    p = world.pair(PAIR)
    left = store_totals(store, p.left.source, p.left.account, s.scope.start_us, s.scope.end_us)
    right = store_totals(store, p.right.source, p.right.account, s.scope.start_us, s.scope.end_us)
    for b in doc["summary"]["by_pair"]:
        assert b["pair"] == PAIR
        assert (b["left_count"], Decimal(b["left_total"])) == left.get(b["asset"], (0, 0))
        assert (b["right_count"], Decimal(b["right_total"])) == right.get(b["asset"], (0, 0))
        assert Decimal(b["difference"]) == Decimal(b["left_total"]) - Decimal(b["right_total"])
    assert {b["asset"] for b in doc["summary"]["by_pair"]} == set(left) | set(right)
    records = doc["summary"]["records"]
    assert records["in_scope"] == sum(n for n, _ in left.values()) + sum(n for n, _ in right.values())
    assert records["unresolved"] == 0 and doc["unresolved"] == []
    assert records["matched"] + records["explained"] == records["in_scope"]

    # Every ground-truth group the operator confirmed is in the export, whole.
    exported = {
        (frozenset(m["external_id"] for m in g["members"] if m["side"] == "L"),
         frozenset(m["external_id"] for m in g["members"] if m["side"] == "R"))
        for g in doc["groups"]
    }  # fmt: skip
    assert done.matched and set(done.matched) <= exported
    explained = {frozenset(m["external_id"] for m in g["members"]) for g in doc["explained"]}
    assert set(done.explained) <= explained
    assert all(g["reason"] and g["note"] for g in doc["explained"])
    groups = doc["summary"]["groups"]
    assert groups["auto"] + groups["manual"] == groups["matched"] + groups["explained"]
    assert groups["auto"] > 0 and groups["manual"] > 0
    actors = {d["actor"] for d in doc["summary"]["decisions_by_actor"]}
    assert {"engine", "alice"} <= actors

    # Decisions: the session's, each re-hashable from the export alone.
    actions = [d["action"] for d in doc["decisions"]]
    assert actions[0] != "session_close" and "session_open" in actions
    assert "session_close" in actions
    for d in doc["decisions"]:
        assert export.decision_hash(d) == d["hash"]
    assert doc["audit"]["head_hash"] == store.conn.execute(
        "SELECT hash FROM decisions WHERE seq = ?", (doc["audit"]["head_seq"],)).fetchone()[0]  # fmt: skip

    # Manifest: every file's SHA-256 and the chain head.
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert {f["name"] for f in manifest["files"]} == set(names) - {"manifest.json"}
    for f in manifest["files"]:
        assert hashlib.sha256((folder / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    assert manifest["audit_head"] == {"seq": doc["audit"]["head_seq"], "hash": doc["audit"]["head_hash"]}
    assert export.check_manifest(folder) == []
    # The export is itself logged, bound to the manifest's hash.
    last = store.conn.execute("SELECT action, actor, after FROM decisions ORDER BY seq DESC").fetchone()
    assert last[:2] == ("session_export", "auditor")
    assert json.loads(last[2])["manifest_sha256"] == hashlib.sha256(
        (folder / "manifest.json").read_bytes()).hexdigest()  # fmt: skip

    # CSV: exact decimal text equal to the JSON's.
    with open(folder / "groups.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(len(g["members"]) for g in doc["groups"])
    json_amounts = sorted(m["amount"] for g in doc["groups"] for m in g["members"])
    assert sorted(r["amount"] for r in rows) == json_amounts
    assert all(re.fullmatch(r"-?\d+(\.\d+)?", r["amount"]) for r in rows)
    assert all(r["ts"].endswith("Z") for r in rows)
    assert {r["group_kind"] for r in rows} == {"match"} and all(r["record_kind"] for r in rows)
    with open(folder / "summary.csv", encoding="utf-8", newline="") as f:
        summary = list(csv.DictReader(f))
    assert {r["pair"] for r in summary} == {PAIR, "*"}

    # XLSX: a workbook with the tables (read by a real reader), amounts stored as text.
    import openpyxl

    wb = openpyxl.load_workbook(folder / "workbook.xlsx", read_only=True)
    assert wb.sheetnames == ["Session", "Groups", "Explained", "Adjustments", "Summary",
                             "Unresolved", "Decisions"]  # fmt: skip
    sheet = [list(r) for r in wb["Groups"].iter_rows(values_only=True)]
    assert tuple(sheet[0]) == export.MEMBER_HEADER
    amount = sheet[0].index("amount")
    assert sorted(r[amount] for r in sheet[1:]) == json_amounts  # text, exact
    assert len(sheet) - 1 == len(rows)
    decisions = list(wb["Decisions"].iter_rows(values_only=True))
    assert len(decisions) - 1 == len(doc["decisions"])
    summary_sheet = list(wb["Summary"].iter_rows(values_only=True))
    assert "left_total (number)" in summary_sheet[0]
    wb.close()


def test_secrets_never_reach_an_export(closed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    store, _world, s, _ = closed
    canary = "SECRET-CANARY-7f3a9"
    set_secret(store, "bank", "api_key", canary)  # no keyring in tests: kept in the store
    with store.tx() as conn:
        conn.execute("UPDATE sources SET settings = ? WHERE name = 'bank'",
                     (json.dumps({"token_hint": canary}),))  # fmt: skip
        conn.execute("UPDATE records SET raw = ? WHERE source = 'bank'",
                     (json.dumps({"auth": canary}),))  # fmt: skip
    out = export.export_session(store, s.id, tmp_path / "plain").path
    bundle = export.export_session(store, s.id, tmp_path / "b.rtbundle", encrypt=True,
                                   passphrase="export-pass-canary").path  # fmt: skip
    zipped = export.export_session(store, s.id, tmp_path / "z.zip", zip_archive=True).path
    blobs = [p.read_bytes() for p in out.iterdir()] + [bundle.read_bytes()]
    with zipfile.ZipFile(zipped) as z:
        blobs += [z.read(n) for n in z.namelist()]
    for blob in blobs:
        for secret in (canary, "export-pass-canary", store._key.hex()):
            assert secret.encode() not in blob


def test_encrypted_export_round_trips_and_fails_cleanly(closed, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    store, _world, s, _ = closed
    bundle = export.export_session(store, s.id, tmp_path, encrypt=True, passphrase="correct horse").path
    assert bundle == tmp_path / f"recon-session-{s.id}.rtbundle"
    blob = bundle.read_bytes()
    assert blob.startswith(export.BUNDLE_MAGIC)
    # Markers of five bytes or more: random ciphertext holds a given 3-byte string once
    # in ~16.7M bytes (b"EUR" failed 1 run in ~100 on a 100 KB bundle).
    for plain in (b"session.json", b'"EUR"', b",EUR,"):
        assert plain not in blob, plain
    opened = export.open_bundle(bundle, tmp_path / "opened", "correct horse")
    assert export.check_manifest(opened) == []
    doc = json.loads((opened / "session.json").read_text("utf-8"))
    assert check(doc, SCHEMA) == [] and doc["session"]["id"] == s.id

    with pytest.raises(export.ExportError, match="wrong passphrase"):
        export.open_bundle(bundle, tmp_path / "nope", "wrong")
    assert not (tmp_path / "nope").exists()
    tampered = tmp_path / "t.rtbundle"
    tampered.write_bytes(blob[:-40] + bytes([blob[-40] ^ 1]) + blob[-39:])
    with pytest.raises(export.ExportError, match="altered"):
        export.open_bundle(tampered, tmp_path / "nope", "correct horse")
    (tmp_path / "junk").write_bytes(b"PK\x03\x04 not a bundle")
    with pytest.raises(export.ExportError, match="not a recon-tui export bundle"):
        export.open_bundle(tmp_path / "junk", tmp_path / "nope", "x")

    # The CLI: one clear line, exit 1, no traceback, nothing written.
    path = str(store.path)
    monkeypatch.setenv("RECON_TUI_PASSPHRASE", "demo")
    monkeypatch.setenv(export.PASSPHRASE_ENV, "wrong")
    with pytest.raises(SystemExit) as info:
        main(["--store", path, "export", "--decrypt", str(bundle), "--out", str(tmp_path / "cli")])
    err = capsys.readouterr().err
    assert info.value.code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "wrong passphrase" in err and not (tmp_path / "cli").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    monkeypatch.setenv(export.PASSPHRASE_ENV, "correct horse")
    main(["--store", path, "export", "--decrypt", str(bundle), "--out", str(tmp_path / "cli")])
    assert "manifest checks out" in capsys.readouterr().out
    assert export.check_manifest(tmp_path / "cli") == []


def test_exporting_an_open_session_lists_what_is_unresolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store, world = demo_store(tmp_path, monkeypatch)
    start, end = world_period(world)
    s = sessions.open_session(store, [PAIR], start, end)
    todo = sessions.unresolved(store.conn, s)
    assert todo
    with pytest.raises(export.ExportRefused) as refused:
        export.export_session(store, s.id, tmp_path / "x")
    assert len(refused.value.unresolved) == len(todo) and "--force" in str(refused.value)
    assert not (tmp_path / "x").exists()

    draft = export.export_session(store, s.id, tmp_path, force=True)
    assert draft.draft and draft.path.name == f"recon-session-{s.id}-DRAFT"
    doc = json.loads((draft.path / "session.json").read_text("utf-8"))
    assert check(doc, SCHEMA) == [] and doc["draft"] is True
    assert {u["record_id"] for u in doc["unresolved"]} == {r.id for r in todo}
    with open(draft.path / "unresolved.csv", encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == len(todo)
    assert json.loads((draft.path / "manifest.json").read_text())["draft"] is True

    path = str(store.path)
    store.close()
    with pytest.raises(SystemExit) as info:
        main(["--store", path, "export", str(s.id), "--out", str(tmp_path / "cli")])
    out, err = capsys.readouterr()
    assert info.value.code == 1 and err.count("\n") == 1
    assert f"session {s.id} is open ({len(todo)} unresolved item(s))" in err
    assert out.count("unresolved #") == min(20, len(todo))
    assert not (tmp_path / "cli").exists()


# --- failures leave nothing under the final name ----------------------------------------------


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".partial" in p.name]


@pytest.mark.parametrize("mode", ["folder", "zip", "encrypt"])
def test_disk_full_at_rename_leaves_nothing(closed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            mode: str) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    store, _world, s, _ = closed
    target = tmp_path / "exports" / f"x-{mode}"
    before = store.count("SELECT count(*) FROM decisions")

    def full(*_a: object, **_k: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(export.os, "replace", full)
    with pytest.raises(export.ExportError, match="No space left on device"):
        export.export_session(store, s.id, target, zip_archive=mode == "zip",
                              encrypt=mode == "encrypt", passphrase="p")  # fmt: skip
    assert not target.exists() and _leftovers(target.parent) == []
    assert store.count("SELECT count(*) FROM decisions") == before  # no export was logged


def test_failing_midway_through_the_files_leaves_nothing(closed, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    store, _world, s, _ = closed
    real = export._open_private
    written: list[str] = []

    def flaky(path: Path):  # type: ignore[no-untyped-def]
        if len(written) == 3:
            raise OSError(errno.EIO, "Input/output error")
        written.append(path.name)
        return real(path)

    monkeypatch.setattr(export, "_open_private", flaky)
    for kw in ({}, {"zip_archive": True}, {"encrypt": True, "passphrase": "p"}):
        written.clear()
        with pytest.raises(export.ExportError, match=r"could not write .*Input/output error"):
            export.export_session(store, s.id, tmp_path / "x", **kw)  # type: ignore[arg-type]
        assert not (tmp_path / "x").exists() and _leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_target_directory(closed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, _world, s, _ = closed
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(export.ExportError, match="Permission denied"):
            export.export_session(store, s.id, ro / "x")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


def test_existing_targets_are_never_overwritten(closed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, _world, s, _ = closed
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    first = export.export_session(store, s.id, tmp_path / "taken")  # a directory: goes inside
    assert first.path == tmp_path / "taken" / f"recon-session-{s.id}"
    with pytest.raises(export.ExportError, match="already exists"):
        export.export_session(store, s.id, tmp_path / "taken")
    (tmp_path / "f.zip").write_bytes(b"old")
    with pytest.raises(export.ExportError, match="already exists"):
        export.export_session(store, s.id, tmp_path / "f.zip", zip_archive=True)
    assert (tmp_path / "f.zip").read_bytes() == b"old"
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"


def test_zip_export_and_cli(closed, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    store, _world, s, _ = closed
    path = str(store.path)
    monkeypatch.setenv("RECON_TUI_PASSPHRASE", "demo")
    main(["--store", path, "export", str(s.id), "--zip", "--out", str(tmp_path / "s.zip")])
    out = capsys.readouterr().out
    assert out.startswith(f"Exported session {s.id}") and "a zip archive" in out
    with zipfile.ZipFile(tmp_path / "s.zip") as z:
        names = z.namelist()
        assert f"recon-session-{s.id}/manifest.json" in names
        doc = json.loads(z.read(f"recon-session-{s.id}/session.json"))
    assert check(doc, SCHEMA) == []
    monkeypatch.setenv(export.PASSPHRASE_ENV, "pw")
    main(["--store", path, "export", str(s.id), "--encrypt", "--out", str(tmp_path / "e.bin")])
    assert "an encrypted bundle" in capsys.readouterr().out
    for args, msg in [
        (["export"], "give a SESSION id"),
        (["export", "999"], "no session 999"),
        (["export", "--decrypt", str(tmp_path / "e.bin")], "--decrypt needs --out"),
    ]:
        with pytest.raises(SystemExit) as info:
            main(["--store", path, *args])
        err = capsys.readouterr().err
        assert info.value.code in (1, 2) and msg in err and "Traceback" not in err, err


# --- the export dialog -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_export_screen_writes_a_bundle(closed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from textual.app import App
    from textual.widgets import Checkbox, Input, Static

    from recon_tui.screens.export import ExportScreen

    store, _world, s, _ = closed
    results: list[Any] = []

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(ExportScreen(store), results.append)

    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        screen.query_one("#export-out", Input).value = str(tmp_path / "ui.rtbundle")
        screen.query_one("#export-encrypt", Checkbox).value = True
        screen.query_one("#export-pass", Input).value = "pw1"
        screen.query_one("#export-pass2", Input).value = "pw2"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "differ" in str(screen.query_one("#dialog-error", Static).render())
        screen.query_one("#export-pass2", Input).value = "pw1"
        await pilot.press("ctrl+s")
        await pilot.pause()
    # The dialog returns what to do; the app runs it in a worker (here: run it directly).
    assert results and results[0].encrypt and results[0].session_id == s.id
    done = results[0].run(store)
    assert done.encrypted and done.session.id == s.id
    opened = export.open_bundle(tmp_path / "ui.rtbundle", tmp_path / "ui", "pw1")
    assert export.check_manifest(opened) == []
