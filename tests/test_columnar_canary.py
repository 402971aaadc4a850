"""No plaintext on disk from the matcher's columnar engine (issue 17): an in-memory DuckDB
join run far past its memory cap, in a subprocess with a fresh TMPDIR, HOME and working
directory, fails with an out-of-memory error instead of spilling, refuses to write a
file, and leaves no file behind — none in those directories, none anywhere under the
temp roots holding the canary string."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import sys
import duckdb
import numpy as np
sys.path.insert(0, sys.argv[2])
from matchers import columnar
from bench.skewed_world import CELLS, generate
from matchers import Engine

canary = sys.argv[1]
con = columnar.connect(memory_limit="64MB")
n = 400_000
keys = np.array([f"{canary}-{i % 1000}" for i in range(n)], dtype=object)
con.register("a", {"k": keys, "i": np.arange(n, dtype=np.int64)})
try:
    # 160M joined rows of canary strings, sorted, kept as a table: far past 64 MB.
    # DuckDB's default configuration spills this to ./.tmp (measured: ~500 MB of
    # duckdb_temp_* files in 25 s); ``connect()``'s must fail it instead.
    con.execute("CREATE TABLE t AS SELECT x.k AS k1, y.k AS k2, x.i + y.i AS s "
                "FROM a AS x JOIN a AS y ON x.k = y.k ORDER BY s")
    print("finished")
except duckdb.OutOfMemoryException:
    print("out of memory")
for sql in (f"COPY (SELECT '{canary}') TO 'canary.csv'",
            "SET temp_directory = 'spill'",
            f"ATTACH 'canary.duckdb' AS c"):
    try:
        con.execute(sql)
        print("allowed:", sql)
    except duckdb.Error:
        print("refused")
# The engine's own join, on a book whose references carry the canary.
w = generate(3000, CELLS["base"], seed=5)
for r in (*w.left, *w.right):
    if r.reference:
        object.__setattr__(r, "reference", canary + r.reference)
e = Engine("default")
e.load(w.left, w.right)
print("proposals", len(e.run().proposals))
"""


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def _holding(roots: list[Path], needle: bytes, since: float) -> list[Path]:
    """Files under ``roots`` changed since ``since`` that contain ``needle``."""
    found = []
    for root in roots:
        for dirpath, _dirs, names in os.walk(root, onerror=lambda e: None):
            for name in names:
                p = Path(dirpath) / name
                try:
                    st = p.stat()
                    if st.st_mtime < since or st.st_size > 512 * 1024 * 1024 or not p.is_file():
                        continue
                    with p.open("rb") as f:
                        if needle in f.read():
                            found.append(p)
                except OSError:
                    continue
    return found


def test_columnar_engine_never_writes_a_file(tmp_path: Path) -> None:
    canary = "CANARY" + secrets.token_hex(8).upper()
    tmp, home, cwd = tmp_path / "tmp", tmp_path / "home", tmp_path / "cwd"
    for d in (tmp, home, cwd):
        d.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUCKDB", "PYTHON"))}
    env.update(TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp), HOME=str(home),
               XDG_CACHE_HOME=str(home / ".cache"), XDG_DATA_HOME=str(home / ".local"))
    start = time.time() - 1
    out = subprocess.run([sys.executable, "-c", SCRIPT, canary, str(ROOT)], cwd=cwd,
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0] == "out of memory", out.stdout
    assert lines[1:4] == ["refused"] * 3, out.stdout
    assert lines[4].startswith("proposals ") and int(lines[4].split()[1]) > 0
    # Nothing at all in the directories the process was given...
    for d in (tmp, home, cwd):
        assert _files(d) == set(), (d, sorted(_files(d))[:10])
    # ...and no file holding the canary anywhere under the usual temp roots.
    roots = [Path(p) for p in ("/tmp", "/var/tmp", "/dev/shm") if Path(p).is_dir()]
    assert _holding(roots, canary.encode(), start) == []
