"""The bank generator of the demo world (the ``ledger-bank`` pair): a EUR current account.
"""

from __future__ import annotations

from typing import Any

from recon_tui.demo.scenarios import _PairGen
from recon_tui.demo.world import (
    _PLAN_EUR,
    _ROUND_EUR,
    COMPANY,
    _amount,
    _log_uniform,
    _Party,
    _World,
)
from recon_tui.model import Record

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
