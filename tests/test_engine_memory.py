"""What a run's proposals keep: no per-proposal empty alternatives list, no candidate
object behind a deferred explanation, and the same explanation whether it is built
while the engine holds the records or after it let them go."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from matchers import Engine
from matchers.explain import Scored
from recon_tui.model import Record

T0 = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)


def rec(rid: int, amount: str, source: str = "ledger", days: int = 0, **kw: str) -> Record:
    return Record(source=source, external_id=f"{source}-{rid}", kind="payment",
                  ts=T0 + timedelta(days=days), asset="EUR", amount=Decimal(amount), id=rid,
                  **kw)  # type: ignore[arg-type]


def book() -> tuple[list[Record], list[Record]]:
    left = [rec(1, "-250.00", reference="INV-1001", counterparty="Acme"),
            rec(2, "-500.00", counterparty="Initech"), rec(3, "-500.00", counterparty="Initech"),
            rec(4, "-99.10", reference="INV-1004", counterparty="Globex")]
    right = [rec(11, "-250.00", "bank", 1, reference="INV 1001", counterparty="ACME"),
             rec(12, "-500.00", "bank", 1, counterparty="INITECH"),
             rec(14, "-99.00", "bank", 2, reference="INV-1004", counterparty="GLOBEX")]
    return left, right


def test_proposals_share_the_empty_alternatives_and_keep_no_candidate() -> None:
    eng = Engine("default")
    eng.load(*book())
    ps = eng.run().proposals
    plain = [p for p in ps if not p.alternatives]
    contested = [p for p in ps if p.alternatives]
    assert plain and contested  # the Initech 500.00s are ambiguous
    assert all(p.alternatives is plain[0].alternatives for p in plain)  # one shared ()
    assert {i for p in contested for q in (p, *p.alternatives) for i in q.left_ids} >= {2, 3}
    for p in ps:
        assert not any(isinstance(x, Scored) for x in gc.get_referents(p._explain))


def test_a_deferred_explanation_outlives_the_engines_records() -> None:
    eng = Engine("default")
    eng.load(*book())
    ps = eng.run().proposals
    before = [p.explained() for p in ps]
    # Confirmed or decided elsewhere: the engine lets every record of the run go.
    eng.remove([i for p in ps for q in (p, *p.alternatives) for i in q.ids])
    assert len(eng) == 0
    after = [p.explained() for p in ps]
    assert after == before
    fee = next(p for p in ps if p.left_ids == (4,))
    assert fee.explained()[0]["amount"]["difference"] == "0.1"  # still the exact gap
