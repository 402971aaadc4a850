"""The ONE scenario table of the demo world: which scenarios exist, how often each pair draws
each of them (:data:`MIX`), and which method of a source generator plays it
(:data:`HANDLER`); every source generator (bank, exchanges, wallet) implements the same
ten methods of :class:`_PairGen`, and :func:`run` draws scenario instances from the table.
"""

from __future__ import annotations

from bisect import bisect
from dataclasses import dataclass

from recon_tui.demo.world import TruthGroup, _World


@dataclass(frozen=True, slots=True)
class Scenario:
    """One row of the table: a scenario, the generator method that plays it, its weight
    per pair (scenario instances drawn per hundred) and what it means."""

    name: str
    method: str
    weights: tuple[int, int, int, int]
    """ledger-bank, ledger-kraken, ledger-binance, ledger-wallet (the order of PAIRS)."""
    meaning: str


PAIR_ORDER = ("ledger-bank", "ledger-kraken", "ledger-binance", "ledger-wallet")
TABLE: tuple[Scenario, ...] = (
    # Weights per scenario *instance*: a decoy instance is a cluster of 2-4 truth groups
    # (about 2.7 on average), so decoys end up ~6-8% of the groups; n:1 is one batch.
    # The order is the draw order: changing it changes every world.
    Scenario("exact", "exact", (50, 58, 58, 59), "clean 1:1, same amount, day and keys"),
    Scenario("fee", "fee", (3, 14, 14, 16), "the counterpart is the amount minus a fee"),
    Scenario("lag", "lag", (16, 5, 5, 5), "booked days (bank) or hours (exchange) later"),
    Scenario("typo", "typo", (14, 4, 4, 4), "reference typos, name variants, txid case"),
    Scenario("n:1", "n_to_1", (5, 2, 2, 3), "several ledger items settled as one"),
    Scenario("1:n", "one_to_n", (1, 6, 6, 1), "one ledger item, several counterparts"),
    Scenario("decoy", "decoy", (3, 2, 2, 2), "same-amount clusters told apart by keys"),
    Scenario("pending", "pending", (2, 3, 3, 4), "reported pending first, then booked"),
    Scenario("reversal", "reversal", (2, 2, 2, 2), "an item and its reversal, one side"),
    Scenario("break", "breaks", (4, 4, 4, 4), "a genuine break: one side only"),
)
"""The one scenario table: every source generator plays the same scenarios, drawn by it."""

SCENARIOS = tuple(sc.name for sc in TABLE)
MIX: dict[str, dict[str, int]] = {
    pair: {sc.name: sc.weights[i] for sc in TABLE} for i, pair in enumerate(PAIR_ORDER)
}
HANDLER = {sc.name: sc.method for sc in TABLE}


class _PairGen:
    """Base of the per-pair generators: one method per scenario, each taking a day index."""

    pair: str
    source: str
    account: str

    def __init__(self, w: _World) -> None:
        self.w = w
        self.rng = w.rng
        self.rnd = w.rng.random
        self.pools = w.pools
        self.recs = w.records[self.source]
        self.pend = w.pending[self.source]
        self.truth = w.truth

    def group(self, scenario: str, left: tuple[str, ...], right: tuple[str, ...]) -> None:
        self.truth.append(TruthGroup(self.pair, scenario, left, right))

    # One method per scenario of TABLE, each taking the day index; every source
    # generator implements all ten in its own terms (a bank fee is not a network fee).

    def exact(self, day: int) -> None:
        raise NotImplementedError

    def fee(self, day: int) -> None:
        raise NotImplementedError

    def lag(self, day: int) -> None:
        raise NotImplementedError

    def typo(self, day: int) -> None:
        raise NotImplementedError

    def n_to_1(self, day: int) -> None:
        raise NotImplementedError

    def one_to_n(self, day: int) -> None:
        raise NotImplementedError

    def decoy(self, day: int) -> None:
        raise NotImplementedError

    def pending(self, day: int) -> None:
        raise NotImplementedError

    def reversal(self, day: int) -> None:
        raise NotImplementedError

    def breaks(self, day: int) -> None:
        raise NotImplementedError


def run(w: _World, gen: _PairGen, target: int) -> None:
    """Draw scenario instances for ``gen``'s pair until its source has ``target`` records."""
    weights = MIX[gen.pair]
    names = list(weights)
    cum: list[float] = []
    total = 0
    for nm in names:
        total += weights[nm]
        cum.append(total)
    handlers = [getattr(gen, HANDLER[nm]) for nm in names]
    recs = w.records[gen.source]
    rng = w.rng
    span = w.span
    last = len(handlers) - 1
    while len(recs) < target:
        day = len(recs) * span // target
        i = bisect(cum, rng.random() * total)
        handlers[min(i, last)](day)
