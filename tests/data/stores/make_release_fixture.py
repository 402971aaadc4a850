"""How ``release-419601b.db`` was made: with the code of commit 419601b (schema v2, one
global ``records.state``), a small demo store, a match run, a confirm, a reject, an
explained break and an open session. Not run by the tests (they open the committed file);
to remake it::

    git -C /work/main archive 419601b | tar -x -C /tmp/old
    RECON_TUI_PASSPHRASE=old-release PYTHONPATH=/tmp/old python make_release_fixture.py out.db
"""

import sys
from pathlib import Path

from recon_tui.services import sessions
from recon_tui.services.decisions import Decisions
from recon_tui.services.workspace import build_demo

out = Path(sys.argv[1])
store = build_demo(out, size=40, seed=7)
conn = store.connection()
dec = Decisions(store, actor="fixture")
sugg = [g for (g,) in conn.execute(
    "SELECT id FROM match_groups WHERE state = 'suggested' ORDER BY id")]  # fmt: skip
dec.confirm(sugg[0], note="fixture confirm")
dec.reject(sugg[-1], "wrong-amount", note="fixture reject")
open_ids = [r for (r,) in conn.execute(
    "SELECT id FROM records WHERE source = 'bank' AND state = 'open' ORDER BY id LIMIT 2")]  # fmt: skip
dec.explain("ledger-bank", [open_ids[0]], "write-off", "fixture explain", side="R")
sessions.open_session(store, ["ledger-bank"], "2020-01-01", "2030-01-01", actor="fixture")
store.close()
