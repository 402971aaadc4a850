"""bench/api.py still runs and prints the figures the service issue names (a tiny smoke run:
figures are not asserted, only that they are there and the load saw no errors)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "api.py"


def test_api_bench_prints_its_json_figures(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--size", "300", "--requests", "5", "--load-seconds", "1",
         "--rate", "20", "--runs", "20", "--json"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"p95_ms", "max_p95_ms", "load_requests", "load_errors", "load_achieved_rps",
            "server_cpu_ms_per_request"} <= figures.keys()  # fmt: skip
    assert {"sources", "runs", "pairs", "breaks", "sessions", "audit"} <= figures["p95_ms"].keys()
    assert figures["load_requests"] == 20 and figures["load_errors"] == 0
