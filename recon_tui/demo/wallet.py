"""The on-chain BTC wallet generator of the demo world (``ledger-wallet``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from recon_tui.demo.scenarios import _PairGen
from recon_tui.demo.world import _amount, _log_uniform, _split, _World
from recon_tui.model import Record

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
