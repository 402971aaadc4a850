"""``recon-tui serve`` as a real process: refuses to start without a token, and SIGTERM in the
middle of a sync stops after the batch being written; a restart then finishes the sync, and
the store equals one synced without interruption (nothing lost, nothing doubled)."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from recon_tui.services.tokens import create_token
from recon_tui.store import Store
from recon_tui.store.sources import add_source, set_secret
from tests.fakes import exchange_binance
from tests.service_kit import wait_for

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp: Path) -> dict[str, str]:
    return dict(os.environ, RECON_TUI_PASSPHRASE="pw", RECON_TUI_HOME=str(tmp / "home"),
                PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")  # fmt: skip


def _make_store(path: Path, port: int) -> None:
    s = Store.init(path, passphrase="pw")
    add_source(s, "binance", "ccxt", {
        "exchange": "binance", "base_url": f"http://127.0.0.1:{port}", "what": "trades",
        "page_limit": 50, "rate_limit_ms": 1, "retry_wait_initial": 0.01,
    })  # fmt: skip
    set_secret(s, "binance", "apiKey", exchange_binance.API_KEY)
    set_secret(s, "binance", "secret", exchange_binance.SECRET)
    s.close()


def _read(path: Path, sql: str) -> list[tuple]:
    s = Store.open(path, passphrase="pw")
    try:
        return s.conn.execute(sql).fetchall()
    finally:
        s.close()


def _rows(path: Path) -> list[tuple]:
    return _read(path, "SELECT external_id, amount, content_hash FROM records ORDER BY 1")


@pytest.fixture
def fake_exchange():
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.exchange_binance", "--port", "0", "--rows", "1500",
         "--delay-ms", "30"], cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PORT "), line
    yield int(line.split()[1])
    proc.kill()
    proc.wait()


class Service:
    """``recon-tui serve --port 0`` in a subprocess; knows its URL once it prints it."""

    def __init__(self, db: Path, tmp: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "recon_tui.cli", "--store", str(db), "serve", "--port", "0"],
            cwd=ROOT, env=_env(tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "recon-tui service on http://127.0.0.1:" in line, (line, self.proc.stderr.read())
        self.url = line.split()[3]
        wait_for(lambda: self._ready(), timeout=60)

    def _ready(self) -> bool:
        try:
            return httpx.get(self.url + "/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def test_serve_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    Store.init(db, passphrase="pw").close()
    proc = subprocess.run([sys.executable, "-m", "recon_tui.cli", "--store", str(db), "serve"],
                          cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert "no API token" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_sigterm_mid_sync_then_restart_equals_an_uninterrupted_sync(
    tmp_path: Path, fake_exchange: int
) -> None:
    reference, victim = tmp_path / "ref.db", tmp_path / "victim.db"
    _make_store(reference, fake_exchange)
    _make_store(victim, fake_exchange)
    done = subprocess.run(
        [sys.executable, "-m", "recon_tui.cli", "--store", str(reference), "sync", "binance",
         "--no-match"], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = _rows(reference)
    assert len(expected) > 1000

    s = Store.open(victim, passphrase="pw")
    token = create_token(s, "ops", "operator").token
    s.close()
    auth = {"Authorization": f"Bearer {token}"}
    svc = Service(victim, tmp_path)
    try:
        r = httpx.post(svc.url + "/v1/runs", json={"kind": "sync", "sources": ["binance"]},
                       headers=auth, timeout=10)  # fmt: skip
        assert r.status_code == 202, r.text
        first = r.json()["run_id"]
        wait_for(lambda: _read(victim, "SELECT count(*) FROM records")[0][0] > 100, timeout=120,
                 every=0.1)  # fmt: skip
        t0 = time.monotonic()
        assert svc.stop() == 0
        stopped_in = time.monotonic() - t0
    finally:
        if svc.proc.poll() is None:
            svc.proc.kill()
    partial = _read(victim, "SELECT count(*) FROM records")[0][0]
    assert 0 < partial < len(expected), "the SIGTERM must land mid-sync"
    assert stopped_in < 20
    outcomes = _read(victim, "SELECT parent_id IS NULL, outcome FROM runs WHERE kind = 'sync'")
    assert sorted(outcomes) == [(0, "interrupted"), (1, "interrupted")]  # the child and the POST
    log = (tmp_path / "home" / "logs" / "service.jsonl").read_text("utf-8").splitlines()
    assert any(json.loads(x)["msg"] == "service stopped" for x in log)

    svc = Service(victim, tmp_path)
    try:
        r = httpx.post(svc.url + "/v1/runs", json={"kind": "sync", "sources": ["binance"]},
                       headers=auth, timeout=10)  # fmt: skip
        second = r.json()["run_id"]
        run = wait_for(lambda: (x := httpx.get(f"{svc.url}/v1/runs/{second}", headers=auth,
                                               timeout=10).json())["outcome"] != "running" and x,
                       timeout=180, every=0.2)  # fmt: skip
        assert run["outcome"] == "ok", run
        assert svc.stop() == 0
    finally:
        if svc.proc.poll() is None:
            svc.proc.kill()
    assert _rows(victim) == expected  # nothing lost, nothing duplicated, amounts exact
    assert second > first


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))  # fmt: skip
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


def test_tls_and_the_non_loopback_warning(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    s = Store.init(db, passphrase="pw")
    token = create_token(s, "r", "read").token
    s.close()
    cert, key = _self_signed(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "recon_tui.cli", "--store", str(db), "serve", "--port", "0",
         "--tls-cert", str(cert), "--tls-key", str(key)],
        cwd=ROOT, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "https://127.0.0.1:" in line, line
        url = line.split()[3]
        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), timeout=10) as c:
            r = wait_for(lambda: c.get(url + "/v1/sources",
                                       headers={"Authorization": f"Bearer {token}"}), timeout=30)
            assert r.status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(url.replace("https", "http") + "/v1/health", timeout=5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    # Another address without TLS: the warning, then (this TEST-NET address is not ours)
    # one line saying it cannot listen there.
    done = subprocess.run(
        [sys.executable, "-m", "recon_tui.cli", "--store", str(db), "serve", "--host",
         "192.0.2.1", "--port", "0"], cwd=ROOT, env=_env(tmp_path), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert "without TLS" in done.stderr and "cannot listen on 192.0.2.1" in done.stderr
    assert done.returncode == 1 and "Traceback" not in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "recon_tui.cli", "--store", str(db), "serve", "--tls-cert",
         str(cert)], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "both --tls-cert and --tls-key" in done.stderr
