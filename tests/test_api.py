"""The service's REST API against a real uvicorn on an ephemeral 127.0.0.1 port (httpx):
every endpoint's shape against the served OpenAPI schema, 401/403, amounts as exact
strings that agree with the dashboard's sums, keyset paging of breaks, POST runs recorded
with an audit decision naming the token, Prometheus text, and the canary: no secret or key
in any response or log line."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import keyring
import pytest
from keyring.backends import fail
from prometheus_client.parser import text_string_to_metric_families

from recon_tui.services import service_log
from recon_tui.services.dashboard import pair_counts
from recon_tui.services.tokens import create_token, revoke_token
from recon_tui.services.workspace import build_demo
from recon_tui.store import Store
from recon_tui.store.keys import keyinfo_path
from recon_tui.store.sources import add_source, set_secret
from tests.service_kit import client, serve, wait_for

PAIR = "ledger-bank"
CANARY_KEY = "CANARY-apikey-7f3a9c1e55"
CANARY_SECRET = "CANARY-secret-b81d2e04aa"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        path = tmp_path_factory.mktemp("api-template") / "demo.db"
        store = build_demo(path, size=120, seed=7)
        store.close()
    finally:
        keyring.set_keyring(previous)
    return path


@pytest.fixture
def store(template: Path, tmp_path: Path) -> Iterator[Store]:
    path = tmp_path / "demo.db"
    shutil.copy(template, path)
    shutil.copy(keyinfo_path(template), keyinfo_path(path))
    s = Store.open(path, passphrase="demo")
    yield s
    s.close()


@pytest.fixture
def tokens(store: Store) -> dict[str, str]:
    return {"read": create_token(store, "reader", "read").token,
            "operator": create_token(store, "ops", "operator").token}  # fmt: skip


def _schema_check(spec: dict[str, Any], path: str, method: str, status: str, body: Any) -> None:
    op = spec["paths"][path][method]
    schema = op["responses"][status]["content"]["application/json"]["schema"]
    doc = {"$defs": {}, "components": spec["components"], **schema}
    jsonschema.Draft202012Validator(doc).validate(body)


def test_every_endpoint_matches_the_openapi_schema(store: Store, tokens: dict[str, str]) -> None:
    with serve(store) as (base, _), client(base, tokens["read"]) as c:
        spec = c.get("/openapi.json").json()
        assert c.get("/docs").status_code == 200
        run_id = c.get("/v1/runs").json()["items"][0]["id"]
        calls = {
            "/v1/health": "/v1/health", "/v1/ready": "/v1/ready", "/v1/sources": "/v1/sources",
            "/v1/runs": "/v1/runs?limit=5", "/v1/runs/{run_id}": f"/v1/runs/{run_id}",
            "/v1/pairs": "/v1/pairs", "/v1/pairs/{name}": f"/v1/pairs/{PAIR}",
            "/v1/pairs/{name}/breaks": f"/v1/pairs/{PAIR}/breaks?limit=7",
            "/v1/sessions": "/v1/sessions", "/v1/audit": "/v1/audit",
            "/v1/schedule": "/v1/schedule",
        }  # fmt: skip
        documented = {p for p, ops in spec["paths"].items() if "get" in ops} - {"/metrics"}
        assert documented == set(calls), "a GET endpoint without a shape test"
        for path, url in calls.items():
            r = c.get(url)
            assert r.status_code == 200, (url, r.text)
            _schema_check(spec, path, "get", "200", r.json())
        # A wrong-shaped body must fail the same check (the check can fail).
        with pytest.raises(jsonschema.ValidationError):
            _schema_check(spec, "/v1/sources", "get", "200", {"items": [{"name": 1}]})
        r = c.get("/v1/runs/999999")
        assert r.status_code == 404
        _schema_check(spec, "/v1/runs/{run_id}", "get", "404", r.json())


def test_tokens_401_403_and_revocation(store: Store, tokens: dict[str, str]) -> None:
    with serve(store) as (base, _):
        with client(base) as anon:
            assert anon.get("/v1/health").status_code == 200  # liveness needs no token
            for url in ("/v1/sources", "/v1/runs", "/v1/pairs", "/metrics"):
                r = anon.get(url)
                assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert anon.post("/v1/runs", json={"kind": "sync"}).status_code == 401
        with client(base, "rtk_not-a-real-token") as bad:
            assert bad.get("/v1/sources").status_code == 401
        with client(base, tokens["read"]) as reader:
            assert reader.get("/v1/sources").status_code == 200
            r = reader.post("/v1/runs", json={"kind": "match"})
            assert r.status_code == 403
            assert "operator" in r.json()["detail"]
        revoke_token(store, "reader")
        with client(base, tokens["read"]) as reader:  # revocation holds within 2 s
            wait_for(lambda: reader.get("/v1/sources").status_code == 401, timeout=3)
    used = dict(store.connection().execute("SELECT name, last_used_us FROM api_tokens"))
    assert used["reader"] is not None  # last use recorded
    assert store.count("SELECT count(*) FROM api_tokens WHERE token_hash LIKE 'rtk_%'") == 0


def test_post_runs_are_recorded_with_an_audit_decision(store: Store, tokens: dict[str, str]) -> None:
    with serve(store) as (base, _), client(base, tokens["operator"]) as c:
        r = c.post("/v1/runs", json={"kind": "sync", "sources": ["bank", "ledger"]})
        assert r.status_code == 202, r.text
        rid = r.json()["run_id"]
        run = wait_for(lambda: (x := c.get(f"/v1/runs/{rid}").json())["outcome"] != "running"
                       and x)  # fmt: skip
        assert run["outcome"] == "ok" and run["origin"] == "api"
        assert run["started_by"] == "token:ops" and run["counts"]["sources"] == 2
        children = [x for x in c.get("/v1/runs?kind=sync&limit=50").json()["items"]
                    if x["parent_id"] == rid]  # fmt: skip
        assert sorted(x["scope"] for x in children) == ["bank", "ledger"]
        r = c.post("/v1/runs", json={"kind": "match", "pairs": [PAIR], "full": True})
        mid = r.json()["run_id"]
        wait_for(lambda: c.get(f"/v1/runs/{mid}").json()["outcome"] == "ok")
        matched = c.get(f"/v1/runs?kind=match&scope={PAIR}&limit=1").json()["items"][0]
        assert matched["parent_id"] == mid and matched["counts"]["mode"] == "full"
        assert c.post("/v1/runs", json={"kind": "sync", "sources": ["nope"]}).status_code == 404
        assert c.post("/v1/runs", json={"kind": "frobnicate"}).status_code == 422
        assert c.get("/v1/runs?origin=api&limit=100").json()["items"]
    decisions = store.connection().execute(
        "SELECT actor, actor_kind, after FROM decisions WHERE action = 'api_run_start' ORDER BY seq"
    ).fetchall()
    assert [(a, k) for a, k, _ in decisions] == [("token:ops", "api")] * 2
    assert json.loads(decisions[0][2])["run_id"] == rid
    from recon_tui.services.sessions import verify_all

    assert verify_all(store.connection()).ok  # the new decisions keep the chain intact


def test_pairs_amounts_are_exact_strings_matching_the_dashboard(
    store: Store, tokens: dict[str, str]
) -> None:
    with serve(store) as (base, _), client(base, tokens["read"]) as c:
        pairs = {p["name"]: p for p in c.get("/v1/pairs").json()["items"]}
    for summary in pair_counts(store, 0):
        p = pairs[summary.pair.name]
        for side, ours in (("left", summary.left), ("right", summary.right)):
            assert p[side]["counts"] == ours.counts
            for a in p[side]["by_asset"]:
                for state in ("open", "suggested", "matched"):
                    text = a[f"{state}_amount"]
                    assert isinstance(text, str)
                    assert Decimal(text) == ours.amounts.get(state, {}).get(a["asset"], 0)
        diffs = {a["asset"]: Decimal(a["difference"]) for a in p["assets"]}
        assert {k: v for k, v in diffs.items() if v} == {
            k: v for k, v in summary.difference.items() if v}  # fmt: skip
        assert p["open_breaks"] == sum(summary.aging)
    eth = [a for p in pairs.values() for s in ("left", "right") for a in p[s]["by_asset"]
           if a["asset"] == "ETH"]  # fmt: skip
    assert any(len(a["matched_amount"].split(".")[-1]) > 8 for a in eth), "18-decimal sums"


def test_breaks_pages_oldest_first_with_filters(store: Store, tokens: dict[str, str]) -> None:
    with serve(store) as (base, _), client(base, tokens["read"]) as c:
        seen: list[dict[str, Any]] = []
        after = None
        while True:
            url = f"/v1/pairs/{PAIR}/breaks?limit=25" + (f"&after={after}" if after else "")
            page = c.get(url).json()
            seen += page["items"]
            after = page["next"]
            if after is None:
                break
        total = c.get(f"/v1/pairs/{PAIR}").json()["open_breaks"]
        assert len(seen) == total and len({(b["side"], b["id"]) for b in seen}) == total
        keys = [(b["ts"], b["id"]) for b in seen]
        assert keys == sorted(keys)
        assert {b["state"] for b in seen} <= {"open", "suggested"}
        left = c.get(f"/v1/pairs/{PAIR}/breaks?side=left&status=open&limit=1000").json()
        assert left["items"] and all(b["side"] == "L" and b["state"] == "open"
                                     for b in left["items"])  # fmt: skip
        big = c.get(f"/v1/pairs/{PAIR}/breaks?amount_min=1000&limit=1000").json()["items"]
        assert big and all(abs(Decimal(b["amount"])) >= 1000 for b in big)
        assert c.get(f"/v1/pairs/{PAIR}/breaks?amount_min=abc").status_code == 422
        assert c.get(f"/v1/pairs/{PAIR}/breaks?after=zz").status_code == 422
        assert c.get("/v1/pairs/nope/breaks").status_code == 404


def test_metrics_are_prometheus_text(store: Store, tokens: dict[str, str]) -> None:
    with serve(store) as (base, _), client(base, tokens["read"]) as c:
        r = c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    runs = {(s.labels["kind"], s.labels["outcome"]): s.value for s in families["recon_runs"].samples
            if s.name == "recon_runs_total"}  # fmt: skip
    n_sync = store.count("SELECT count(*) FROM runs WHERE kind = 'sync' AND outcome = 'ok'")
    assert runs[("sync", "ok")] == n_sync > 0
    hist = [s for s in families["recon_run_duration_seconds"].samples
            if s.name.endswith("_count") and s.labels["kind"] == "sync"]  # fmt: skip
    assert hist[0].value == n_sync
    breaks = {(s.labels["pair"], s.labels["age"]): s.value
              for s in families["recon_open_breaks"].samples}  # fmt: skip
    assert sum(v for (p, _), v in breaks.items() if p == PAIR) > 0
    health = [s for s in families["recon_source_health"].samples if s.value == 1.0]
    assert {s.labels["health"] for s in health} == {"ok"}


def test_a_decision_elsewhere_shows_within_a_second(store: Store, tokens: dict[str, str]) -> None:
    import time

    from recon_tui.services.decisions import Decisions

    other = Store.open(store.path, passphrase="demo")  # another connection, like the app's
    try:
        with serve(store) as (base, _), client(base, tokens["read"]) as c:
            before = c.get(f"/v1/pairs/{PAIR}").json()
            gid = other.connection().execute(
                "SELECT id FROM match_groups WHERE pair = ? AND state = 'suggested' "
                "ORDER BY id LIMIT 1", (PAIR,)).fetchone()[0]  # fmt: skip
            Decisions(other).confirm(gid)
            t0 = time.monotonic()
            wait_for(lambda: c.get(f"/v1/pairs/{PAIR}").json()["open_breaks"]
                     < before["open_breaks"], timeout=5, every=0.02)  # fmt: skip
            assert time.monotonic() - t0 < 3.0  # by the next requests: no restart, no cache expiry
            assert c.get("/v1/audit").json()["head_seq"] > 0
    finally:
        other.close()


def test_canary_no_secret_in_any_response_or_log_line(
    store: Store, tokens: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passphrase = "CANARY-passphrase-91c2"
    store.rekey(new_passphrase=passphrase)
    monkeypatch.setenv("RECON_TUI_PASSPHRASE", passphrase)
    add_source(store, "canary", "ccxt", {"exchange": "binance", "base_url": "http://127.0.0.1:9",
                                         "retry_attempts": 1, "timeout_ms": 300})  # fmt: skip
    set_secret(store, "canary", "apiKey", CANARY_KEY)
    set_secret(store, "canary", "secret", CANARY_SECRET)
    log = tmp_path / "service.jsonl"
    service_log.configure(log)
    bodies: list[str] = []
    try:
        with serve(store) as (base, _):
            with client(base, tokens["operator"]) as c:
                rid = c.post("/v1/runs", json={"kind": "sync"}).json()["run_id"]
                wait_for(lambda: c.get(f"/v1/runs/{rid}").json()["outcome"] != "running")
                for url in ("/v1/sources", "/v1/runs?limit=100", "/v1/pairs", "/v1/sessions",
                            "/v1/audit", f"/v1/pairs/{PAIR}/breaks?limit=1000", "/metrics",
                            "/openapi.json", "/v1/ready", "/v1/schedule"):  # fmt: skip
                    r = c.get(url)
                    assert r.status_code == 200
                    bodies.append(r.text + json.dumps(dict(r.headers)))
                failing = [s for s in c.get("/v1/sources").json()["items"] if s["name"] == "canary"]
                assert failing[0]["health"] == "failing" and failing[0]["last_error"]
            import logging

            # A careless log call with the bearer header or token is scrubbed on the way out.
            logging.getLogger("recon_tui.test").warning(
                "oops Authorization: Bearer %s key=%s", tokens["operator"], CANARY_KEY)
            with client(base, "rtk_" + "x" * 40) as bad:
                bodies.append(bad.get("/v1/runs").text)
    finally:
        import logging

        root = logging.getLogger()
        for h in list(root.handlers):
            if getattr(h, "_recon_service", False):
                root.removeHandler(h)
                h.close()
    lines = log.read_text("utf-8").splitlines()
    assert len(lines) > 10 and all(json.loads(line)["msg"] is not None for line in lines)
    assert any("GET /v1/sources" in line for line in lines), "access log lines are there"
    secrets = [CANARY_KEY, CANARY_SECRET, store._key.hex(), passphrase, tokens["read"],
               tokens["operator"], tokens["read"][4:], tokens["operator"][12:]]  # fmt: skip
    for text in [*bodies, *lines]:
        for s in secrets:
            assert s not in text, f"secret {s[:6]}… leaked: {text[:200]}"


def test_sessions_show_state_and_unresolved(store: Store, tokens: dict[str, str]) -> None:
    from recon_tui.services import sessions

    s = sessions.open_session(store, [PAIR], "2025-01-01", "2027-01-01")
    expected = len(sessions.unresolved(store.connection(), s))
    with serve(store) as (base, _), client(base, tokens["read"]) as c:
        items = c.get("/v1/sessions").json()["items"]
    assert [(x["id"], x["state"], x["pairs"]) for x in items] == [(s.id, "open", [PAIR])]
    assert items[0]["unresolved"] == expected > 0 and items[0]["closing_totals"] == []


def test_token_cli_shows_the_token_once(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from recon_tui.cli import cli

    monkeypatch.setenv("RECON_TUI_PASSPHRASE", "demo")
    runner = CliRunner()
    made = runner.invoke(cli, ["--store", str(store.path), "token", "create", "ci", "--role",
                               "read"])  # fmt: skip
    assert made.exit_code == 0
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("rtk_") and len(token) > 40
    listed = runner.invoke(cli, ["--store", str(store.path), "token", "list"])
    assert "ci" in listed.output and token not in listed.output and token[:10] in listed.output
    bad = runner.invoke(cli, ["--store", str(store.path), "token", "create", "ci", "--role",
                              "read"])  # fmt: skip
    assert bad.exit_code != 0
    revoked = runner.invoke(cli, ["--store", str(store.path), "token", "revoke", "ci"])
    assert revoked.exit_code == 0
    actions = [a for (a,) in store.connection().execute(
        "SELECT action FROM decisions WHERE action LIKE 'token_%' ORDER BY seq")]  # fmt: skip
    assert actions == ["token_create", "token_revoke"]
    runs = runner.invoke(cli, ["--store", str(store.path), "runs", "--kind", "sync", "--json"])
    assert runs.exit_code == 0 and json.loads(runs.output)[0]["kind"] == "sync"


def test_the_api_calls_services_only() -> None:
    """The API is a layer over the services: no store module, no SQL driver, no Textual."""
    import ast

    root = Path(__file__).resolve().parents[1] / "recon_tui" / "api"
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])  # fmt: skip
            for name in names:
                assert not name.startswith(("recon_tui.store", "sqlcipher3", "textual",
                                            "recon_tui.screens")), f"{path.name} imports {name}"
