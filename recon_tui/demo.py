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

import dataclasses
import gc
import math
import random
import unicodedata
from bisect import bisect
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any

from recon_tui.model import Price, Record, Side, SourcePair

DEFAULT_START = date(2026, 10, 31)
"""Last day of the default period: fixed, so output never depends on today's date."""

SOURCE_NAMES = ("ledger", "bank", "kraken", "binance", "wallet")
LEDGER_ACCOUNTS = ("bank-eur", "kraken", "binance", "wallet-btc")
SCENARIOS = (
    "exact", "fee", "lag", "typo", "n:1", "1:n", "decoy", "pending", "reversal", "break",
)
PLACES = {"EUR": 2, "BTC": 8, "USDT": 6, "ETH": 18}
"""Maximum decimal places per asset (EUR, BTC and USDT amounts always have exactly these)."""

PAIRS: tuple[SourcePair, ...] = (
    SourcePair("ledger-bank", Side("ledger", "bank-eur"), Side("bank")),
    SourcePair("ledger-kraken", Side("ledger", "kraken"), Side("kraken")),
    SourcePair("ledger-binance", Side("ledger", "binance"), Side("binance")),
    SourcePair("ledger-wallet", Side("ledger", "wallet-btc"), Side("wallet")),
)

MIX: dict[str, dict[str, int]] = {
    # Weights per scenario *instance*: a decoy instance is a cluster of 2-4 truth groups
    # (about 2.7 on average), so decoys end up ~6-8% of the groups; n:1 is one batch.
    "ledger-bank": {
        "exact": 50, "fee": 3, "lag": 16, "typo": 14, "n:1": 5, "1:n": 1,
        "decoy": 3, "pending": 2, "reversal": 2, "break": 4,
    },
    "ledger-kraken": {
        "exact": 58, "fee": 14, "lag": 5, "typo": 4, "n:1": 2, "1:n": 6,
        "decoy": 2, "pending": 3, "reversal": 2, "break": 4,
    },
    "ledger-binance": {
        "exact": 58, "fee": 14, "lag": 5, "typo": 4, "n:1": 2, "1:n": 6,
        "decoy": 2, "pending": 3, "reversal": 2, "break": 4,
    },
    "ledger-wallet": {
        "exact": 59, "fee": 16, "lag": 5, "typo": 4, "n:1": 3, "1:n": 1,
        "decoy": 2, "pending": 4, "reversal": 2, "break": 4,
    },
}

COMPANY = "Nordlicht Digital Assets GmbH"


@dataclass(slots=True)
class TruthGroup:
    """Records of one pair that belong together, and why (the scenario)."""

    pair: str
    scenario: str
    left: tuple[str, ...]
    """External ids on the pair's left side (empty for a right-side break/reversal)."""
    right: tuple[str, ...]
    """External ids on the pair's right side (empty for a left-side break/reversal)."""


@dataclass
class DemoWorld:
    """Everything :func:`generate` makes: sources, pairs, records, ground truth, prices."""

    seed: int
    size: int
    sources: list[dict[str, Any]]
    pairs: list[SourcePair]
    records: dict[str, list[Record]]
    """Booked (final) records per source name, sorted by ``ts``."""
    pending: dict[str, list[Record]]
    """Earlier *pending* versions, same (source, external_id) as a record in ``records``."""
    truth: list[TruthGroup]
    prices: list[Price]
    start: date = DEFAULT_START
    days: int = 0

    def pair(self, name: str) -> SourcePair:
        """The source pair called ``name``."""
        for p in self.pairs:
            if p.name == name:
                return p
        raise KeyError(name)

    def truth_for(self, pair: str) -> list[TruthGroup]:
        """The ground-truth groups of one pair."""
        return [g for g in self.truth if g.pair == pair]


# --- name pools ------------------------------------------------------------------------

_STEMS = (
    "Acme", "Alder", "Bluefin", "Brightline", "Cedar & Lowe", "Cobalt", "Contoso", "Deltaport",
    "Evergreen", "Fabrikam", "Fjordline", "Granite", "Harbor", "Ironwood", "Juniper",
    "Keystone", "Lumen", "Meridian", "Nimbus", "Orchid", "Pioneer", "Quantum", "Redwood",
    "Silverlake", "Tidewater", "Upland", "Vertex", "Westbrook", "Zenith", "Aurora",
    "Baltic", "Corvid", "Dunmore", "Elmstead", "Foxglove", "Greystone", "Hollis",
    "Isola", "Kestrel", "Larkspur", "Marlow", "Northgate", "Oakridge", "Pemberton",
)
_TRADES = (
    "", " Analytics", " Logistics", " Media", " Software", " Trading", " Consulting",
    " Labs", " Systems", " Capital", " Foods", " Energy", " Design", " Robotics",
    " Health", " Ventures", " Studios", " Networks",
)
_LEGAL = (
    ("GB", "Ltd"), ("DE", "GmbH"), ("FR", "SAS"), ("NL", "B.V."), ("ES", "S.L."),
    ("IT", "S.r.l."), ("IE", "Limited"), ("BE", "SA"), ("AT", "GmbH"), ("SE", "AB"),
)
_LEGAL_VARIANTS = {
    "Ltd": ("Ltd", "LTD", "Ltd.", "LTD.", "Limited", "LIMITED"),
    "GmbH": ("GmbH", "GMBH", "Gmbh", "G.m.b.H."),
    "SAS": ("SAS", "S.A.S.", "sas"),
    "B.V.": ("B.V.", "BV", "B V"),
    "S.L.": ("S.L.", "SL", "S.L"),
    "S.r.l.": ("S.r.l.", "SRL", "Srl"),
    "Limited": ("Limited", "LTD", "Ltd."),
    "SA": ("SA", "S.A.", "NV/SA"),
    "AB": ("AB", "Aktiebolag"),
}
_FIRST = (
    "Anna", "Lukas", "Sophie", "Jonas", "Léa", "Mateo", "Zoë", "Björn", "Ana", "José",
    "Chiara", "Marek", "Inês", "Noah", "Emma", "Luca", "Maja", "Élodie", "Søren", "Jürgen",
    "Fatima", "Tomás", "Ewa", "Kai", "Nora", "Óscar", "Lena", "Milan", "Sara", "Henrik",
)
_LAST = (
    "Müller", "Schmidt", "García", "Dubois", "Rossi", "Nowak", "Jansen", "Öztürk",
    "Fernández", "Nielsen", "Kowalski", "Bianchi", "Lefèvre", "Novák", "Svensson",
    "Peeters", "O'Brien", "Weiß", "Martínez", "Horváth", "Becker", "Moreau", "Costa",
    "Lindqvist", "Ferreira", "Keller", "Wójcik", "Schäfer", "Russo", "Andersen",
)
_SUPPLIER_REFS = (
    "SI-{n:05d}", "{y}/{n:04d}", "R{n:07d}", "FA{yy}-{n:05d}", "INV{n:06d}", "{yy}{n:06d}",
    "RE-{y}-{n:04d}", "{n:08d}",
)
_IBAN_FORMATS = {
    # country: BBAN layout ("9" digit, "A" letter)
    "DE": "9" * 18, "AT": "9" * 16, "FR": "9" * 23, "NL": "AAAA" + "9" * 10,
    "ES": "9" * 20, "IT": "A" + "9" * 22, "GB": "AAAA" + "9" * 14, "IE": "AAAA" + "9" * 14,
    "BE": "9" * 12, "SE": "9" * 20,
}
_DE_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe",
                              "Ü": "Ue", "ß": "ss", "ø": "oe", "Ø": "Oe"})
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_MASK80 = (1 << 80) - 1
_MIX80 = 0x9E3779B97F4A7C15F39D  # odd: n -> n*_MIX80 mod 2**80 is a bijection
_B32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B32_PAIRS = [a + b for a in _B32_ALPHABET for b in _B32_ALPHABET]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _iban(rng: random.Random, country: str) -> str:
    """A syntactically valid IBAN (correct mod-97 check digits) for ``country``."""
    bban = "".join(
        rng.choice("0123456789") if c == "9" else rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        for c in _IBAN_FORMATS[country]
    )
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def _bech32_polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= gen[i]
    return chk


