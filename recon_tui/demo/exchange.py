"""The exchange generators of the demo world (``ledger-kraken``, ``ledger-binance``).
"""

from __future__ import annotations

from bisect import bisect
from datetime import UTC, datetime, timedelta
from typing import Any

from recon_tui.demo.scenarios import _PairGen
from recon_tui.demo.world import (
    _B32_PAIRS,
    _MASK80,
    _MIX80,
    _PRICE_PLACES,
    PLACES,
    _amount,
    _btc_address,
    _eth_address,
    _f,
    _log_uniform,
    _split,
    _tron_address,
    _World,
)
from recon_tui.model import Record

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
