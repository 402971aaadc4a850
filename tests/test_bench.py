"""The benchmark scripts still run and print the JSON figures their issues name.

Smoke runs at tiny sizes (seconds in all): figures are not asserted, only that each
script finishes and its last line is one JSON object with the agreed keys. The TUI
benchmark is left out (it drives the app through Pilot: ~20 s even when small).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize(
    ("script", "args", "keys"),
    [
        ("ingest.py", ["--size", "1000"], {"records_per_s", "peak_rss_mb"}),
        ("sync.py", ["--size", "300"], {"exchange_records_per_s", "csv_records_per_s"}),
        ("match.py", ["--size", "400", "--batch", "40"],
         {"full_seconds", "incremental_seconds", "peak_rss_mb"}),
        ("quality.py", ["--size", "60"],
         {"auto_precision", "auto_recall", "top1_accuracy", "top3_accuracy", "per_scenario"}),
    ],
)
def test_bench_prints_its_json_figures(
    script: str, args: list[str], keys: set[str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--json"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert keys <= figures.keys()
    if script == "quality.py":
        # The scenarios the matching issue names, each reported.
        assert {"fee", "lag", "typo", "n:1", "1:n", "decoy", "break"} <= figures["per_scenario"].keys()
