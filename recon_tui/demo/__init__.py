"""A deterministic, seeded, realistic demo world: a small crypto company and its money.

The company (*Nordlicht Digital Assets GmbH*) keeps an internal **ledger** and has four
external sources whose movements the ledger must reconcile against:

``bank``
    A EUR current account (a CSV statement). Customers pay invoices
    (``INV-2026-00123``), the company pays suppliers, payroll, its exchange accounts
    and bank fees. Records carry ``booking_date``/``value_date``, counterparty names and
    bank-style remittance text (``SEPA CT REF INV-2026-00123 ACME LTD``).
``kraken`` / ``binance``
    Two exchange accounts (ccxt): crypto deposits and withdrawals with txids and
    addresses, SEPA deposits and withdrawals, trades in BTC/ETH/USDT/EUR with fees
    in the quote asset, staking rewards. A trade is **one record in the base asset**
    (signed quantity) with ``attrs`` ``symbol``/``side``/``price``/``cost``/``order_id``;
    ``fee``/``fee_asset`` hold the commission in the quote asset.
``wallet``
    An on-chain BTC wallet (esplora): one record per transaction (``external_id`` is
    the txid) with the net value for the wallet, network fee on sends.

Every ledger record has ``account`` set to ``bank-eur``, ``kraken``, ``binance`` or
``wallet-btc``; the four source pairs (``ledger-bank``, ``ledger-kraken``,
``ledger-binance``, ``ledger-wallet``) reconcile ``Side("ledger", account)`` against the
source. Sizes: ``size`` is the approximate number of records of **each external
source**; the ledger gets roughly ``size`` records per account (a little more, because
n:1 groups have several ledger records), so ~4x``size`` ledger records in total.
The period ends at ``start`` (default 2026-10-31, never "today") and spans
``min(365, max(30, size))`` days back, so small worlds are sparse and big ones dense.

Scenarios (each truth group is labelled with one; the mix differs per pair, see
:data:`MIX`; over all pairs the truth groups come out about 54% exact, 11% fee,
8% lag, 6% typo, 3% n:1, 3% 1:n, 6% decoy, 3% pending, 2% reversal, 4% break):

``exact``     clean 1:1, same amount, same day, same reference/counterparty/txid.
``fee``       the counterpart is the ledger amount minus a fee, the fee is in ``fee``
              (same asset) and ``attrs["fee_included"]`` is true: exchange withdrawal
              fees, BTC network fees, SWIFT charges on incoming bank payments.
``lag``       bank bookings 1-4 calendar days after the ledger date, mostly across a
              weekend (a Friday payment books Monday); exchange/chain timestamps hours
              to two days away from the ledger's.
``typo``      reference typos and prefixes (``REF``, ``SEPA CT``), counterparty name
              variants (``ACME LTD`` / ``Acme Limited`` / ``ACME LTD.``), txids pasted in
              upper case or without ``0x``, kraken order ids without dashes.
``n:1``       several ledger items settled as one counterpart (payroll bulk transfer,
              Stripe payout, Wise batch, weekly staking payout, batched BTC send with
              the network fee as its own ledger line); sums are equal.
``1:n``       one ledger item, several counterparts: an order filled by several trades,
              an invoice paid in instalments (bank transfers or on-chain); sums equal.
``decoy``     clusters of 2-4 items with the *same amount* (often round: 100.00,
              500.00, 1000.00, 0.1 BTC) on nearby dates, bookings shuffled so dates
              mislead; only reference/counterparty/txid tells them apart. Each member
              is its own 1:1 truth group.
``pending``   the source first reported the item as pending (see
              :attr:`DemoWorld.pending`), then booked; the booked version matches 1:1.
``reversal``  an item and its reversal on the same side, no counterpart: a ledger
              entry and its opposite entry (``left``), a SEPA return or an exchange
              refund (``right``, two records), or a cancelled withdrawal reported with
              status ``reversed`` (``right``, one record).
``break``     a genuine break, one side empty: ledger items that never settled or were
              posted twice; bank fees, unidentified payers, staking rewards, airdrops,
              dust deposits nobody booked.

All amounts are :class:`~decimal.Decimal` built from integers (EUR 2 places, BTC 8,
USDT 6, ETH 8 for exchange quantities or 18 for on-chain precision), timestamps are
aware UTC, raw payloads hold only strings, ints, bools and nested dicts. Only
``random.Random(seed)`` is used, so the same ``(size, seed, start)`` always gives the
same world.

Cost: about 1 KB of memory per record (~8.5 GB for ``size=1_000_000``, i.e. 8.35M
records) and a few microseconds of CPU per record; the cyclic GC is paused while
generating. A caller keeping a huge world alive may want ``gc.freeze()`` afterwards, or
every full collection rescans millions of records.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from datetime import date
from operator import attrgetter
from typing import Any

from recon_tui.demo.bank import _BankGen
from recon_tui.demo.exchange import _ExchangeGen
from recon_tui.demo.scenarios import HANDLER, MIX, SCENARIOS, _PairGen, run
from recon_tui.demo.wallet import _WalletGen
from recon_tui.demo.world import (
    COMPANY,
    DEFAULT_START,
    LEDGER_ACCOUNTS,
    PAIRS,
    PLACES,
    SOURCE_NAMES,
    DemoWorld,
    TruthGroup,
    _check_record_layout,
    _World,
)

# --- public API ----------------------------------------------------------------------------


def generate(size: int = 400, seed: int = 7, start: date | None = None) -> DemoWorld:
    """Build the demo world: ~``size`` records per external source, ~4x``size`` in the ledger.

    Deterministic: the same ``(size, seed, start)`` gives identical records, truth and
    prices. ``start`` is the last day of the period (default :data:`DEFAULT_START`).
    """
    steps = stream(size, seed, start)
    w, _ = next(steps)
    for _step in steps:  # run every generator to the end
        pass
    return DemoWorld(seed=seed, size=size, sources=sources_of(w), pairs=list(PAIRS),
                     records=w.records, pending=w.pending, truth=w.truth,
                     prices=w.prices, start=w.start, days=w.n_days)


SYNC_ORDER = tuple(sorted(SOURCE_NAMES))
"""The order sources are written in (a sync's: by name)."""


def stream(size: int = 400, seed: int = 7,
           start: date | None = None) -> Iterator[tuple[_World, str | None]]:  # fmt: skip
    """The world of :func:`generate`, handed over as it is made: first ``(w, None)`` (its
    pools, prices and calendar are ready: :func:`sources_of` works), then ``(w, name)``
    for each source in :data:`SYNC_ORDER` as soon as it is complete (its records and
    pending versions sorted by time, as :func:`generate` leaves them).

    A source is complete once its generator has run (each appends to its own source and
    to the ledger only); the ledger once all four have. So the bank is ready after the
    first generator, binance and kraken after the third, the ledger and wallet at the end:
    a caller that writes each source and then empties ``w.records[name]`` and
    ``w.pending[name]`` overlaps the writing with the rest of the generation and never
    holds the whole world. The generators run in the same order on the same random stream
    and every list gets the same stable sort, so the records are those of :func:`generate`.
    The cyclic GC is paused until the generator finishes.
    """
    if size < 1:
        raise ValueError("size must be positive")
    _check_record_layout()
    start = start or DEFAULT_START
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small containers: the cyclic GC would rescan them all
    try:
        w = _World(size, seed, start)
        yield w, None
        gens: list[_PairGen] = [_BankGen(w), _ExchangeGen(w, "kraken"),
                                _ExchangeGen(w, "binance"), _WalletGen(w)]
        key = attrgetter("ts")
        ready: set[str] = set()
        order = list(SYNC_ORDER)
        while gens:
            g = gens.pop(0)
            run(w, g, size)
            # The generator holds its source's lists: let go of it, so a caller that drops
            # a handed source frees it.
            done = [g.source] if gens else [g.source, "ledger"]
            del g
            for name in done:
                w.records[name].sort(key=key)
                w.pending[name].sort(key=key)
                ready.add(name)
            while order and order[0] in ready:
                yield w, order.pop(0)
    finally:
        if gc_was_enabled:
            gc.enable()


def sources_of(w: _World) -> list[dict[str, Any]]:
    """The demo's five sources (names, kinds, labels, settings) of world ``w``."""
    pools = w.pools
    return [
        {"name": "ledger", "kind": "ledger", "label": "Company ledger (GL export)",
         "settings": {"accounts": list(LEDGER_ACCOUNTS), "company": COMPANY}},
        {"name": "bank", "kind": "csv", "label": "Bank EUR (statement)",
         "settings": {"iban": pools.company_iban, "currency": "EUR"}},
        {"name": "kraken", "kind": "ccxt", "label": "Kraken",
         "settings": {"exchange": "kraken"}},
        {"name": "binance", "kind": "ccxt", "label": "Binance",
         "settings": {"exchange": "binance"}},
        {"name": "wallet", "kind": "esplora", "label": "BTC wallet (on-chain)",
         "settings": {"address": pools.wallet_address, "network": "mainnet"}},
    ]


def summary(world: DemoWorld) -> dict[str, Any]:
    """Counts per source, pending versions, scenario (groups) and pair x scenario."""
    by_pair: dict[str, Counter[str]] = {p.name: Counter() for p in world.pairs}
    for g in world.truth:
        by_pair[g.pair][g.scenario] += 1
    scenarios: Counter[str] = Counter()
    for c in by_pair.values():
        scenarios.update(c)
    ledger_by_account = Counter(r.account for r in world.records.get("ledger", ()))
    return {
        "seed": world.seed,
        "size": world.size,
        "days": world.days,
        "records": {name: len(recs) for name, recs in world.records.items()},
        "ledger_by_account": dict(sorted(ledger_by_account.items(), key=lambda kv: str(kv[0]))),
        "pending": {name: len(recs) for name, recs in world.pending.items()},
        "truth_groups": len(world.truth),
        "scenarios": {s: scenarios[s] for s in SCENARIOS if scenarios[s]},
        "by_pair": {p: {s: c[s] for s in SCENARIOS if c[s]} for p, c in by_pair.items()},
        "prices": len(world.prices),
    }


__all__ = [
    "DEFAULT_START",
    "HANDLER",
    "LEDGER_ACCOUNTS",
    "MIX",
    "PAIRS",
    "PLACES",
    "SCENARIOS",
    "SOURCE_NAMES",
    "SYNC_ORDER",
    "DemoWorld",
    "PairGen",
    "TruthGroup",
    "generate",
    "sources_of",
    "stream",
    "summary",
]

PairGen = _PairGen
"""The interface every source generator implements: one method per scenario."""