def _btc_address(rng: random.Random, taproot: bool = False) -> str:
    """A valid-checksum mainnet segwit address: bc1q... (P2WPKH) or bc1p... (taproot)."""
    program = rng.getrandbits(256 if taproot else 160)
    nbits = 256 if taproot else 160
    groups = [(program >> (nbits - 5 * (i + 1))) & 31 for i in range(nbits // 5)]
    if nbits % 5:
        groups.append((program << (5 - nbits % 5)) & 31)
    data = [1 if taproot else 0, *groups]
    const = 0x2BC830A3 if taproot else 1
    hrp = [ord(c) >> 5 for c in "bc"] + [0] + [ord(c) & 31 for c in "bc"]
    pm = _bech32_polymod(hrp + data + [0] * 6) ^ const
    data += [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return "bc1" + "".join(_BECH32[d] for d in data)


def _eth_address(rng: random.Random) -> str:
    return f"0x{rng.getrandbits(160):040x}"


def _tron_address(rng: random.Random) -> str:
    return "T" + "".join(rng.choice(_B58) for _ in range(33))


class _Party:
    """A counterparty: canonical name (the ledger's), bank-side variants, IBAN."""

    __slots__ = ("iban", "name", "ref_pattern", "ref_seq", "upper", "variants")

    def __init__(self, name: str, variants: list[str], iban: str, ref_pattern: str = "",
                 ref_seq: int = 0) -> None:
        self.name = name
        self.upper = _ascii(name.translate(_DE_TRANSLIT)).upper()
        self.variants = tuple(v for v in dict.fromkeys(variants) if v != name) or (self.upper,)
        self.iban = iban
        self.ref_pattern = ref_pattern
        self.ref_seq = ref_seq


def _company(rng: random.Random, stem: str, trade: str, legal: str, country: str) -> _Party:
    base = f"{stem}{trade}"
    variants = []
    for lv in _LEGAL_VARIANTS[legal]:
        variants.append(f"{base} {lv}")
        variants.append(f"{base} {lv}".upper())
    if "&" in base:
        variants.append(f"{base.replace('&', 'and')} {legal}".upper())
    upper = f"{base} {legal}".upper()
    if len(upper) > 27:
        variants.append(upper[:27])  # banks truncate long names
    return _Party(f"{base} {legal}", variants, _iban(rng, country))


def _person(rng: random.Random, first: str, last: str) -> _Party:
    de = f"{last.translate(_DE_TRANSLIT)} {first.translate(_DE_TRANSLIT)}"
    variants = [
        _ascii(de).upper(),
        f"{_ascii(first)} {_ascii(last)}",
        f"{first[0]}. {last}",
        f"{_ascii(last).upper()}, {_ascii(first).upper()}",
    ]
    return _Party(f"{first} {last}", variants, _iban(rng, rng.choice(("DE", "AT", "FR", "ES"))))


class _Pools:
    """Precomputed names, IBANs and addresses (built once per world; cheap)."""

    def __init__(self, rng: random.Random) -> None:
        combos = [(s, t, lg) for s in _STEMS for t in _TRADES for lg in _LEGAL]
        picks = rng.sample(combos, 420)
        self.customers = [_company(rng, s, t, lg[1], lg[0]) for s, t, lg in picks[:300]]
        self.suppliers = [_company(rng, s, t, lg[1], lg[0]) for s, t, lg in picks[300:]]
        for sup in self.suppliers:
            sup.ref_pattern = rng.choice(_SUPPLIER_REFS)
            sup.ref_seq = rng.randrange(1, 5000)
        people = rng.sample([(f, la) for f in _FIRST for la in _LAST], 160)
        self.employees = [_person(rng, f, la) for f, la in people]
        self.btc_addresses = [_btc_address(rng, taproot=rng.random() < 0.2) for _ in range(1500)]
        self.eth_addresses = [_eth_address(rng) for _ in range(600)]
        self.tron_addresses = [_tron_address(rng) for _ in range(400)]
        self.company_iban = _iban(rng, "DE")
        self.wallet_address = _btc_address(rng)
        self.payward = _Party("Payward Ltd", ["PAYWARD LTD", "PAYWARD LIMITED"],
                              _iban(rng, "IE"))
        self.binance_sepa = _Party("Binance Europe Services Ltd",
                                   ["BINANCE EUROPE SERVICES LTD"], _iban(rng, "FR"))
        self.stripe = _Party("Stripe Payments Europe Ltd", ["STRIPE PAYMENTS EUROPE LTD"],
                             _iban(rng, "IE"))
        self.wise = _Party("Wise Europe SA", ["WISE EUROPE SA"], _iban(rng, "BE"))


# --- the world under construction ------------------------------------------------------

_ACCOUNT_LABEL = {
    "bank-eur": "1200 Bank EUR", "kraken": "1310 Kraken", "binance": "1320 Binance",
    "wallet-btc": "1330 BTC wallet",
}
_ROUND_EUR = (10000, 20000, 25000, 30000, 50000, 75000, 100000, 150000, 200000, 250000,
              500000, 1000000)
_PLAN_EUR = (4900, 9900, 19900, 49900, 119900, 249000)


def _log_uniform(rng: random.Random, lo: float, hi: float) -> int:
    """An integer (minor units) log-uniform between ``lo`` and ``hi``."""
    return int(math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * rng.random()))


def _split(rng: random.Random, total: int, k: int) -> list[int]:
    """``total`` split into ``k`` positive integer parts (exactly; needs total >= k)."""
    cuts = sorted(rng.sample(range(1, total), k - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def _amount(units: int, places: int) -> Decimal:
    """An exact amount from integer minor units: ``_amount(12345, 2) == Decimal("123.45")``."""
    return Decimal(units).scaleb(-places)


def _f(d: Decimal) -> str:
    """Plain text of an amount (``str`` is fast; tiny values would come out as ``5E-8``)."""
    s = str(d)
    return s if "E" not in s else format(d, "f")


_RECORD_ORDER = (
    "source", "external_id", "kind", "ts", "asset", "amount", "status", "account", "fee",
    "fee_asset", "counterparty", "reference", "memo", "txid", "address", "booking_date",
    "value_date", "attrs", "raw",
)
"""The hot paths build :class:`Record` positionally (3x faster than keywords) in this order."""


def _check_record_layout() -> None:
    names = tuple(f.name for f in dataclasses.fields(Record))
    if names[: len(_RECORD_ORDER)] != _RECORD_ORDER:
        raise RuntimeError(
            "recon_tui.model.Record changed its field order; update demo._RECORD_ORDER and "
            "the positional Record(...) calls in recon_tui/demo.py"
        )


class _World:
    """Shared state while generating: rng, calendar tables, ledger, truth, prices."""

    def __init__(self, size: int, seed: int, start: date) -> None:
        self.size = size
        self.seed = seed
        self.start = start
        self.rng = random.Random(seed)
        self.pools = _Pools(self.rng)
        self.n_days = max(30, min(365, size))
        self.span = self.n_days - 8  # scenario days stay in [0, span); offsets add <= 7
        first = start - timedelta(days=self.n_days - 1)
        n = self.n_days + 12
        self.dates = [first + timedelta(days=i) for i in range(n)]
        self.mid = [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in self.dates]
        self.epoch = [int(m.timestamp()) for m in self.mid]
        self.iso = [d.isoformat() for d in self.dates]
        self.ymd = [d.strftime("%Y%m%d") for d in self.dates]
        self.month = [d.strftime("%Y-%m") for d in self.dates]
        self.wd = [d.weekday() for d in self.dates]
        nxt = [0] * n
        j = n - 1
        for i in range(n - 1, -1, -1):
            if self.wd[i] < 5:
                j = i
            nxt[i] = j
        self.bd = nxt
        """``bd[i]``: the first business day on or after day ``i`` (no holidays)."""
        self.ledger: list[Record] = []
        self.ledger_seq = 0
        self.records: dict[str, list[Record]] = {s: [] for s in SOURCE_NAMES}
        self.records["ledger"] = self.ledger
        self.pending: dict[str, list[Record]] = {s: [] for s in SOURCE_NAMES}
        self.truth: list[TruthGroup] = []
        self.last_ledger: dict[str, Record] = {}
        self._cache: tuple[int, int, Decimal, str] = (0, -1, Decimal(0), "0")
        self._prices()

    def dec(self, units: int, places: int) -> Decimal:
        """``_amount`` with a one-entry cache: both sides of a pair share one Decimal object."""
        c = self._cache
        if units == c[0] and places == c[1]:
            return c[2]
        d = Decimal(units).scaleb(-places)
        s = str(d)
        self._cache = (units, places, d, s if "E" not in s else format(d, "f"))
        return d

    def txt(self, d: Decimal) -> str:
        """Plain text of ``d``, cached for the amount :meth:`dec` made last."""
        c = self._cache
        return c[3] if d is c[2] else _f(d)

    # ledger -----------------------------------------------------------------------------

    def led(
        self, account: str, kind: str, ts: datetime, day: int, asset: str, amount: Decimal,
        *, counterparty: str | None = None, reference: str | None = None,
        memo: str | None = None, txid: str | None = None, address: str | None = None,
        fee: Decimal | None = None, fee_asset: str | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> str:
        """Append one ledger record; returns its external id (``JE00000001``...)."""
        self.ledger_seq += 1
        eid = f"JE{self.ledger_seq:08d}"
        raw = {"je": eid, "date": self.iso[day], "account": _ACCOUNT_LABEL[account],
               "amount": self.txt(amount), "currency": asset}
        r = Record("ledger", eid, kind, ts, asset, amount, "booked", account, fee,
                   fee_asset if fee is not None else None, counterparty, reference, memo,
                   txid, address, None, None, {} if attrs is None else attrs, raw)
        self.ledger.append(r)
        self.last_ledger[account] = r
        return eid

    def led_reversal(self, account: str, pair: str, eid: str) -> None:
        """Post the opposite entry of ledger record ``eid`` and record the truth group."""
        orig = self.ledger[-1] if self.ledger[-1].external_id == eid else None
        assert orig is not None
        day = min(self.span + 6, self._day_of(orig.ts) + self.rng.randrange(0, 4))
        ts = max(orig.ts, self.mid[day] + timedelta(hours=self.rng.randrange(8, 19)))
        if account == "bank-eur":
            ts = self.mid[day]
        rid = self.led(account, "adjustment", ts, day, orig.asset, -orig.amount,
                       counterparty=orig.counterparty, reference=f"REV {eid}",
                       memo=f"Reversal of {eid}: posted in error", fee=None)
        self.truth.append(TruthGroup(pair, "reversal", (eid, rid), ()))

    def led_duplicate(self, account: str, pair: str) -> bool:
        """Post a copy of the last ledger record of ``account`` (a double posting break)."""
        last = self.last_ledger.get(account)
        if last is None or last.kind == "adjustment":
            return False
        self.ledger_seq += 1
        eid = f"JE{self.ledger_seq:08d}"
        raw = dict(last.raw or {})
        raw["je"] = eid
        dup = Record(source="ledger", external_id=eid, kind=last.kind, ts=last.ts,
                     asset=last.asset, amount=last.amount, account=account, fee=last.fee,
                     fee_asset=last.fee_asset, counterparty=last.counterparty,
                     reference=last.reference, memo=last.memo, txid=last.txid,
                     address=last.address, attrs=dict(last.attrs), raw=raw)
        self.ledger.append(dup)
        self.truth.append(TruthGroup(pair, "break", (eid,), ()))
        return True

    def _day_of(self, ts: datetime) -> int:
        return (ts.date() - self.dates[0]).days

    # prices -----------------------------------------------------------------------------

    def _prices(self) -> None:
        """Daily closes as integer units: a seeded random walk (floats never leave here)."""
        rng = random.Random(self.seed * 7919 + 17)
        n = len(self.dates)
        btc, eth, usdt = 78_000.0, 2_900.0, 0.91
        px: dict[str, list[int]] = {
            k: [] for k in ("BTC/EUR", "ETH/EUR", "USDT/EUR", "BTC/USDT", "ETH/USDT",
                            "ETH/BTC", "EUR/USDT")
        }
        for _ in range(n):
            btc *= math.exp(rng.gauss(0.0004, 0.028))
            eth *= math.exp(rng.gauss(0.0002, 0.037))
            usdt += (0.91 - usdt) * 0.1 + rng.gauss(0, 0.003)
            px["BTC/EUR"].append(round(btc * 100))
            px["ETH/EUR"].append(round(eth * 100))
            px["USDT/EUR"].append(round(usdt * 10_000))
            px["BTC/USDT"].append(round(btc / usdt * 100))
            px["ETH/USDT"].append(round(eth / usdt * 100))
            px["ETH/BTC"].append(round(eth / btc * 100_000))
            px["EUR/USDT"].append(round(1 / usdt * 10_000))
        self.px = px
        self.prices = [
            Price(base=sym.split("/")[0], quote=sym.split("/")[1], ts=self.mid[i],
                  interval="1d", close=_amount(px[sym][i], _PRICE_PLACES[sym]), source="demo")
            for i in range(self.n_days)
            for sym in ("BTC/EUR", "ETH/EUR", "USDT/EUR", "BTC/USDT")
        ]

    def run(self, gen: _PairGen, target: int) -> None:
        """Draw scenario instances for ``gen``'s pair until its source has ``target`` records."""
        weights = MIX[gen.pair]
        names = list(weights)
        cum: list[float] = []
        total = 0
        for nm in names:
            total += weights[nm]
            cum.append(total)
        handlers = [getattr(gen, _HANDLER[nm]) for nm in names]
        recs = self.records[gen.source]
        rng = self.rng
        span = self.span
        last = len(handlers) - 1
        while len(recs) < target:
            day = len(recs) * span // target
            i = bisect(cum, rng.random() * total)
            handlers[min(i, last)](day)


_PRICE_PLACES = {"BTC/EUR": 2, "ETH/EUR": 2, "USDT/EUR": 4, "BTC/USDT": 2, "ETH/USDT": 2,
                 "ETH/BTC": 5, "EUR/USDT": 4}
_HANDLER = {"exact": "exact", "fee": "fee", "lag": "lag", "typo": "typo", "n:1": "n_to_1",
            "1:n": "one_to_n", "decoy": "decoy", "pending": "pending",
            "reversal": "reversal", "break": "breaks"}


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

    # Subclasses define one method per scenario (see _HANDLER): exact, fee, lag, typo,
    # n_to_1, one_to_n, decoy, pending, reversal, breaks; each takes the day index.


# --- bank --------------------------------------------------------------------------------


class _Flow:
    """A planned EUR bank movement before it is written to either side."""

    __slots__ = ("cents", "kind", "memo_text", "party", "ref")

    def __init__(self, kind: str, cents: int, party: _Party | None, ref: str,
                 memo_text: str) -> None:
        self.kind = kind
        self.cents = cents
        self.party = party
        self.ref = ref
        self.memo_text = memo_text


class _BankGen(_PairGen):
    pair = "ledger-bank"
    source = "bank"
    account = "bank-eur"

    def __init__(self, w: _World) -> None:
        super().__init__(w)
        self.seq = 0
        self.invoice = 0
        self.batch = 0

    # building blocks -------------------------------------------------------------------

    def _invoice_ref(self, day: int) -> str:
        self.invoice += 1
        return f"INV-{self.w.dates[day].year}-{self.invoice:05d}"

    def _flow(self, day: int, direction: str | None = None, cents: int | None = None) -> _Flow:
        rng = self.rng
        rnd = rng.random
        r = rnd()
        if direction == "in" or (direction is None and r < 0.48):
            cust = self.pools.customers
            party = cust[int(rnd() * len(cust))]
            if cents is None:
                cents = (_ROUND_EUR[int(rnd() * len(_ROUND_EUR))] if rnd() < 0.08
                         else _log_uniform(rng, 2_000, 4_000_000))
            return _Flow("payment", cents, party, self._invoice_ref(day), "Customer receipt")
        if direction == "out" or r < 0.86:
            sup = self.pools.suppliers
            party = sup[int(rnd() * len(sup))]
            party.ref_seq += 1
            year = self.w.dates[day].year
            ref = party.ref_pattern.format(n=party.ref_seq, y=year, yy=year % 100)
            if cents is None:
                cents = (_ROUND_EUR[int(rnd() * len(_ROUND_EUR))] if rnd() < 0.08
                         else _log_uniform(rng, 1_000, 2_500_000))
            return _Flow("payment", -cents, party, ref, "Supplier payment")
        if r < 0.95:
            kraken = rng.random() < 0.5
            party = self.pools.payward if kraken else self.pools.binance_sepa
            code = f"{rng.getrandbits(40):010X}"
            ref = f"KRAKEN {code}" if kraken else f"BNB{code}"
            cents = cents or rng.choice((500000, 1000000, 2500000, 5000000, 10000000))
            return _Flow("transfer", -cents, party, ref, "Funding exchange account")
        ref = f"ACCOUNT FEES {self.w.month[day]}"
        return _Flow("fee", -(cents or rng.choice((990, 1490, 2500, 4750))), None, ref,
                     "Bank charges")

    def _ledger(self, day: int, f: _Flow, cents: int | None = None) -> str:
        w = self.w
        return w.led(self.account, f.kind, w.mid[day], day, "EUR",
                     w.dec(f.cents if cents is None else cents, 2),
                     counterparty=f.party.name if f.party else None, reference=f.ref,
                     memo=f.memo_text)

    def _bank(
        self, day: int, kind: str, cents: int, party: _Party | None, ref: str | None,
        text: str, *, name: str | None = None, value_day: int | None = None,
        fee_cents: int | None = None, status: str = "booked", eid: str | None = None,
    ) -> str:
        """One bank statement line booked on ``day`` (a business day)."""
        w = self.w
        if eid is None:
            self.seq += 1
            eid = f"{w.ymd[day]}{self.seq:08d}"
        amount = w.dec(cents, 2)
        vday = day if value_day is None else value_day
        cp = name if name is not None else (party.name if party else None)
        fee = _amount(fee_cents, 2) if fee_cents is not None else None
        booked = status != "pending"
        raw = {"Booking date": w.iso[day] if booked else "", "Value date": w.iso[vday],
               "Amount": w.txt(amount), "Currency": "EUR", "Counterparty": cp or "",
               "IBAN": party.iban if party else "", "Purpose": text}
        r = Record("bank", eid, kind, w.mid[day], "EUR", amount, status,
                   self.pools.company_iban, fee, "EUR" if fee is not None else None, cp, ref,
                   text, None, None, w.dates[day] if booked else None, w.dates[vday],
                   {"fee_included": True} if fee is not None else {}, raw)
        (self.pend if status == "pending" else self.recs).append(r)
        return eid

    def _text(self, f: _Flow, ref: str | None = None, name: str | None = None) -> str:
        """Bank-style booking text: ``SEPA CT IN INV-2026-00123 ACME LTD``."""
        nm = name if name is not None else (f.party.upper if f.party else "")
        if f.kind == "fee":
            return f"ENTGELT / {f.ref}"
        prefix = "SEPA CT IN" if f.cents > 0 else "SEPA CT OUT"
        return f"{prefix} {ref or f.ref} {nm}".rstrip()

    def _bank_for(self, day: int, f: _Flow, **kw: Any) -> str:
        return self._bank(day, f.kind, f.cents, f.party, f.ref, self._text(f), **kw)

    def _typo_ref(self, ref: str) -> str:
        rng = self.rng
        out = ref
        for _ in range(1 + (rng.random() < 0.35)):
            t = rng.randrange(7)
            if t == 0:
                out = out.replace("-", "", 1)
            elif t == 1:
                out = out.replace("-", " ")
            elif t == 2:  # transpose two adjacent digits
                idx = [i for i in range(len(out) - 1) if out[i].isdigit() and out[i + 1].isdigit()
                       and out[i] != out[i + 1]]
                if idx:
                    i = rng.choice(idx)
                    out = out[:i] + out[i + 1] + out[i] + out[i + 2:]
            elif t == 3:  # drop one digit
                idx = [i for i in range(len(out)) if out[i].isdigit()]
                i = rng.choice(idx) if idx else 0
                out = out[:i] + out[i + 1:]
            elif t == 4:
                out = out.lower()
            else:
                out = rng.choice(("REF ", "SEPA CT REF ", "RF ", "SEPA CT ", "/ROC/")) + out
        return out if out != ref else "REF " + ref

    # scenarios -------------------------------------------------------------------------

    def exact(self, day: int) -> None:
        day = self.w.bd[day]
        f = self._flow(day)
        self.group("exact", (self._ledger(day, f),), (self._bank_for(day, f),))

    def fee(self, day: int) -> None:
        """An incoming SWIFT/foreign payment: the bank deducts its charges."""
        rng = self.rng
        day = self.w.bd[day]
        f = self._flow(day, "in")
        charge = rng.choice((1000, 1250, 1500, 2000, 2500, 3500))
        f.cents += charge * 3
        lid = self._ledger(day, f)
        text = f"SWIFT IN {f.ref} {f.party.upper if f.party else ''} CHG EUR {_amount(charge, 2)}"
        bid = self._bank(day, "payment", f.cents - charge, f.party, f.ref, text,
                         fee_cents=charge)
        self.group("fee", (lid,), (bid,))

    def lag(self, day: int) -> None:
        """Settlement lag of 1-4 calendar days, usually across a weekend."""
        w, rng = self.w, self.rng
        if rng.random() < 0.7:  # move back to a Thursday..Sunday
            target = rng.choice((3, 4, 4, 4, 5, 6))
            day = max(0, day - (w.wd[day] - target) % 7)
        book = w.bd[day + 1]
        if rng.random() < 0.3 and w.bd[book + 1] - day <= 4:
            book = w.bd[book + 1]
        f = self._flow(day)
        lid = self._ledger(day, f)
        value = day if (f.cents < 0 and w.wd[day] < 5) else book
        self.group("lag", (lid,), (self._bank_for(book, f, value_day=value),))

    def typo(self, day: int) -> None:
        w, rng = self.w, self.rng
        day = w.bd[day]
        f = self._flow(day, "in" if rng.random() < 0.8 else None)
        lid = self._ledger(day, f)
        book = w.bd[day + 1] if rng.random() < 0.3 else day
        mode = rng.random()
        ref = f.ref if (mode < 0.3 and f.party) else self._typo_ref(f.ref)
        name = None
        if f.party and (mode < 0.6 or rng.random() < 0.3):
            name = rng.choice(f.party.variants)
        text = self._text(f, ref, name.upper() if name else None)
        bid = self._bank(book, f.kind, f.cents, f.party, ref, text, name=name)
        self.group("typo", (lid,), (bid,))

    def n_to_1(self, day: int) -> None:
        """Payroll bulk debit, Stripe payout or Wise batch: k ledger lines, one bank line."""
        w, rng, pools = self.w, self.rng, self.pools
        day = w.bd[day]
        k = rng.randrange(3, 13)
        self.batch += 1
        r = rng.random()
        lids = []
        total = 0
        if r < 0.45:
            month = w.month[day]
            for emp in rng.sample(pools.employees, k):
                cents = rng.randrange(180_000, 720_000)
                total += cents
                lids.append(w.led(self.account, "payout", w.mid[day], day, "EUR",
                                  _amount(-cents, 2), counterparty=emp.name,
                                  reference=f"SAL {month} {emp.upper}", memo="Payroll"))
            text = f"SEPA BULK DEBIT PAYROLL {month} {k} TX BATCH {self.batch:06d}"
            bid = self._bank(day, "payout", -total, None, f"PAYROLL-{month}-{self.batch}", text,
                             name=COMPANY)
        elif r < 0.8:
            for _ in range(k):
                f = self._flow(day, "in", _log_uniform(rng, 1_500, 250_000))
                total += f.cents
                lids.append(w.led(self.account, "payment", w.mid[day], day, "EUR",
                                  _amount(f.cents, 2), counterparty=f.party.name if f.party
                                  else None, reference=f.ref, memo="Card receipt (Stripe)"))
            po = f"po_{rng.getrandbits(96):024x}"
            bid = self._bank(day, "settlement", total, pools.stripe, f"STRIPE PAYOUT {po}",
                             f"SEPA CT IN STRIPE PAYMENTS EUROPE LTD {po}")
        else:
            for sup in rng.sample(pools.suppliers, k):
                cents = _log_uniform(rng, 5_000, 600_000)
                total += cents
                lids.append(w.led(self.account, "payout", w.mid[day], day, "EUR",
                                  _amount(-cents, 2), counterparty=sup.name,
                                  reference=f"AFF-{w.month[day]}-{sup.ref_seq:05d}",
                                  memo="Partner commission"))
            ref = f"WISE BATCH {rng.getrandbits(32):08X}"
            bid = self._bank(day, "payout", -total, pools.wise, ref,
                             f"SEPA CT OUT WISE EUROPE SA {ref}")
        self.group("n:1", tuple(lids), (bid,))

    def one_to_n(self, day: int) -> None:
        """A customer pays one invoice in 2-3 instalments (``INV-2026-00123 1/2``...)."""
        w, rng = self.w, self.rng
        day = w.bd[day]
        f = self._flow(day, "in")
        k = rng.choice((2, 2, 3))
        f.cents = max(f.cents, 100_00 * k)
        lid = self._ledger(day, f)
        share = f.cents // k // 100 * 100  # whole euros, the last instalment takes the rest
        parts = [share] * (k - 1) + [f.cents - share * (k - 1)]
        bids = []
        book = day
        for i, part in enumerate(parts):
            ref = f"{f.ref} {i + 1}/{k}"
            bids.append(self._bank(book, "payment", part, f.party, ref, self._text(f, ref)))
            book = w.bd[book + 1 + rng.randrange(0, 2)]
        self.group("1:n", (lid,), tuple(bids))

    def decoy(self, day: int) -> None:
        """2-4 items of the same amount on nearby days; only reference/name decides."""
        w, rng = self.w, self.rng
        k = rng.choice((2, 2, 2, 3, 3, 4))
        cents = rng.choice(_ROUND_EUR) if rng.random() < 0.7 else rng.choice(_PLAN_EUR)
        direction = "in" if rng.random() < 0.65 else "out"
        base = w.bd[day]
        for _ in range(k):  # ledger dates within one business day, bookings one more
            lday = w.bd[base + 1] if rng.random() < 0.5 else base
            f = self._flow(lday, direction, cents)
            lid = self._ledger(lday, f)
            book = w.bd[lday + 1] if rng.random() < 0.5 else lday
            ref = f.ref
            if rng.random() < 0.3:
                ref = rng.choice(("REF ", "SEPA CT REF ", "RF ")) + ref
            bid = self._bank(book, f.kind, f.cents, f.party, ref, self._text(f, ref))
            self.group("decoy", (lid,), (bid,))

    def pending(self, day: int) -> None:
        """Reported pending first (no booking date, maybe an estimated amount), then booked."""
        w, rng = self.w, self.rng
        day = w.bd[day]
        book = w.bd[day + 1]
        f = self._flow(day)
        lid = self._ledger(day, f)
        bid = self._bank_for(book, f)
        est = f.cents
        if rng.random() < 0.25:
            est += rng.randrange(-150, 150) or 1
        self._bank(day, f.kind, est, f.party, f.ref, self._text(f), value_day=book,
                   status="pending", eid=bid)
        self.group("pending", (lid,), (bid,))

    def reversal(self, day: int) -> None:
        w, rng = self.w, self.rng
        day = w.bd[day]
        f = self._flow(day, "out")
        if rng.random() < 0.5:  # posted in error in the ledger, then reversed there
            lid = self._ledger(day, f)
            w.led_reversal(self.account, self.pair, lid)
            return
        # SEPA return: the payment bounces back a few days later (closed account)
        b1 = self._bank_for(day, f)
        back = w.bd[day + 1 + rng.randrange(0, 3)]
        reason = rng.choice(("AC04 CLOSED ACCOUNT", "AC01 INCORRECT IBAN", "MS03 NOT SPECIFIED"))
        b2 = self._bank(back, "adjustment", -f.cents, f.party, f"RETURN {f.ref}",
                        f"SEPA RETURN {reason} ORIG REF {f.ref}")
        self.group("reversal", (), (b1, b2))

    def breaks(self, day: int) -> None:
        w, rng, pools = self.w, self.rng, self.pools
        day = w.bd[day]
        r = rng.random()
        if r < 0.2 and w.led_duplicate(self.account, self.pair):
            return
        if r < 0.5:  # booked in the ledger, never reached the bank
            f = self._flow(day)
            self.group("break", (self._ledger(day, f),), ())
            return
        if r < 0.7:
            f = _Flow("fee", -rng.choice((350, 500, 1250, 1800)), None,
                      rng.choice(("SWIFT CHARGES", "CARD FEE", "OVERDRAFT INTEREST")), "")
            bid = self._bank(day, "fee", f.cents, None, f.ref, f"ENTGELT / {f.ref}")
        elif r < 0.85:
            party = rng.choice(pools.customers)
            cents = _log_uniform(rng, 5_000, 800_000)
            bid = self._bank(day, "payment", cents, party, None,
                             f"SEPA CT IN {party.upper}", name=party.upper)
        else:
            cents = rng.randrange(1, 4_000)
            bid = self._bank(day, "interest", cents, None, f"INTEREST {w.month[day]}",
                             f"HABENZINSEN {w.month[day]}")
        self.group("break", (), (bid,))


# --- exchanges ---------------------------------------------------------------------------

_EXCHANGES: dict[str, dict[str, Any]] = {
    "kraken": {
        "symbols": (("BTC", "EUR", 40), ("ETH", "EUR", 25), ("USDT", "EUR", 20),
                    ("ETH", "BTC", 15)),
        "deposits": (("EUR", 35), ("BTC", 30), ("ETH", 20), ("USDT", 15)),
        "fee_bp": 26,
        "wd_fee": {"BTC": 15_000, "ETH": 2_500_000_000_000_000, "USDT": 2_500_000, "EUR": 9},
        "usdt_net": "ETH",
        "codes": {"BTC": "XXBT", "ETH": "XETH", "USDT": "USDT", "EUR": "ZEUR"},
    },
    "binance": {
        "symbols": (("BTC", "USDT", 35), ("ETH", "USDT", 25), ("BTC", "EUR", 15),
                    ("ETH", "EUR", 10), ("EUR", "USDT", 15)),
        "deposits": (("USDT", 35), ("BTC", 25), ("ETH", 20), ("EUR", 20)),
        "fee_bp": 10,
        "wd_fee": {"BTC": 20_000, "ETH": 1_200_000_000_000_000, "USDT": 1_000_000, "EUR": 50},
        "usdt_net": "TRX",
        "codes": {"BTC": "BTC", "ETH": "ETH", "USDT": "USDT", "EUR": "EUR"},
    },
}
_EX_AMOUNTS = {  # asset: (places on the exchange, lo, hi) in minor units
    "EUR": (2, 5_000, 5_000_000),
    "BTC": (8, 50_000, 300_000_000),
    "ETH": (8, 1_000_000, 6_000_000_000),
    "USDT": (6, 50_000_000, 100_000_000_000),
}
_ROUND_UNITS = {
    "EUR": (100_000, 250_000, 500_000, 1_000_000),
    "BTC": (1_000_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000),
    "ETH": (50_000_000, 100_000_000, 200_000_000, 500_000_000, 1_000_000_000),
    "USDT": (1_000_000_000, 5_000_000_000, 10_000_000_000, 25_000_000_000),
}


def _cum(pairs: tuple[tuple[Any, int], ...]) -> tuple[list[Any], list[int], int]:
    items, cum, total = [], [], 0
    for item, wgt in pairs:
        total += wgt
        items.append(item)
        cum.append(total)
    return items, cum, total


class _Move:
    """A planned exchange/chain deposit or withdrawal (amount in ``units`` at ``places``)."""

    __slots__ = ("address", "asset", "eid", "epoch", "kind", "places", "ref", "txid", "units")

    def __init__(self, kind: str, asset: str, units: int, places: int, epoch: int,
                 txid: str | None, address: str | None, ref: str | None, eid: str) -> None:
        self.kind = kind
        self.asset = asset
        self.units = units
        self.places = places
        self.epoch = epoch
        self.txid = txid
        self.address = address
        self.ref = ref
        self.eid = eid


class _ExchangeGen(_PairGen):
    def __init__(self, w: _World, name: str) -> None:
        self.pair = f"ledger-{name}"
        self.source = name
        self.account = name
        super().__init__(w)
        self.name = name
        self.kraken = name == "kraken"
        cfg = _EXCHANGES[name]
        self.cfg = cfg
        self.sym_items, self.sym_cum, self.sym_total = _cum(
            tuple(((b, q), wt) for b, q, wt in cfg["symbols"]))
        self.dep_items, self.dep_cum, self.dep_total = _cum(cfg["deposits"])
        self.codes = cfg["codes"]
        self.fee_bp = cfg["fee_bp"]
        self.sym_codes = {
            f"{b}/{q}": (f"{self.codes[b]}{self.codes[q]}" if self.kraken else f"{b}{q}")
            for b, q, _ in cfg["symbols"]
        }
        self.networks = {"EUR": "SEPA", "BTC": "BTC", "ETH": "ETH", "USDT": cfg["usdt_net"]}
        self.memos = {"deposit": f"Deposit to {name}", "withdrawal": f"Withdrawal from {name}",
                      "buy": f"Buy on {name}", "sell": f"Sell on {name}"}
        self.seq = 0
        self.salt = w.rng.getrandbits(80)
        self.trade_seq = 300_000_000 + w.rng.randrange(10_000_000)
        self.order_seq = 8_000_000_000 + w.rng.randrange(100_000_000)
        rng = w.rng
        self.dep_addr = {"BTC": _btc_address(rng), "ETH": _eth_address(rng),
                         "USDT": _eth_address(rng) if cfg["usdt_net"] == "ETH"
                         else _tron_address(rng)}

    # ids, amounts, records -----------------------------------------------------------------

    def _kid(self, prefix: str) -> str:
        """Kraken-style id (``TQ4ZWE-7G6FD-XKL2QD``), unique per exchange."""
        self.seq += 1
        x = (self.seq * _MIX80 + self.salt) & _MASK80
        t = _B32_PAIRS  # base32 of the 80-bit x, 10 bits at a time (= base64.b32encode)
        h = (t[x >> 70] + t[(x >> 60) & 1023] + t[(x >> 50) & 1023] + t[(x >> 40) & 1023]
             + t[(x >> 30) & 1023] + t[(x >> 20) & 1023] + t[(x >> 10) & 1023] + t[x & 1023])
        return f"{prefix}{h[:5]}-{h[5:10]}-{h[10:]}"

    def _move_id(self, kind: str) -> str:
        if self.kraken:
            return self._kid("L")
        self.seq += 1
        return f"{kind[0].upper()}{(self.seq * _MIX80 + self.salt) & _MASK80:020x}"

    def _units(self, asset: str, round_amount: bool = False) -> tuple[int, int]:
        places, lo, hi = _EX_AMOUNTS[asset]
        rnd = self.rnd
        if round_amount or rnd() < 0.06:
            opts = _ROUND_UNITS[asset]
            return opts[int(rnd() * len(opts))], places
        return _log_uniform(self.rng, lo, hi), places

    def _txid(self, asset: str) -> str:
        h = f"{self.rng.getrandbits(256):064x}"
        if asset == "ETH" or (asset == "USDT" and self.cfg["usdt_net"] == "ETH"):
            return "0x" + h
        return h

    def _ext_address(self, asset: str) -> str:
        pools, rnd = self.pools, self.rnd
        if asset == "BTC":
            if rnd() < 0.4:
                return pools.wallet_address  # to our own wallet
            opts = pools.btc_addresses
        elif asset == "USDT" and self.cfg["usdt_net"] == "TRX":
            opts = pools.tron_addresses
        else:
            opts = pools.eth_addresses
        return opts[int(rnd() * len(opts))]

    def _move(self, day: int, kind: str | None = None, asset: str | None = None,
              units: int | None = None) -> _Move:
        rng, rnd = self.rng, self.rnd
        if kind is None:
            kind = "deposit" if rnd() < 0.5 else "withdrawal"
        if asset is None:
            asset = self.dep_items[bisect(self.dep_cum, rnd() * self.dep_total)]
        places = _EX_AMOUNTS[asset][0]
        onchain = units is None and asset == "ETH" and rnd() < 0.5
        if units is None:
            units, places = self._units(asset)
        if onchain:  # on-chain precision: wei
            units = units * 10**10 + int(rnd() * 10**10)
            places = 18
        epoch = self.w.epoch[day] + int(rnd() * 86_400)
        if asset == "EUR":
            ref = f"SEPA{rng.getrandbits(48):012X}"
            txid = address = None
        else:
            ref = None
            txid = self._txid(asset)
            address = self.dep_addr[asset] if kind == "deposit" else self._ext_address(asset)
        sign = 1 if kind == "deposit" else -1
        return _Move(kind, asset, sign * units, places, epoch, txid, address, ref,
                     self._move_id(kind))

    def _ex_move(self, m: _Move, *, units: int | None = None, fee_units: int | None = None,
                 status: str = "booked", epoch: int | None = None, eid: str | None = None) -> str:
        """The exchange's record of deposit/withdrawal ``m``."""
        w = self.w
        amount = w.dec(m.units if units is None else units, m.places)
        ep = m.epoch if epoch is None else epoch
        fee = _amount(fee_units, m.places) if fee_units is not None else None
        k = m.kind
        eid = eid or m.eid
        if self.kraken:
            raw: dict[str, Any] = {
                "refid": f"F{eid[1:]}", "time": ep, "type": k,
                "asset": self.codes[m.asset], "amount": w.txt(amount),
                "fee": _f(fee) if fee is not None else "0",
            }
        else:
            raw = {"id": eid, "coin": m.asset, "amount": w.txt(amount),
                   "network": self.networks[m.asset], "status": 1 if status == "booked" else 0,
                   "txId": m.txid or m.ref or "", "insertTime": ep * 1000}
            if fee is not None:
                raw["transactionFee"] = _f(fee)
        r = Record(self.source, eid, k, datetime.fromtimestamp(ep, UTC), m.asset, amount,
                   status, self.name, fee, m.asset if fee is not None else None, None, m.ref,
                   None, m.txid, m.address, None, None,
                   {"fee_included": True} if fee is not None else {}, raw)
        (self.pend if status == "pending" else self.recs).append(r)
        return eid

    def _led_move(self, m: _Move, *, epoch: int | None = None, txid: str | None = None) -> str:
        w = self.w
        ep = (m.epoch + int(self.rnd() * 300)) if epoch is None else epoch
        day = (ep - w.epoch[0]) // 86_400
        return w.led(self.account, m.kind, datetime.fromtimestamp(ep, UTC), day, m.asset,
                     w.dec(m.units, m.places), reference=m.ref, memo=self.memos.get(m.kind),
                     txid=m.txid if txid is None else txid, address=m.address)

    def _fill(self, day: int, epoch: int, base: str, quote: str, side: int, qty: int,
              qplaces: int, oid: str) -> tuple[str, int, int]:
        """One exchange trade (fill); returns (external id, cost units, fee units)."""
        w, rnd = self.w, self.rnd
        sym = f"{base}/{quote}"
        pp = _PRICE_PLACES[sym]
        price = w.px[sym][day] * (98_500 + int(rnd() * 3_000)) // 100_000
        cplaces = PLACES[quote]
        scale = 10 ** (qplaces + pp - cplaces)
        cost = (qty * price + scale // 2) // scale
        fee = max(1, cost * self.fee_bp // 10_000)
        price_s = _f(_amount(price, pp))
        cost_s = _f(_amount(cost, cplaces))
        fee_d = _amount(fee, cplaces)
        amount = w.dec(side * qty, qplaces)
        qty_s = w.txt(amount).lstrip("-")
        side_s = "buy" if side > 0 else "sell"
        code = self.sym_codes[sym]
        if self.kraken:
            eid = self._kid("T")
            raw: dict[str, Any] = {
                "ordertxid": oid, "pair": code, "time": epoch, "type": side_s,
                "price": price_s, "cost": cost_s, "fee": _f(fee_d), "vol": qty_s,
            }
        else:
            self.trade_seq += 1 + int(rnd() * 40)
            eid = f"{code}:{self.trade_seq}"
            raw = {"id": self.trade_seq, "orderId": int(oid), "symbol": code,
                   "price": price_s, "qty": qty_s, "quoteQty": cost_s,
                   "commission": _f(fee_d), "commissionAsset": quote, "time": epoch * 1000,
                   "isBuyer": side > 0}
        attrs = {"symbol": sym, "side": side_s, "price": price_s, "cost": cost_s,
                 "order_id": oid}
        self.recs.append(Record(
            self.source, eid, "trade", datetime.fromtimestamp(epoch, UTC), base, amount,
            "booked", self.name, fee_d, quote, None, oid, None, None, None, None, None, attrs,
            raw))
        return eid, cost, fee

    def _order_id(self) -> str:
        if self.kraken:
            return self._kid("O")
        self.order_seq += 1 + int(self.rnd() * 5_000)
        return str(self.order_seq)

    def _trade(self, day: int, scenario: str, fills: int = 1) -> None:
        w, rng, rnd = self.w, self.rng, self.rnd
        base, quote = self.sym_items[bisect(self.sym_cum, rnd() * self.sym_total)]
        qplaces = _EX_AMOUNTS[base][0]
        qty, _ = self._units(base)
        side = 1 if rnd() < 0.55 else -1
        oid = self._order_id()
        epoch = w.epoch[day] + int(rnd() * 86_000)
        parts = _split(rng, qty, fills) if fills > 1 and qty > fills * 10 else [qty]
        eids, cost, fee = [], 0, 0
        for i, q in enumerate(parts):
            eid, c, f = self._fill(day, epoch + i * (1 + int(rnd() * 40)), base, quote, side, q,
                                   qplaces, oid)
            eids.append(eid)
            cost += c
            fee += f
        cplaces = PLACES[quote]
        ref = oid
        if scenario == "typo":
            ref = oid.replace("-", "") if self.kraken else f"#{oid}"
            if self.kraken and rnd() < 0.5:
                ref = ref.lower()
        sym = f"{base}/{quote}"
        cost_s = _f(_amount(cost, cplaces))
        avg = cost * 10 ** (qplaces + 8 - cplaces) // qty  # average price, 8 places
        side_s = "buy" if side > 0 else "sell"
        attrs = {"symbol": sym, "side": side_s, "price": _f(_amount(avg, 8)), "cost": cost_s,
                 "order_id": oid}
        lid = w.led(self.account, "trade", datetime.fromtimestamp(epoch + 60, UTC), day, base,
                    w.dec(side * qty, qplaces), reference=ref,
                    memo=self.memos[side_s], fee=_amount(fee, cplaces), fee_asset=quote,
                    attrs=attrs)
        if len(eids) == 1 and scenario == "1:n":
            scenario = "exact"  # too small to split
        self.group(scenario, (lid,), tuple(eids))

    # scenarios -------------------------------------------------------------------------

    def exact(self, day: int) -> None:
        if self.rng.random() < 0.55:
            self._trade(day, "exact")
            return
        m = self._move(day)
        self.group("exact", (self._led_move(m),), (self._ex_move(m),))

    def fee(self, day: int) -> None:
        """Withdrawal fee: the exchange debits amount + fee, the ledger booked the amount."""
        m = self._move(day, "withdrawal")
        fee = self.cfg["wd_fee"][m.asset]
        if m.places == 8 and m.asset == "ETH":
            fee //= 10**10
        lid = self._led_move(m)
        self.group("fee", (lid,), (self._ex_move(m, units=m.units - fee, fee_units=fee),))

    def lag(self, day: int) -> None:
        m = self._move(day)
        shift = self.rng.randrange(3_600, 2 * 86_400)
        early = m.kind == "deposit" and day >= 2  # the ledger booked it when it was sent
        lid = self._led_move(m, epoch=m.epoch - shift if early else m.epoch + shift)
        self.group("lag", (lid,), (self._ex_move(m),))

    def typo(self, day: int) -> None:
        rng = self.rng
        if rng.random() < 0.4:
            self._trade(day, "typo")
            return
        m = self._move(day, asset=rng.choice(("BTC", "ETH", "USDT")))
        assert m.txid is not None
        if m.txid.startswith("0x"):
            tx = m.txid[2:] if rng.random() < 0.6 else "0x" + m.txid[2:].upper()
        else:
            tx = m.txid.upper()
        self.group("typo", (self._led_move(m, txid=tx),), (self._ex_move(m),))

    def n_to_1(self, day: int) -> None:
        """Staking: the ledger accrues daily rewards, the exchange pays them weekly."""
        w, rng = self.w, self.rng
        asset = rng.choice(("ETH", "USDT"))
        places = 8 if asset == "ETH" else 6
        k = rng.randrange(3, 8)
        lids, total = [], 0
        first = max(0, day - k)
        for i in range(k):
            units = rng.randrange(20_000, 900_000) if asset == "ETH" else rng.randrange(
                100_000, 25_000_000)
            total += units
            lids.append(w.led(self.account, "interest", w.mid[first + i] + timedelta(hours=23),
                              first + i, asset, _amount(units, places),
                              reference=f"STAKING {asset} {w.iso[first + i]}",
                              memo="Staking reward accrual"))
        m = _Move("interest", asset, total, places, w.epoch[day] + rng.randrange(3_600, 30_000),
                  None, None, f"STAKING {asset} WEEK {w.iso[day]}", self._move_id("reward"))
        self.group("n:1", tuple(lids), (self._ex_move(m),))

    def one_to_n(self, day: int) -> None:
        self._trade(day, "1:n", fills=self.rng.randrange(2, 7))

    def decoy(self, day: int) -> None:
        rng = self.rng
        k = rng.choice((2, 2, 3, 3, 4))
        asset = self.dep_items[bisect(self.dep_cum, rng.random() * self.dep_total)]
        units, _ = self._units(asset, round_amount=True)
        kind = "deposit" if rng.random() < 0.7 else "withdrawal"
        moves = [self._move(day + rng.randrange(0, 2), kind, asset, units) for _ in range(k)]
        order = sorted(mv.epoch for mv in moves)
        rng.shuffle(order)  # ledger times belong to some *other* member: dates mislead
        for mv, ep in zip(moves, order, strict=True):
            lid = self._led_move(mv, epoch=ep + rng.randrange(0, 900))
            self.group("decoy", (lid,), (self._ex_move(mv),))

    def pending(self, day: int) -> None:
        rng = self.rng
        m = self._move(day)
        seen = m.epoch
        m.epoch = seen + rng.randrange(600, 6 * 3_600)
        lid = self._led_move(m, epoch=seen + rng.randrange(0, 300))
        eid = self._ex_move(m)
        self._ex_move(m, status="pending", epoch=seen, eid=eid)
        self.group("pending", (lid,), (eid,))

    def reversal(self, day: int) -> None:
        rng = self.rng
        r = rng.random()
        m = self._move(day, "withdrawal")
        if r < 0.4:
            lid = self._led_move(m)
            self.w.led_reversal(self.account, self.pair, lid)
        elif r < 0.7:  # withdrawal then refunded by the exchange
            e1 = self._ex_move(m)
            refund = _Move("adjustment", m.asset, -m.units, m.places,
                           m.epoch + rng.randrange(1_800, 86_400), None, None,
                           f"REFUND {e1}", self._move_id("adjustment"))
            e2 = self._ex_move(refund)
            self.group("reversal", (), (e1, e2))
        else:  # cancelled withdrawal, reported with status "reversed"
            self.group("reversal", (), (self._ex_move(m, status="reversed"),))

    def breaks(self, day: int) -> None:
        w, rng = self.w, self.rng
        r = rng.random()
        if r < 0.15 and w.led_duplicate(self.account, self.pair):
            return
        if r < 0.45:  # a deposit the ledger expected that never arrived
            m = self._move(day, "deposit")
            self.group("break", (self._led_move(m),), ())
            return
        if r < 0.8:
            asset = rng.choice(("ETH", "USDT"))
            places = 8 if asset == "ETH" else 6
            units = rng.randrange(10_000, 3_000_000)
            m = _Move("interest", asset, units, places, w.epoch[day] + rng.randrange(86_400),
                      None, None, f"REWARD {asset}", self._move_id("reward"))
        else:
            asset = rng.choice(("BTC", "EUR", "USDT"))
            m = _Move("rebate", asset, rng.randrange(1, 50_000), _EX_AMOUNTS[asset][0],
                      w.epoch[day] + rng.randrange(86_400), None, None, "FEE REBATE",
                      self._move_id("rebate"))
        self.group("break", (), (self._ex_move(m),))


# --- BTC wallet --------------------------------------------------------------------------

_ROUND_SATS = (1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000,
               100_000_000)
_H0 = 905_000  # block height on the first day of the period (about right for 2026)


class _WalletGen(_PairGen):
    pair = "ledger-wallet"
    source = "wallet"
    account = "wallet-btc"

    def __init__(self, w: _World) -> None:
        super().__init__(w)
        self.me = self.pools.wallet_address
        self.invoice = 0

    def _tx(self, epoch: int, sats: int, fee: int | None, address: str | None,
            status: str = "booked", txid: str | None = None) -> str:
        """One wallet transaction: ``sats`` is the net value for the wallet (fee included)."""
        w = self.w
        txid = txid or f"{self.rng.getrandbits(256):064x}"
        amount = w.dec(sats, 8)
        fee_d = _amount(fee, 8) if fee is not None else None
        if status != "pending":
            st: dict[str, Any] = {"confirmed": True,
                                  "block_height": _H0 + (epoch - w.epoch[0]) // 600,
                                  "block_time": epoch}
        else:
            st = {"confirmed": False}
        # esplora reports the whole transaction's fee; on receipts the sender paid it
        raw = {"txid": txid, "status": st,
               "fee": fee if fee is not None else 300 + int(self.rnd() * 8_700), "value": sats}
        r = Record("wallet", txid, "withdrawal" if sats < 0 else "deposit",
                   datetime.fromtimestamp(epoch, UTC), "BTC", amount, status, self.me, fee_d,
                   "BTC" if fee is not None else None, None, None, None, txid, address, None,
                   None, {"fee_included": True} if fee is not None else {}, raw)
        (self.pend if status == "pending" else self.recs).append(r)
        return txid

    def _led(self, epoch: int, sats: int, *, cp: str | None, ref: str | None,
             txid: str | None, address: str | None, kind: str | None = None,
             memo: str | None = None) -> str:
        w = self.w
        day = (epoch - w.epoch[0]) // 86_400
        return w.led(self.account, kind or ("payment" if sats > 0 else "withdrawal"),
                     datetime.fromtimestamp(epoch, UTC), day, "BTC", w.dec(sats, 8),
                     counterparty=cp, reference=ref, txid=txid, address=address, memo=memo)

    def _plan(self, day: int, direction: str | None = None, sats: int | None = None) -> tuple[
            int, int, str, str, str | None]:
        """(epoch, signed sats, counterparty, reference, destination address)."""
        rng, rnd, pools = self.rng, self.rnd, self.pools
        epoch = self.w.epoch[day] + int(rnd() * 86_400)
        incoming = direction == "in" or (direction is None and rnd() < 0.55)
        if sats is None:
            sats = (_ROUND_SATS[int(rnd() * len(_ROUND_SATS))] if rnd() < 0.07
                    else _log_uniform(rng, 60_000, 150_000_000))
        if incoming:
            self.invoice += 1
            party = pools.customers[int(rnd() * len(pools.customers))]
            return epoch, sats, party.name, f"BTC-INV-{self.invoice:06d}", self.me
        party = pools.suppliers[int(rnd() * len(pools.suppliers))]
        party.ref_seq += 1
        addrs = pools.btc_addresses
        return epoch, -sats, party.name, f"PAY-{party.ref_seq:05d}", addrs[
            int(rnd() * len(addrs))]

    def _netfee(self) -> int:
        return 600 + int(self.rnd() * 24_400)

    # scenarios -------------------------------------------------------------------------

    def exact(self, day: int) -> None:
        epoch, sats, cp, ref, addr = self._plan(day)
        if sats > 0:
            tx = self._tx(epoch, sats, None, addr)
        else:  # the ledger booked the send gross (amount + network fee)
            fee = self._netfee()
            sats -= fee
            tx = self._tx(epoch, sats, fee, addr)
        lid = self._led(epoch + int(self.rnd() * 900), sats, cp=cp, ref=ref, txid=tx,
                        address=addr)
        self.group("exact", (lid,), (tx,))

    def fee(self, day: int) -> None:
        epoch, sats, cp, ref, addr = self._plan(day, "out")
        fee = self._netfee()
        tx = self._tx(epoch, sats - fee, fee, addr)
        lid = self._led(epoch + int(self.rnd() * 900), sats, cp=cp, ref=ref, txid=tx,
                        address=addr)
        self.group("fee", (lid,), (tx,))

    def lag(self, day: int) -> None:
        rng = self.rng
        epoch, sats, cp, ref, addr = self._plan(day, "in")
        tx = self._tx(epoch, sats, None, addr)
        lid = self._led(epoch + rng.randrange(3_600, 2 * 86_400), sats, cp=cp, ref=ref,
                        txid=tx if rng.random() < 0.5 else None, address=addr)
        self.group("lag", (lid,), (tx,))

    def typo(self, day: int) -> None:
        rng = self.rng
        epoch, sats, cp, ref, addr = self._plan(day, "in")
        tx = self._tx(epoch, sats, None, addr)
        r = rng.random()
        bad = tx.upper() if r < 0.5 else (f"{tx}:{rng.randrange(0, 3)}" if r < 0.8
                                          else f"{tx[:8]}...{tx[-8:]}")
        lid = self._led(epoch + rng.randrange(0, 900), sats, cp=cp, ref=ref, txid=bad,
                        address=addr)
        self.group("typo", (lid,), (tx,))

    def n_to_1(self, day: int) -> None:
        """A batched send: k payouts and a network-fee line in the ledger, one transaction."""
        rng, pools = self.rng, self.pools
        epoch = self.w.epoch[day] + rng.randrange(86_400)
        k = rng.randrange(3, 11)
        fee = self._netfee() * 2
        tx = f"{rng.getrandbits(256):064x}"
        lids, total = [], 0
        for sup in rng.sample(pools.suppliers, k):
            sats = _log_uniform(rng, 50_000, 20_000_000)
            total += sats
            lids.append(self._led(epoch, -sats, cp=sup.name, ref=f"PAYOUT-{sup.ref_seq:05d}",
                                  txid=tx if rng.random() < 0.5 else None,
                                  address=rng.choice(pools.btc_addresses), kind="payout"))
        lids.append(self._led(epoch, -fee, cp=None, ref=f"NETWORK FEE {tx[:12]}", txid=tx,
                              address=None, kind="fee", memo="Batch network fee"))
        self._tx(epoch, -(total + fee), fee, None, txid=tx)
        self.group("n:1", tuple(lids), (tx,))

    def one_to_n(self, day: int) -> None:
        """A customer pays one invoice in several transactions."""
        rng = self.rng
        epoch, sats, cp, ref, addr = self._plan(day, "in")
        k = rng.randrange(2, 4)
        parts = _split(rng, max(sats, 1_000), k)
        txs = tuple(self._tx(epoch + i * rng.randrange(600, 40_000), p, None, addr)
                    for i, p in enumerate(parts))
        lid = self._led(epoch, sum(parts), cp=cp, ref=ref, txid=None, address=addr)
        self.group("1:n", (lid,), txs)

    def decoy(self, day: int) -> None:
        rng = self.rng
        k = rng.choice((2, 2, 3, 3, 4))
        sats = rng.choice(_ROUND_SATS)
        incoming = rng.random() < 0.6
        fee = self._netfee()  # same fee rate and tx size: the amounts stay equal
        plans = [self._plan(day + rng.randrange(0, 2), "in" if incoming else "out", sats)
                 for _ in range(k)]
        times = sorted(p[0] for p in plans)
        rng.shuffle(times)
        for (epoch, amt, cp, ref, addr), lt in zip(plans, times, strict=True):
            if incoming:  # the customer told us the txid
                tx = self._tx(epoch, amt, None, addr)
                lid = self._led(lt + rng.randrange(0, 900), amt, cp=cp, ref=ref, txid=tx,
                                address=addr)
            else:  # we only know where we sent it
                tx = self._tx(epoch, amt - fee, fee, addr)
                lid = self._led(lt + rng.randrange(0, 900), amt - fee, cp=cp, ref=ref,
                                txid=None, address=addr)
            self.group("decoy", (lid,), (tx,))

    def pending(self, day: int) -> None:
        rng = self.rng
        epoch, sats, cp, ref, addr = self._plan(day)
        fee = None if sats > 0 else self._netfee()
        if fee:
            sats -= fee
        mined = epoch + rng.randrange(300, 7_200)
        tx = self._tx(mined, sats, fee, addr)
        self._tx(epoch, sats, fee, addr, status="pending", txid=tx)
        lid = self._led(epoch + rng.randrange(0, 600), sats, cp=cp, ref=ref, txid=tx,
                        address=addr)
        self.group("pending", (lid,), (tx,))

    def reversal(self, day: int) -> None:
        epoch, sats, cp, ref, addr = self._plan(day)
        lid = self._led(epoch, sats, cp=cp, ref=ref, txid=None, address=addr)
        self.w.led_reversal(self.account, self.pair, lid)

    def breaks(self, day: int) -> None:
        w, rng = self.w, self.rng
        r = rng.random()
        if r < 0.15 and w.led_duplicate(self.account, self.pair):
            return
        if r < 0.45:  # an invoice booked as paid, never paid on chain
            epoch, sats, cp, ref, addr = self._plan(day, "in")
            self.group("break", (self._led(epoch, sats, cp=cp, ref=ref, txid=None,
                                           address=addr),), ())
            return
        epoch = w.epoch[day] + rng.randrange(86_400)
        sats = rng.randrange(546, 2_000) if r < 0.75 else _log_uniform(rng, 10_000, 5_000_000)
        self.group("break", (), (self._tx(epoch, sats, None, self.me),))


# --- public API ----------------------------------------------------------------------------


def generate(size: int = 400, seed: int = 7, start: date | None = None) -> DemoWorld:
    """Build the demo world: ~``size`` records per external source, ~4x``size`` in the ledger.

    Deterministic: the same ``(size, seed, start)`` gives identical records, truth and
    prices. ``start`` is the last day of the period (default :data:`DEFAULT_START`).
    """
    if size < 1:
        raise ValueError("size must be positive")
    _check_record_layout()
    start = start or DEFAULT_START
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small containers: the cyclic GC would rescan them all
    try:
        w = _World(size, seed, start)
        gens: list[_PairGen] = [_BankGen(w), _ExchangeGen(w, "kraken"),
                                _ExchangeGen(w, "binance"), _WalletGen(w)]
        for g in gens:
            w.run(g, size)
        key = attrgetter("ts")
        for lst in (*w.records.values(), *w.pending.values()):
            lst.sort(key=key)
        pools = w.pools
        sources: list[dict[str, Any]] = [
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
        return DemoWorld(seed=seed, size=size, sources=sources, pairs=list(PAIRS),
                         records=w.records, pending=w.pending, truth=w.truth,
                         prices=w.prices, start=start, days=w.n_days)
    finally:
        if gc_was_enabled:
            gc.enable()


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
    "MIX",
    "PAIRS",
    "PLACES",
    "SCENARIOS",
    "SOURCE_NAMES",
    "DemoWorld",
    "TruthGroup",
    "generate",
    "summary",
]
