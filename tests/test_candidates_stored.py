"""The candidates service reads a record's stored suggestions without the matching engine
(``candidates.stored_views``) and gives exactly what ``matching.stored_suggestions``
gives, for every record of a demo store that has any."""

from __future__ import annotations

import sys
from pathlib import Path

from recon_tui.services.candidates import stored_views
from tests.workbench_fixtures import demo_store


def test_stored_views_equal_the_matching_services(tmp_path: Path) -> None:
    from recon_tui.services.matching import stored_suggestions

    store = demo_store(tmp_path)
    conn = store.connection()
    seen = 0
    for pair, rid in conn.execute(
        "SELECT DISTINCT g.pair, m.record_id FROM group_members m JOIN match_groups g "
        "ON g.id = m.group_id WHERE g.state = 'suggested' ORDER BY 1, 2"
    ).fetchall():  # fmt: skip
        for limit in (None, 1):
            want = stored_suggestions(conn, pair, rid, limit=limit)
            assert stored_views(conn, pair, rid, limit=limit) == want
            seen += bool(want)
    assert seen > 10
    store.close()


def test_the_candidates_module_does_not_import_the_engine() -> None:
    import subprocess

    code = ("import sys; import recon_tui.services.candidates; "
            "print('recon_tui.services.matching' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    assert out.stdout.strip() == "False"
