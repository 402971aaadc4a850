"""API benchmark: p95 latency of the service's main GET endpoints on an N-per-side store,
then a bounded loopback load at a fixed rate with the error count.

Data: the matchers' synthetic ledger-vs-bank world (``--size`` records per side) written
through the store's batch upsert into a fresh encrypted store; 90% of the records are then
marked matched, 5% suggested, 5% open (a store-level shortcut instead of a full matching
run, which would dominate the time), and ``--runs`` rows of run history are recorded. The
service runs as ``recon-tui serve`` in its own process (real uvicorn on 127.0.0.1); the
client is httpx over loopback in this one.

Latency: ``--requests`` sequential requests per endpoint on one keep-alive connection.
Load: ``--rate`` requests/s for ``--load-seconds`` over a mix of the endpoints, open loop
(each request has its scheduled send time; 16 client threads), bounded in count and time.

    .venv/bin/python bench/api.py --size 100000 --json
"""

from __future__ import annotations

import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.common import parser, peak_rss_mb, produced, report, synth_batches
from recon_tui.model import Side, SourcePair
from recon_tui.services import runs as runs_service
from recon_tui.services.tokens import create_token
from recon_tui.store import Store
from recon_tui.store.records import write_batch
from recon_tui.store.sources import add_pair, add_source

PAIR = "ledger-bank"
ROOT = Path(__file__).resolve().parents[1]


def build(path: Path, size: int, n_runs: int) -> tuple[Store, float]:
    t = time.perf_counter()
    store = Store.init(path, passphrase="bench")
    add_source(store, "ledger", "synthetic", {})
    add_source(store, "bank", "synthetic", {})
    add_pair(store, SourcePair(PAIR, Side("ledger"), Side("bank")))
    # Generated in slices so a million per side never sits in memory at once; generation
    # and conversion run in a second process (bench.common.produced), the rows are written
    # here through the store's batch writer (admission included).
    step = 100_000
    slices = [(min(step, size - first), 3 + n, 1 + 4 * first)
              for n, first in enumerate(range(0, size, step))]  # fmt: skip
    done_id = 0
    for ready in produced(synth_batches, slices):
        if ready is not None:
            write_batch(store, ready)
            continue
        with store.tx() as conn:  # benchmark shortcut: states as a match run would leave them
            conn.execute(
                "UPDATE pair_states SET state = CASE WHEN record_id % 20 = 0 THEN 'open' "
                "WHEN record_id % 20 = 1 THEN 'suggested' ELSE 'matched' END "
                "WHERE pair = ? AND record_id > ?", (PAIR, done_id))  # fmt: skip
            done_id = conn.execute("SELECT max(id) FROM records").fetchone()[0]
    for i in range(n_runs):
        with runs_service.record_run(store, "sync", "ledger" if i % 2 else "bank") as run:
            run.counts = {"added": i}
    return store, time.perf_counter() - t


