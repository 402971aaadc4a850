"""Blocking indexes: how a record finds its few plausible counterparts without an
all-pairs scan.

Three indexes per side, all kept current by ``add``/``remove``:

* keys: exact key (txid, normalised reference, end-to-end id) -> ids;
* amounts: cells (asset, sign, date bucket, amount bucket) -> ids sorted by |amount|,
  queried by an amount range and a date window. Amount alone would go quadratic on
  round amounts (100.00), hence the date bucket; amount buckets are geometric (2 %);
* families: (asset, sign, counterparty or reference family, date bucket) -> ids, for
  group rules (batched settlements, split fills); a reference or txid family block is
  read from the keys index, filtered by asset, sign and date window;
* batches: (asset, sign, day) -> {category: ids}, the lines of one kind booked on one
  day (``Item.batch``: "payroll", "card receipt stripe"), for batch rules that match a
  whole category of the day against one bulk debit or payout.

A cell holding more than ``max_block`` items is *oversized*: records in it, or probing
into it, fall back to the stricter key (asset, sign, exact amount, same day), and each
fallback is counted in ``stats`` so the operator sees that some records were matched on
a narrowed candidate set. For round amounts (where such crowds come from: one payer's
100.00s) the cell is sub-blocked, not narrowed: ``rounds`` indexes them by (asset, sign,
|amount|, payer key), day-sorted, and ``tolerance.payer_pairs`` adds the same-amount,
same-payer counterparts of the other days of the window (work per record: that payer's
records of that amount in the window). Group rules sub-block a busy payer the same way
through the ``payer`` / ``parts`` family blocks (``groups._family_subblocks``).
Because oversize is a property of the cell, not of who probes, the candidate relation
stays symmetric — which is what makes an incremental run equal a full one. An exact
key shared by more than ``max_block`` records identifies nothing and is skipped
(counted).

Full runs probe the amount cells block-wise in numpy instead (``matchers.vector``, same
pairs); ``by_amount`` serves incremental runs and ``Engine.candidates``.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from .items import Item, is_round  # noqa: F401  (re-exported: matchers.blocking.is_round)

KEY_FIELDS = ("txid", "reference", "end_to_end_id")
_LOG_STEP = math.log(1.02)


def amount_bucket(mag: float) -> int:
    """Geometric 2 % buckets; zero gets its own bucket."""
    return math.floor(math.log(mag) / _LOG_STEP) if mag > 0 else -(1 << 30)




Ids = int | list[int]
"""The ids of one key or family block: a bare id while the block has one member (most
references are unique: a one-element list per key costs ~70 bytes, ~30 MB per side of
a 240k book), a list from its second member on (in insertion order either way)."""

FAMILY_FIELDS = ("counterparty", "reference_family", "address")
FAMILY_SCAN = 16
"""A reference / txid shared by more than this many times a family cap (any date) is
oversized as a family block without scanning it."""


class SideIndex:
    """The blocking indexes of one side's open items."""

    def __init__(self, day_bucket: int, max_block: int, stats: Counter[str]) -> None:
        self.day_bucket = day_bucket
        self.max_block = max_block
        self.stats = stats
        # field ("txid", "reference", "end_to_end_id") -> value -> ids: nested, not keyed
        # by (field, value), so a unique reference costs a dict entry, not a tuple too.
        self.keys: dict[str, dict[str, Ids]] = {f: {} for f in KEY_FIELDS}
        self.amounts: dict[tuple[str, int, int, int], list[tuple[float, int]]] = {}
        # The same cells restricted to records declaring a fee: a probe bounded by its
        # tight tolerance still finds the counterparts whose own fee explains a gap.
        self.fee_cells: dict[tuple[str, int, int, int], list[tuple[float, int]]] = {}
        # (asset, sign, kind, date bucket) -> family value -> ids (``family_ids``): the
        # outer key is shared by a bucket's records, so a record's own reference family
        # costs a dict entry, not a 5-tuple and a list.
        self.families: dict[tuple[str, int, str, int], dict[str, Ids]] = {}
        self._db: dict[int, int] = {}
        """Day ordinal -> its date bucket, interned: the bucket numbers are large ints,
        one object per record otherwise in every index key holding it."""
        self.batches: dict[tuple[str, int, int], dict[str, list[int]]] = {}
        # Lazily built timestamp index of date blocks (``same_posting``), dropped per
        # block whenever the block changes.
        self._postings: dict[tuple[str, int, str, str, int], dict[object, list[int]]] = {}
        # (asset, sign, timestamp) -> ids of lines citing a txid: how an uncited line of
        # a batched send's journal entry finds its cited siblings.
        self.cited: dict[tuple[str, int, object], list[int]] = {}
        # Which amount buckets exist per (asset, sign, date bucket): a probe walks only
        # existing cells, so a window reaching down to zero costs nothing extra.
        self.present: dict[tuple[str, int, int], list[int]] = {}
        # (asset, sign, |amount|, payer key) -> ids, round amounts only: the twins a
        # round-amount pair of one counterparty may be confused with (``twins``), and
        # the sub-block of an oversized amount cell (``payer_block``).
        self.rounds: dict[tuple[str, int, Decimal, str], list[tuple[int, int]]] = {}
        # (asset, sign, payer key, date bucket) -> (|amount| as ``mag``, id), sorted,
        # sharing the amount cells' tuples: a payer's lines of an amount range and
        # window (``crowds._scan``) without walking every payer's lines of that range.
        self.payer_mags: dict[tuple[str, int, str, int], list[tuple[float, int]]] = {}
        # Per amount cell, built on first use and dropped when the cell changes:
        # (|amount|, day) -> ids, the strict key an oversized cell falls back to (a
        # dict lookup instead of a scan of the cell's run of equal amounts).
        self._strict: dict[tuple[str, int, int, int], dict[tuple[float, int], list[int]]] = {}
        # Per payer_mags list, built on first use and dropped when the list changes: its
        # |amounts| alone (``payer_run``: bisecting floats, not (mag, id) tuples).
        self._pm_mags: dict[tuple[str, int, str, int], list[float]] = {}
        # The same per amount cell (``_span``), dropped with ``_strict``.
        self._cell_mags: dict[tuple[str, int, int, int], list[float]] = {}
        # Per oversized amount cell: how many of its items are not round (``oversized``).
        self._plain: dict[tuple[str, int, int, int], int] = {}
        self.items: dict[int, Item] = {}
        self.version = 0
        """Bumped by every change: derived views (``matchers.vector``'s sorted blocks)
        are rebuilt only when it moved."""
        self.derived: dict[str, tuple[int, Any]] = {}
        """Derived views keyed by name, each with the ``version`` it was built at."""

    # --- maintenance -------------------------------------------------------------------


    def derive(self, name: str, build: Callable[[], Any]) -> Any:
        """The derived view ``name``, built by ``build()`` when missing or older than
        ``version``, and kept beside the version it was built at."""
        hit = self.derived.get(name)
        if hit is None or hit[0] != self.version:
            hit = self.derived[name] = (self.version, build())
        return hit[1]
    def bulk_add(self, items: Iterable[Item]) -> None:
        """Add many items; amount buckets are sorted once at the end (fast initial load)."""
        keys, amounts, families, store = self.keys, self.amounts, self.families, self.items
        batches = self.batches
        cited = self.cited
        b = self.day_bucket
        fee_cells = self.fee_cells
        self.version += 1
        self._strict.clear()
        self._plain.clear()
        self._pm_mags.clear()
        self._cell_mags.clear()

        # ``put(index, key, value)`` inlined below for the amount cells (a hot loop of a
        # large load): a new block starts as an exact-size one-element list, since
        # ``setdefault(k, []).append`` over-allocates (~24 bytes per list). Key and
        # family blocks start as a bare id (``Ids``, ``_put``).
        k: Any
        lst: Any
        rounds = self.rounds
        payer_mags = self.payer_mags
        k_txid, k_ref, k_e2e = keys["txid"], keys["reference"], keys["end_to_end_id"]
        dbs = self._db
        for it in items:
            iid = it.id
            store[iid] = it
            if it.round:
                k = (it.asset, it.sign, abs(it.amount), it.payer)
                lst = rounds.get(k)
                if lst is None:
                    rounds[k] = [(it.day, iid)]
                else:
                    lst.append((it.day, iid))
            if it.txid:
                _put(k_txid, it.txid, iid)
                k = (it.asset, it.sign, it.ts)
                lst = cited.get(k)
                if lst is None:
                    cited[k] = [iid]
                else:
                    lst.append(iid)
            if it.ref:
                # ``_put`` inlined: one per record of most books.
                lst = k_ref.get(it.ref)
                if lst is None:
                    k_ref[it.ref] = iid
                elif lst.__class__ is int:
                    k_ref[it.ref] = [lst, iid]
                else:
                    lst.append(iid)
            if it.e2e:
                _put(k_e2e, it.e2e, iid)
            db = dbs.get(it.day)
            if db is None:
                db = dbs[it.day] = it.day // b
            asset, sign = it.asset, it.sign
            akey = (asset, sign, db, amount_bucket(it.mag))
            entry = (it.mag, iid)
            lst = amounts.get(akey)
            if lst is None:
                amounts[akey] = [entry]
            else:
                lst.append(entry)
            if it.fee is not None:
                lst = fee_cells.get(akey)
                if lst is None:
                    fee_cells[akey] = [entry]
                else:
                    lst.append(entry)
            payer = it.payer
            if payer:
                k = (asset, sign, payer, db)
                lst = payer_mags.get(k)
                if lst is None:
                    payer_mags[k] = [entry]
                else:
                    lst.append(entry)
            # ``_family_keys``, inlined (a hot loop of a large load).
            if it.cp:
                _put_family(families, (asset, sign, "counterparty", db), it.cp, iid)
            if it.family:
                _put_family(families, (asset, sign, "reference_family", db), it.family, iid)
            if it.record.address:
                _put_family(families, (asset, sign, "address", db), it.key_value("address"),
                            iid)
            _put_family(families, (asset, sign, "date", db), "*", iid)
            if payer:
                _put_family(families, (asset, sign, "payer", db), payer, iid)
                if it.family and it.family != it.ref:
                    _put_family(families, (asset, sign, "parts", db), payer, iid)
            if it.memo:
                cat = it.batch
                if cat:
                    day_batches = batches.get((asset, sign, it.day))
                    if day_batches is None:
                        batches[(asset, sign, it.day)] = {cat: [iid]}
                    else:
                        lst = day_batches.get(cat)
                        if lst is None:
                            day_batches[cat] = [iid]
                        else:
                            lst.append(iid)
        for flst in self.fee_cells.values():
            flst.sort()
        for rlst in rounds.values():
            rlst.sort()
        for plst in payer_mags.values():
            plst.sort()
        present = self.present
        for (asset, sign, db, ab), lst in amounts.items():
            lst.sort()
            present.setdefault((asset, sign, db), []).append(ab)
        for lst2 in present.values():
            lst2.sort()

    def add(self, it: Item) -> None:
        self.remove(it.id)
        self.version += 1
        self._postings.pop((it.asset, it.sign, "date", "*", it.day // self.day_bucket), None)
        self.items[it.id] = it
        for field, value in self._key_keys(it):
            _put(self.keys[field], value, it.id)
        if it.round:
            insort(self.rounds.setdefault((it.asset, it.sign, abs(it.amount), it.payer), []),
                   (it.day, it.id))
        if it.txid:
            self.cited.setdefault((it.asset, it.sign, it.ts), []).append(it.id)
        akey = self._amount_key(it)
        self._strict.pop(akey, None)
        self._cell_mags.pop(akey, None)
        self._plain.pop(akey, None)
        cell = self.amounts.get(akey)
        if cell is None:
            cell = self.amounts[akey] = []
            insort(self.present.setdefault(akey[:3], []), akey[3])
        insort(cell, (it.mag, it.id))
        if it.fee is not None:
            insort(self.fee_cells.setdefault(akey, []), (it.mag, it.id))
        if it.payer:
            pkey = (it.asset, it.sign, it.payer, it.day // self.day_bucket)
            insort(self.payer_mags.setdefault(pkey, []), (it.mag, it.id))
            self._pm_mags.pop(pkey, None)
        for fk, value in self._family_keys(it):
            _put_family(self.families, fk, value, it.id)
        cat = it.batch
        if cat:
            self.batches.setdefault((it.asset, it.sign, it.day), {}).setdefault(cat, []).append(
                it.id)

    def remove(self, item_id: int) -> Item | None:
        it = self.items.pop(item_id, None)
        if it is None:
            return None
        self.version += 1
        self._postings.pop((it.asset, it.sign, "date", "*", it.day // self.day_bucket), None)
        for field, value in self._key_keys(it):
            _discard_id(self.keys[field], value, it.id)
        if it.round:
            _discard(self.rounds, (it.asset, it.sign, abs(it.amount), it.payer), (it.day, it.id))
        if it.txid:
            _discard(self.cited, (it.asset, it.sign, it.ts), it.id)
        akey = self._amount_key(it)
        if it.fee is not None:
            _discard_sorted(self.fee_cells, akey, it)
        if it.payer:
            pkey = (it.asset, it.sign, it.payer, it.day // self.day_bucket)
            _discard_sorted(self.payer_mags, pkey, it)
            self._pm_mags.pop(pkey, None)
        self._strict.pop(akey, None)
        self._cell_mags.pop(akey, None)
        self._plain.pop(akey, None)
        if _discard_sorted(self.amounts, akey, it):
            buckets = self.present[akey[:3]]
            buckets.remove(akey[3])
            if not buckets:
                del self.present[akey[:3]]
        for fk, value in self._family_keys(it):
            block = self.families.get(fk)
            if block is not None:
                _discard_id(block, value, it.id)
                if not block:
                    del self.families[fk]
        cat = it.batch
        if cat:
            bkey = (it.asset, it.sign, it.day)
            day_batches = self.batches.get(bkey)
            if day_batches is not None:
                _discard(day_batches, cat, it.id)
                if not day_batches:
                    del self.batches[bkey]
        return it

    def _key_keys(self, it: Item) -> Iterator[tuple[str, str]]:
        if it.txid:
            yield ("txid", it.txid)
        if it.ref:
            yield ("reference", it.ref)
        if it.e2e:
            yield ("end_to_end_id", it.e2e)

    def _amount_key(self, it: Item) -> tuple[str, int, int, int]:
        return (it.asset, it.sign, it.day // self.day_bucket, amount_bucket(it.mag))

    def strict_count(self, it: Item) -> int:
        """Items of this side sharing ``it``'s strict key (asset, sign, |amount|, day)."""
        return len(self.strict_ids(self._amount_key(it)).get((it.mag, it.day), ()))

    def strict_ids(self, akey: tuple[str, int, int, int]) -> dict[tuple[float, int], list[int]]:
        """The cell ``akey`` by strict key: (|amount| as ``mag``, day) -> ids, in the
        cell's order (ascending ids per key); built once per version of the cell."""
        got = self._strict.get(akey)
        if got is None:
            got = {}
            items = self.items
            for mag, iid in self.amounts.get(akey, ()):
                k = (mag, items[iid].day)
                lst = got.get(k)
                if lst is None:
                    got[k] = [iid]
                else:
                    lst.append(iid)
            self._strict[akey] = got
        return got

    def oversized(self, it: Item) -> bool:
        """Whether ``it`` is crowded (so only strict keys apply): it sits in an oversized
        amount cell and is round, or the cell holds more than ``max_block`` amounts
        that are not round. A cell crowded by one payer's 5,000.00s alone leaves its
        other amounts (a 5,055.96) paired as in a cell of normal size: the round ones
        are sub-blocked apart (``tolerance.payer_pairs``, ``matchers.crowds``)."""
        akey = self._amount_key(it)
        cell = self.amounts.get(akey, ())
        if len(cell) <= self.max_block:
            return False
        return it.round or self.plain_count(akey) > self.max_block

    def payer_run(self, key: tuple[str, int, str, int], lo: float, hi: float,
                  skip: float | None = None) -> list[tuple[float, int]]:
        """The (|amount| as ``mag``, id) entries of ``payer_mags[key]`` with ``lo <= mag
        <= hi``, in order, less those with ``mag == skip``. Bisected on a float copy of
        the list's magnitudes (kept until the list changes): a busy payer's date bucket
        holds thousands of lines, and comparing tuples costs several times more."""
        plst = self.payer_mags.get(key)
        if not plst:
            return []
        i, j, mags = _span(self._pm_mags, key, plst, lo, hi)
        if i >= j:
            return []
        if skip is None:
            return plst[i:j]
        m0, m1 = bisect_left(mags, skip, i, j), bisect_right(mags, skip, i, j)
        if m0 == m1:
            return plst[i:j]
        return plst[i:m0] + plst[m1:j]

    def plain_count(self, akey: tuple[str, int, int, int]) -> int:
        """How many items of the cell ``akey`` are not round (cached per cell)."""
        n = self._plain.get(akey)
        if n is None:
            items = self.items
            n = self._plain[akey] = sum(1 for _, i in self.amounts.get(akey, ())
                                        if not items[i].round)
        return n

    def _family_keys(self, it: Item) -> Iterator[tuple[tuple[str, int, str, int], str]]:
        """((asset, sign, kind, date bucket), value) of every family block of ``it``."""
        db = self._db.get(it.day)
        if db is None:
            db = self._db[it.day] = it.day // self.day_bucket
        if it.cp:
            yield (it.asset, it.sign, "counterparty", db), it.cp
        if it.family:
            yield (it.asset, it.sign, "reference_family", db), it.family
        if it.record.address:
            yield (it.asset, it.sign, "address", db), it.key_value("address")
        # Reference and txid blocks are served from ``keys`` (they are mostly unique:
        # a per-date-bucket copy would cost ~250 bytes per record for nothing).
        yield (it.asset, it.sign, "date", db), "*"
        payer = it.payer
        if payer:
            # The payer's lines, and among them the parts of a reference family
            # ("INV684315-0 .. -3"): the sub-blocks of a busy payer (``groups``).
            yield (it.asset, it.sign, "payer", db), payer
            if it.family and it.family != it.ref:
                yield (it.asset, it.sign, "parts", db), payer

    def key_ids(self, key: str, value: str) -> Sequence[int]:
        """Every id of this side with exact key ``key`` = ``value`` (no oversize test;
        ``by_key`` is the probe): a live list or a one-id tuple, not to be mutated."""
        block = self.keys.get(key)
        ids = block.get(value) if block is not None else None
        if ids is None:
            return ()
        return (ids,) if ids.__class__ is int else ids  # type: ignore[return-value]

    def family_ids(self, asset: str, sign: int, kind: str, value: str, db: int
                   ) -> Sequence[int]:
        """The ids of one family block (``kind`` "counterparty", "reference_family",
        "address", "date" with value "*", "payer", "parts"; date bucket ``db``): a live
        list or a one-id tuple, not to be mutated."""
        block = self.families.get((asset, sign, kind, db))
        ids = block.get(value) if block is not None else None
        if ids is None:
            return ()
        return (ids,) if ids.__class__ is int else ids  # type: ignore[return-value]

    # --- probes ------------------------------------------------------------------------

    def payer_block(self, asset: str, sign: int, amount: Decimal, payer: str, day_lo: int,
                    day_hi: int) -> list[tuple[int, int]]:
        """(day, id) with this round |amount| and payer key (``Item.payer``) dated in
        [day_lo, day_hi]: the sub-block an oversized amount cell is cut into
        (``tolerance.payer_pairs``) and where twins are looked for."""
        lst = self.rounds.get((asset, sign, amount, payer))
        if not lst:
            return []
        return lst[bisect_left(lst, (day_lo, -1)):bisect_right(lst, (day_hi, 1 << 62))]

    def twins(self, it: Item, day_lo: int, day_hi: int, is_open: Callable[[int], bool]
              ) -> list[int]:
        """Other open ids of this side with ``it``'s round |amount|, asset, sign and
        counterparty, dated in [day_lo, day_hi] (``[]`` for an amount that is not round).
        A round-amount pair with such a twin on either side is never auto: the same
        party paid the same amount twice, and nothing but the date tells them apart."""
        items = self.items
        return [j for _, j in self.payer_block(it.asset, it.sign, abs(it.amount), it.payer,
                                               day_lo, day_hi)
                if j != it.id and items[j].cp == it.cp and is_open(j)]

    def by_key(self, key: str, value: str) -> Sequence[int]:
        """Ids sharing an exact key; an oversized key block returns nothing (counted):
        a reference reused hundreds of times ("SALARY") identifies nothing."""
        ids = self.key_ids(key, value)
        if not ids:
            return ()
        if len(ids) > self.max_block:
            self.stats["oversized_key_blocks"] += 1
            return ()
        return ids

    def by_amount(
        self,
        asset: str,
        signs: tuple[int, ...],
        lo: float,
        hi: float,
        day_lo: int,
        day_hi: int,
        me: Item,
        own: SideIndex,
        tight: tuple[float, float] | None = None,
    ) -> list[int]:
        """Ids with |amount| in [lo, hi] and date in [day_lo, day_hi].

        ``tight``: an inner range; outside it only records declaring a fee are returned
        (from ``fee_cells``), so a probe does not walk the wide fee window of a dense
        cell. Oversize is judged exactly as without it.

        When the prober ``me`` sits in an oversized cell, or a probed cell is oversized,
        only the strict key applies there: same |amount| and same day as ``me``. A strict
        class larger than ``max_block`` on either side matches nothing (counted): a
        thousand identical payments on one day cannot be told apart by any rule.
        """
        me_oversized = own.oversized(me)
        b = self.day_bucket
        items = self.items
        cap = self.max_block
        out: list[int] = []
        ab_lo, ab_hi = amount_bucket(lo), amount_bucket(hi)
        stats = self.stats
        present = self.present
        amounts = self.amounts
        fee_cells = self.fee_cells
        cell_mags = self._cell_mags
        for sign in signs:
            for db in range(day_lo // b, day_hi // b + 1):
                buckets = present.get((asset, sign, db))
                if not buckets:
                    continue
                # A cell holds the days [db * b, db * b + b - 1]: inside the window,
                # its records need no date test.
                inside = day_lo <= db * b and db * b + b - 1 <= day_hi
                for k in range(bisect_left(buckets, ab_lo), bisect_right(buckets, ab_hi)):
                    ckey = (asset, sign, db, buckets[k])
                    cell = amounts[ckey]
                    rounds_only = (not me_oversized and len(cell) > cap
                                   and self.plain_count(ckey) <= cap)
                    if rounds_only:
                        # Crowded by round amounts only: the others pair as in a normal
                        # cell; the round ones (crowded) on the strict key only.
                        stats["oversized_fallbacks"] += 1
                        i, j, _ = _span(cell_mags, ckey, cell, lo, hi)
                        for mag, iid in cell[i:j]:
                            o = items[iid]
                            if (not o.round and day_lo <= o.day <= day_hi and (
                                    tight is None or tight[0] <= mag <= tight[1]
                                    or o.fee is not None)):
                                out.append(iid)
                        if me.round:
                            same = list(self.strict_ids(ckey).get((me.mag, me.day), ()))
                            if same and (len(same) > cap or own.strict_count(me) > cap):
                                stats["strict_blocks_dropped"] += 1
                            else:
                                out.extend(same)
                        continue
                    if me_oversized or len(cell) > cap:
                        stats["oversized_fallbacks"] += 1
                        same = list(self.strict_ids(ckey).get((me.mag, me.day), ()))
                        if same and (len(same) > cap or own.strict_count(me) > cap):
                            stats["strict_blocks_dropped"] += 1
                            continue
                        out.extend(same)
                        continue
                    if tight is None:
                        tl, th = lo, hi
                    else:
                        tl = lo if lo > tight[0] else tight[0]
                        th = hi if hi < tight[1] else tight[1]
                    i, j, _ = _span(cell_mags, ckey, cell, tl, th)
                    if inside:
                        out.extend([iid for _, iid in cell[i:j]])
                    else:
                        for _, iid in cell[i:j]:
                            if day_lo <= items[iid].day <= day_hi:
                                out.append(iid)
                    if tight is None:
                        continue
                    fcell = fee_cells.get((asset, sign, db, buckets[k]))
                    if fcell:
                        i = bisect_left(fcell, (lo, -1))
                        j = bisect_right(fcell, (hi, 1 << 62))
                        for mag, iid in fcell[i:j]:
                            if (mag < tl or mag > th) and day_lo <= items[iid].day <= day_hi:
                                out.append(iid)
        return out

    def by_family(
        self,
        asset: str,
        signs: tuple[int, ...],
        key: str,
        value: str,
        day_lo: int,
        day_hi: int,
        cap: int,
    ) -> list[int] | None:
        """Ids of one counterparty / reference family / txid in a date window, or None
        when the block holds more than ``cap`` items (oversized: a busy counterparty or a
        date-only block on a busy day; the caller skips that key and counts it)."""
        items = self.items
        out: list[int] = []
        if key in ("reference", "txid"):
            ids = self.key_ids(key, value)
            if not ids:
                return out
            if len(ids) > FAMILY_SCAN * cap:
                return None
            for iid in ids:
                o = items[iid]
                if o.asset == asset and o.sign in signs and day_lo <= o.day <= day_hi:
                    out.append(iid)
            return out if len(out) <= cap else None
        b = self.day_bucket
        blocks = []
        size = 0
        family_ids = self.family_ids
        for sign in signs:
            for db in range(day_lo // b, day_hi // b + 1):
                lst = family_ids(asset, sign, key, value, db)
                if lst:
                    size += len(lst)
                    if size > cap:
                        return None
                    blocks.append(lst)
        for lst in blocks:
            for iid in lst:
                if day_lo <= items[iid].day <= day_hi:
                    out.append(iid)
        return out


    def same_posting(self, it: Item, cap: int) -> list[int]:
        """Ids posted at exactly ``it``'s timestamp (same asset and sign): the other lines
        of one journal entry; [] when the date block is above ``cap`` x ``FAMILY_SCAN``.

        The date block's timestamps are indexed on first use and the index is kept until
        the block changes: an incremental run asks once per record it reaches."""
        bkey = (it.asset, it.sign, "date", "*", it.day // self.day_bucket)
        postings = self._postings.get(bkey)
        if postings is None:
            lst = self.family_ids(*bkey)
            if not lst or len(lst) > FAMILY_SCAN * cap:
                return []
            postings = {}
            items = self.items
            for i in lst:
                postings.setdefault(items[i].ts, []).append(i)
            self._postings[bkey] = postings
        return postings.get(it.ts, [])

    def by_batch(
        self, asset: str, signs: tuple[int, ...], day_lo: int, day_hi: int
    ) -> list[tuple[int, str, list[int]]]:
        """The batches (day, category, ids) of the date window: live lists, not copies."""
        out: list[tuple[int, str, list[int]]] = []
        batches = self.batches
        for sign in signs:
            for day in range(day_lo, day_hi + 1):
                day_batches = batches.get((asset, sign, day))
                if day_batches:
                    out.extend((day, cat, ids) for cat, ids in day_batches.items())
        return out


def _span(cache: dict[Any, list[float]], key: Any, entries: list[tuple[float, int]],
          lo: float, hi: float) -> tuple[int, int, list[float]]:
    """[i, j) of the sorted (|amount| as ``mag``, id) ``entries`` with ``lo <= mag <= hi``,
    and their magnitudes: bisected on a float copy of the magnitudes, kept in ``cache``
    under ``key`` until its owner drops it when the list changes (ids are >= 0 and
    < 2**62: the same bounds as bisecting (lo, -1), (hi, 1 << 62) on the tuples, several
    times cheaper than comparing tuples in a list of thousands)."""
    mags = cache.get(key)
    if mags is None:
        mags = cache[key] = [m for m, _ in entries]
    return bisect_left(mags, lo), bisect_right(mags, hi), mags


def _discard_sorted(index: dict, key: object, it: Item) -> bool:  # type: ignore[type-arg]
    """Take ``it``'s ``(mag, id)`` entry out of the sorted list at ``index[key]``, and the
    list itself once empty; True when that emptied (and removed) it."""
    lst = index.get(key)
    if lst is None:
        return False
    pos = bisect_left(lst, (it.mag, it.id))
    if pos < len(lst) and lst[pos][1] == it.id:
        del lst[pos]
    if lst:
        return False
    del index[key]
    return True


def _discard(index: dict, key: object, item_id: object) -> None:  # type: ignore[type-arg]
    lst = index.get(key)
    if lst is None:
        return
    try:
        lst.remove(item_id)
    except ValueError:
        return
    if not lst:
        del index[key]


def _put(block: dict[str, Ids], value: str, iid: int) -> None:
    """Add ``iid`` to ``block[value]`` (``Ids``: a bare id first, a list from the second)."""
    got = block.get(value)
    if got is None:
        block[value] = iid
    elif got.__class__ is int:
        block[value] = [got, iid]
    else:
        got.append(iid)  # type: ignore[union-attr]


def _put_family(families: dict[tuple[str, int, str, int], dict[str, Ids]],
                fk: tuple[str, int, str, int], value: str, iid: int) -> None:
    """Add ``iid`` to the family block ``fk`` / ``value``."""
    block = families.get(fk)
    if block is None:
        families[fk] = {value: iid}
    else:
        _put(block, value, iid)


def _discard_id(block: dict[str, Ids], value: str, iid: int) -> None:
    """Take ``iid`` out of ``block[value]``, and the entry once empty; a list left with
    one id goes back to a bare id."""
    got = block.get(value)
    if got is None:
        return
    if got.__class__ is int:
        if got == iid:
            del block[value]
        return
    lst: list[int] = got  # type: ignore[assignment]
    try:
        lst.remove(iid)
    except ValueError:
        return
    if len(lst) == 1:
        block[value] = lst[0]
    elif not lst:
        del block[value]
