"""Helpers shared by the benchmark scripts: argument parsing, peak memory, JSON output."""

from __future__ import annotations

import argparse
import json
import resource
import sys
from typing import Any


def parser(description: str, default_size: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--size", type=int, default=default_size, help="records per source")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return p


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def report(figures: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(figures))
    else:
        for k, v in figures.items():
            print(f"{k:>24}: {v}", file=sys.stdout)