def latency(base: str, token: str, urls: dict[str, str], n: int) -> dict[str, dict[str, float]]:
    out = {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as c:  # fmt: skip
        for name, url in urls.items():
            for _ in range(5):  # warm up (thread-local connections, caches)
                c.get(url).raise_for_status()
            times = []
            for _ in range(n):
                t = time.perf_counter()
                r = c.get(url)
                times.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
            times.sort()
            out[name] = {"p50_ms": round(statistics.median(times), 2),
                         "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2)}  # fmt: skip
    return out


def load(base: str, token: str, urls: list[str], rate: int, seconds: float) -> dict[str, Any]:
    total = int(rate * seconds)
    start = time.perf_counter() + 0.2
    jobs: queue.Queue[tuple[int, float] | None] = queue.Queue()
    for i in range(total):
        jobs.put((i, start + i / rate))
    lat: list[float] = []
    lag: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                          timeout=10) as c:  # fmt: skip
            while True:
                try:
                    item = jobs.get_nowait()
                except queue.Empty:
                    return
                i, at = item  # type: ignore[misc]
                wait = at - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                t = time.perf_counter()
                try:
                    r = c.get(urls[i % len(urls)])
                    ok = r.status_code == 200
                    err = None if ok else f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    err = type(exc).__name__
                done = time.perf_counter()
                with lock:
                    lat.append((done - t) * 1000)
                    lag.append(max(0.0, t - at) * 1000)
                    if err:
                        errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=seconds + 120)
    elapsed = time.perf_counter() - start
    lat.sort()
    return {"load_requests": len(lat), "load_errors": len(errors),
            "load_achieved_rps": round(len(lat) / elapsed, 1),
            "load_p95_ms": round(lat[int(0.95 * (len(lat) - 1))], 2) if lat else None,
            "load_p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 2) if lat else None,
            "load_max_send_lag_ms": round(max(lag), 1) if lag else None,
            "load_error_kinds": sorted(set(errors))[:5]}  # fmt: skip


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): the server's cost per
    request, which the machine's load does not inflate the way it does latency."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_of(pid: int) -> float | None:
    """Peak resident memory of another process (Linux VmHWM), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def main() -> None:
    p = parser(__doc__.splitlines()[0], 100_000)
    p.add_argument("--requests", type=int, default=200, help="per endpoint (latency)")
    p.add_argument("--rate", type=int, default=200, help="requests/s (load)")
    p.add_argument("--load-seconds", type=float, default=30.0)
    p.add_argument("--runs", type=int, default=2000, help="rows of run history")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="service-bench-") as tmp:
        db = Path(tmp) / "api.db"
        store, build_s = build(db, args.size, args.runs)
        token = create_token(store, "bench", "read").token
        store.close()
        # The service in its own process (as deployed): the client here has its own GIL.
        env = dict(os.environ, RECON_TUI_PASSPHRASE="bench", RECON_TUI_HOME=str(Path(tmp) / "home"),
                   PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", "recon_tui.cli", "--store", str(db), "serve", "--port", "0"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if "service on" not in line:
                raise SystemExit(f"the service did not start: {line}{proc.stderr.read()[-2000:]}")
            base = line.split()[3]
            t = time.perf_counter()
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                              timeout=60) as c:  # fmt: skip
                while c.get("/v1/ready").status_code != 200:
                    time.sleep(0.05)
                first_compute = time.perf_counter() - t
                page = c.get(f"/v1/pairs/{PAIR}/breaks?limit=100").json()
                run_page = c.get("/v1/runs?limit=50").json()
                urls = {
                    "sources": "/v1/sources",
                    "runs": "/v1/runs?limit=50",
                    "runs_page2": f"/v1/runs?limit=50&before_id={run_page['next']}",
                    "runs_filtered": "/v1/runs?kind=sync&scope=bank&limit=50",
                    "pairs": "/v1/pairs",
                    "pair": f"/v1/pairs/{PAIR}",
                    "breaks": f"/v1/pairs/{PAIR}/breaks?limit=100",
                    "breaks_page2": f"/v1/pairs/{PAIR}/breaks?limit=100&after={page['next']}",
                    "breaks_filtered": f"/v1/pairs/{PAIR}/breaks?limit=100&amount_min=1000",
                    "sessions": "/v1/sessions",
                    "audit": "/v1/audit",
                    "metrics": "/metrics",
                }
                if run_page["next"] is None:  # a tiny store has a single page
                    del urls["runs_page2"]
                if page["next"] is None:
                    del urls["breaks_page2"]
                lat = latency(base, token, urls, args.requests)
                cpu0 = _cpu_seconds(proc.pid)
                loaded = load(base, token, list(urls.values()), args.rate, args.load_seconds)
                cpu_ms = (_cpu_seconds(proc.pid) - cpu0) * 1000 / max(loaded["load_requests"], 1)
                loaded["server_cpu_ms_per_request"] = round(cpu_ms, 2)
                metrics = c.get("/metrics").text
            server_rss_mb = _peak_rss_of(proc.pid)
            compute_s = next(float(x.split()[-1]) for x in metrics.splitlines()
                             if x.startswith("recon_overview_compute_seconds "))  # fmt: skip
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    figures: dict[str, Any] = {
        "size": args.size, "build_seconds": round(build_s, 1),
        "p95_ms": {k: v["p95_ms"] for k, v in lat.items()},
        "p50_ms": {k: v["p50_ms"] for k, v in lat.items()},
        "max_p95_ms": max(v["p95_ms"] for v in lat.values()),
        "overview_first_seconds": round(first_compute, 2),
        "overview_refresh_seconds": round(compute_s, 3),
        "load_rate": args.rate, "load_seconds": args.load_seconds, **loaded,
        "peak_rss_mb": peak_rss_mb(), "server_peak_rss_mb": server_rss_mb,
        "load_avg": round(os.getloadavg()[0], 1),
    }  # fmt: skip
    report(figures, args.json)


if __name__ == "__main__":
    main()
