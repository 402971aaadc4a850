"""The demo world's shared parts: its constants, the ground truth and world types, name and
address pools, amounts, and the state every source generator writes into (:class:`_World`).
"""

from __future__ import annotations

import dataclasses
import math
import random
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from recon_tui.model import Price, Record, Side, SourcePair

DEFAULT_START = date(2026, 10, 31)
"""Last day of the default period: fixed, so output never depends on today's date."""

SOURCE_NAMES = ("ledger", "bank", "kraken", "binance", "wallet")
LEDGER_ACCOUNTS = ("bank-eur", "kraken", "binance", "wallet-btc")


PLACES = {"EUR": 2, "BTC": 8, "USDT": 6, "ETH": 18}
"""Maximum decimal places per asset (EUR, BTC and USDT amounts always have exactly these)."""

PAIRS: tuple[SourcePair, ...] = (
    SourcePair("ledger-bank", Side("ledger", "bank-eur"), Side("bank")),
    SourcePair("ledger-kraken", Side("ledger", "kraken"), Side("kraken")),
    SourcePair("ledger-binance", Side("ledger", "binance"), Side("binance")),
    SourcePair("ledger-wallet", Side("ledger", "wallet-btc"), Side("wallet")),
)


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


_PRICE_PLACES = {"BTC/EUR": 2, "ETH/EUR": 2, "USDT/EUR": 4, "BTC/USDT": 2, "ETH/USDT": 2,
                 "ETH/BTC": 5, "EUR/USDT": 4}
