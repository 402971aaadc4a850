"""No arbitrary SQL limits: 260,000 records imported into a paired source, then the
import's automatic match and a plain ``match`` (issue 12.4: both crashed with "too many
SQL variables" above ~250,000 changed records). The records are generated inside SQLite
(one recursive INSERT … SELECT, then the admission the batch writer runs) so the test runs in CI
time; every ``IN (…)`` over ids on the way is chunked."""

from __future__ import annotations

import pytest
import sqlcipher3

from recon_tui.model import Side, SourcePair
from recon_tui.services.matching import MatchService
from recon_tui.store import Store
from recon_tui.store.admission import admit_range
from recon_tui.store.pairs import add_pair
from recon_tui.store.sources import add_source
from recon_tui.store.summary import pair_totals

N = 260_000
"""Above this SQLite build's 250,000-variable limit (the test checks the limit holds, so that
an unchunked ``IN`` over N ids would fail here): 600,000 took 4-5 minutes of a CI run."""
PAIR = SourcePair("ledger-bank", Side("ledger"), Side("bank"))


def bulk_records(store: Store, source: str, n: int) -> list[int]:
    """``n`` distinct records of ``source`` written in one transaction; returns their ids."""
    with store.tx() as conn:
        rev = store.next_rev(conn)
        before = conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0]
        conn.execute(
            """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO records (source, external_id, kind, ts_us, asset, amount, amount_e8,
                reference, status, content_hash, first_seen_us, changed_us, rev)
            SELECT ?, 'x' || i, 'payment', 1767225600000000 + i * 60000000, 'EUR',
                printf('%d.%02d', -(i % 5000) - 1, i % 100),
                (-(i % 5000) - 1) * 100000000 - (i % 100) * 1000000,
                'REF' || i, 'booked', hex(randomblob(16)), 0, 0, ? FROM n""",
            (n, source, rev),
        )
        after = conn.execute("SELECT max(id) FROM records").fetchone()[0]
        admit_range(conn, before + 1, after)  # what the batch writer does after its insert
    return list(range(before + 1, after + 1))


def test_more_records_than_sql_variables_into_a_paired_source_then_match(store: Store) -> None:
    with pytest.raises(sqlcipher3.dbapi2.OperationalError, match="too many SQL variables"):
        store.conn.execute(f"SELECT 1 WHERE 1 IN ({','.join('?' * N)})", [1] * N)
    add_source(store, "ledger", "ledger")
    add_source(store, "bank", "csv")
    add_pair(store, PAIR)
    MatchService(store).run_all()  # the pair has run once: later runs are incremental
    ids = bulk_records(store, "bank", N)
    assert len(ids) == N
    right = sum(t.count for t in pair_totals(store.conn, PAIR.name) if t.side == "R")
    assert right == N  # every record admitted to the pair, in the import's transaction
    # The import's automatic match (its changed ids), then a plain incremental match.
    first = MatchService(store).run_all(changed_ids=ids)
    second = MatchService(store).run_all()
    assert [r.pair for r in first.runs] == [PAIR.name]
    assert second.runs[0].scope == 0  # the first run advanced the pair's revision
    assert store.meta(f"matched_rev:{PAIR.name}") == store.meta("rev")
