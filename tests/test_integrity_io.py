"""Inputs and outputs that cannot mislead or leak: a secret echoed back by a source in any
encoding never reaches sync output, ``status --json``, ``last_error`` or a crash report;
the tool's files are 0600 and its folders 0700; a disk that fills during an import leaves
the store as it was, with one line and no crash report."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from adapters.redact import Redactor, register, variants
from recon_tui.crash import write_crash_report
from recon_tui.store import Store
from tests.integrity_kit import PASSPHRASE, crash_reports, new_store, run_cli, write_books

SECRET = "Zk9/sEcReT+Key=42_abcDEF"
CLIENT = "client-7f3a9c1e"
TOKEN = "access-sandbox-deadbeef-0042"


def encodings(value: str) -> dict[str, str]:
    raw = value.encode()
    return {
        "verbatim": value,
        "url": quote(value, safe=""),
        "url_plus": quote_plus(value),
        "lower": value.lower(),
        "upper": value.upper(),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


def leaks(text: str) -> list[str]:
    """Which encodings of the secrets appear in ``text`` (their distinctive middles)."""
    found = []
    for value in (SECRET, CLIENT, TOKEN):
        for name, enc in encodings(value).items():
            if enc in text:
                found.append(f"{value[:6]}…/{name}")
    # base64 of "client:secret", as a Basic auth header would carry it
    basic = base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
    if basic[8:-8] in text:
        found.append("basic")
    return found


@pytest.mark.parametrize("form", list(encodings(SECRET)))
def test_each_encoding_of_a_secret_is_masked(form: str) -> None:
    r = Redactor([SECRET])
    text = f"the exchange said: key {encodings(SECRET)[form]} is not valid"
    assert r(text) == "the exchange said: key *** is not valid"


def test_a_secret_inside_a_longer_base64_string_is_masked() -> None:
    r = Redactor([SECRET, CLIENT])
    for prefix in ("", "a", "ab", "abc", f"{CLIENT}:"):
        blob = base64.b64encode(f"{prefix}{SECRET}:tail".encode()).decode()
        assert "***" in r(f"Authorization: Basic {blob}")
        assert not leaks(r(f"Basic {blob}"))
    assert r("nothing secret here, not even Key=42") == "nothing secret here, not even Key=42"
    assert all(len(v) >= 8 for v in variants(SECRET))


class _EchoBank(BaseHTTPRequestHandler):
    """A bank API on loopback that rejects every call and echoes the credentials back in
    every encoding a careless server uses."""

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        secret = str(body.get("secret", ""))
        client = str(body.get("client_id", ""))
        token = str(body.get("access_token", ""))
        basic = base64.b64encode(f"{client}:{secret}".encode()).decode()
        message = (f"invalid credentials: secret={quote(secret, safe='')} ({secret.lower()}), "
                   f"auth Basic {basic}, token {token.encode().hex()} / {token.upper()}, "
                   f"client {base64.b64encode(client.encode()).decode()}")  # fmt: skip
        data = json.dumps({"error_code": "INVALID_API_KEYS", "error_message": message}).encode()
        self.send_response(400)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def echo_bank() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoBank)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_encoded_secrets_echoed_by_a_source_reach_no_output(tmp_path: Path, echo_bank: str) -> None:
    db, home = tmp_path / "s.db", tmp_path / "home"
    assert run_cli(db, home, "init", "--passphrase").returncode == 0
    added = run_cli(db, home, "source", "add", "bank", "plaid", "--set", f"base_url={echo_bank}",
                    "--set", "retries=1", "--secret", "client_id", "--secret", "secret",
                    "--secret", "access_token", RECON_TUI_SECRET_CLIENT_ID=CLIENT,
                    RECON_TUI_SECRET_SECRET=SECRET, RECON_TUI_SECRET_ACCESS_TOKEN=TOKEN)  # fmt: skip
    assert added.returncode == 0, added.stderr
    synced = run_cli(db, home, "sync", "bank")
    assert synced.returncode == 1 and "FAILED" in synced.stdout and "INVALID_API_KEYS" in synced.stdout
    assert "***" in synced.stdout
    assert leaks(synced.stdout + synced.stderr) == []
    status = run_cli(db, home, "status", "--json")
    assert status.returncode == 0 and "INVALID_API_KEYS" in status.stdout
    assert leaks(status.stdout) == []
    store = Store.open(db, passphrase=PASSPHRASE)
    try:
        (last_error,) = store.conn.execute("SELECT last_error FROM sources WHERE name = 'bank'").fetchone()
    finally:
        store.close()
    assert "INVALID_API_KEYS" in last_error and leaks(last_error) == []
    assert crash_reports(home) == []


def test_crash_reports_mask_secrets_and_are_private(tmp_path: Path) -> None:
    register([SECRET])
    try:
        raise RuntimeError(f"boom with {quote(SECRET, safe='')} and {SECRET.lower()}")
    except RuntimeError as exc:
        path = write_crash_report(exc)
    text = path.read_text("utf-8")
    assert "boom with *** and ***" in text and leaks(text) == []
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_the_tools_files_are_owner_only(tmp_path: Path) -> None:
    db, home = tmp_path / "new" / "s.db", tmp_path / "home"
    assert run_cli(db, home, "init", "--passphrase").returncode == 0
    lp, _bp = write_books(tmp_path, 50)
    run_cli(db, home, "source", "add", "ledger", "csv", "--set", "date_column=date",
            "--set", "amount_column=amount", "--set", "id_column=id")  # fmt: skip
    assert run_cli(db, home, "import", "ledger", str(lp)).returncode == 0
    store = Store.open(db, passphrase=PASSPHRASE)  # holds the WAL and SHM open
    try:
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}.keyinfo.json"),
                 Path(f"{db}.lock")]  # fmt: skip
        for f in files:
            assert f.exists() and f.stat().st_mode & 0o777 == 0o600, f
        assert db.parent.stat().st_mode & 0o777 == 0o700
    finally:
        store.close()
    # A store made by an older version (0644) is tightened when opened.
    for f in (db, Path(f"{db}.keyinfo.json")):
        f.chmod(0o644)
    Store.open(db, passphrase=PASSPHRASE).close()
    assert db.stat().st_mode & 0o777 == 0o600


def test_a_disk_that_fills_during_an_import_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    db, home = tmp_path / "s.db", tmp_path / "home"
    store = new_store(db)
    lp, _bp = write_books(tmp_path, 40)
    from recon_tui.services.sync import import_file

    assert import_file(store, "ledger", str(lp)).ok  # a first import that fits
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    before = store.count("SELECT count(*) FROM records")
    store.close()
    big, _ = write_books(tmp_path, 30_000, tag="big")  # several batches, megabytes of rows
    done = run_cli(db, home, "import", "ledger", str(big), RECON_TUI_TEST_MAX_PAGES=str(pages + 40))
    assert done.returncode == 1, done.stdout
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "is full: nothing was written" in done.stderr
    assert crash_reports(home) == []
    store = Store.open(db, passphrase=PASSPHRASE)
    try:
        assert store.count("SELECT count(*) FROM records") == before  # no first batch kept
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()
    assert run_cli(db, home, "verify").returncode == 0
    # With room again, the same import goes through whole.
    again = run_cli(db, home, "import", "ledger", str(big))
    assert again.returncode == 0, again.stderr


def test_a_damaged_store_is_one_line_and_verify_names_the_page(tmp_path: Path) -> None:
    db, home = tmp_path / "s.db", tmp_path / "home"
    store = new_store(db)
    lp, _bp = write_books(tmp_path, 3000)
    from recon_tui.services.sync import import_file

    assert import_file(store, "ledger", str(lp)).ok
    store.close()
    data = bytearray(db.read_bytes())
    for off in range(16384 * 5, 16384 * 5 + 64):  # flip bytes inside page 6
        data[off] ^= 0xFF
    db.write_bytes(bytes(data))
    for command in (["status"], ["match"]):
        done = run_cli(db, home, *command)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert "the store is damaged" in done.stderr and "Traceback" not in done.stderr
    checked = run_cli(db, home, "verify")
    assert checked.returncode == 1 and "HMAC verification failed for page 6" in checked.stdout
    assert crash_reports(home) == []


@pytest.mark.parametrize(("n", "r", "p", "message"), [
    (2**20, 32, 1, "would cost more than"), (2**31, 8, 1, "outside 2^10..2^20"),
    (2**15, 8, 10**6, "outside"), ("lots", 8, 1, "damaged"), ([1], 8, 1, "damaged"),
    (1.5, 8, 1, "whole numbers"),
])  # fmt: skip
def test_scrypt_parameters_from_a_bundle_header_are_bounded(n: object, r: object, p: object,
                                                            message: str) -> None:  # fmt: skip
    import struct
    import time

    from recon_tui.services import export

    blob = export.encrypt_bundle(b"payload", "pw")
    (size,) = struct.unpack(">I", blob[8:12])
    header = json.loads(blob[12 : 12 + size])
    header.update({"n": n, "r": r, "p": p})
    raw = json.dumps(header).encode()
    forged = blob[:8] + struct.pack(">I", len(raw)) + raw + blob[12 + size :]
    started = time.monotonic()
    with pytest.raises(export.ExportError) as caught:
        export.decrypt_bundle_bytes(forged, "pw")
    assert time.monotonic() - started < 5 and message in str(caught.value)


def test_export_folders_and_files_are_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    import os

    from recon_tui.cli import main
    from tests.sessionkit import closed_session

    store, _world, s, _done = closed_session(tmp_path, monkeypatch)
    store.close()
    out = tmp_path / "exports" / "oct"
    old = os.umask(0o022)  # a permissive shell: the tool still writes owner-only
    try:
        main(["--store", str(store.path), "export", str(s.id), "--out", str(out)])
    finally:
        os.umask(old)
    assert "Exported session" in capsys.readouterr().out
    assert out.is_dir() and out.stat().st_mode & 0o777 == 0o700
    files = [f for f in out.iterdir() if f.is_file()]
    assert files and all(f.stat().st_mode & 0o777 == 0o600 for f in files)
