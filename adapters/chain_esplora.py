"""Bitcoin addresses through an Esplora HTTP API (Blockstream, mempool.space, self-hosted).

``GET /address/:addr/txs`` gives mempool transactions (up to 50) and the 25 newest
confirmed ones; ``GET /address/:addr/txs/chain/:last_seen_txid`` gives the next 25 older
confirmed ones. Each transaction becomes one *per-address* movement: received = sum of
outputs paying the address, sent = sum of inputs spending from it, amount = received −
sent in BTC (exact: sats scaled by 10⁻⁸). When the address funded inputs, the network
fee is the transaction's ``fee`` with ``attrs['fee_included']`` (it is already inside
``amount``) and ``attrs['fee_shared']`` when other addresses funded inputs too.

Status: pending while unconfirmed or with fewer than ``confirmations`` confirmations,
then booked with the block time. External id: ``{address}:{txid}`` (one transaction can
move several of our addresses).

Cursor: ``{"addresses": {addr: {"known": txid, "pending": [txids]}}}``: ``known`` is the
newest transaction counted as booked; the next sync pages back only until it meets it.
Pending txids seen last time and gone now (replaced by fee bumping, or dropped from the
mempool) are reported as removed. Within one address, batches before the last carry the
address's previous state: a crash re-reads the address, which the upsert makes harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from adapters import file_util as fu
from adapters.base import Adapter, Batch, Capabilities, IntOption, ListOption, Setting
from adapters.http_util import HTTP_SETTINGS, HttpSource
from recon_tui.model import Record, ValidationError, make_record

CHAIN_PAGE = 25
SATS = Decimal("1e-8")


def _sats(v: Any, field: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > 21 * 10**14:
        raise ValidationError(field, f"expected a satoshi amount, got {v!r:.40}")
    return v


def btc(sats: int) -> Decimal:
    return (Decimal(sats) * SATS).quantize(SATS)


class EsploraAdapter(Adapter):
    """Movements of one or more Bitcoin addresses."""

    kind = "esplora"
    label = "Bitcoin address (Esplora)"
    SETTINGS = (
        ListOption("addresses", "Addresses", required=True, help="One or more, comma-separated"),
        Setting("base_url", "Esplora API URL", default="https://blockstream.info/api"),
        IntOption("confirmations", "Confirmations to book", default=1, minimum=1),
        IntOption("max_pages", "Page limit per address", default=100000, minimum=1),
        *HTTP_SETTINGS,
    )
    capabilities = Capabilities(
        fields=frozenset({"txid", "fee", "address", "account"}),
        paging="cursor",
        pending=True,
        removals=True,
    )

    now: Callable[[], datetime] = staticmethod(lambda: datetime.now(UTC))

    def __init__(
        self, source: str, settings: dict[str, Any], secrets: dict[str, str] | None = None
    ) -> None:
        super().__init__(source, settings, secrets)
        self.addresses = list(self.settings.get("addresses") or [])
        self.confirmations = int(self.settings["confirmations"])
        self.max_pages = int(self.settings["max_pages"])
        self.http = HttpSource(source, str(self.settings.get("base_url") or ""), self.settings)

    def test_connection(self) -> str:
        return f"Esplora tip at height {self._tip()}"

    def _tip(self) -> int:
        label = "GET /blocks/tip/height"
        reply = self.http.call("GET", "/blocks/tip/height")
        if reply.status != 200:
            raise self.http.http_error(label, reply)
        text = reply.text.strip()
        if not text.isdigit():
            raise self.http.error(label, f"expected a block height, got {text[:40]!r}")
        return int(text)

    def batches(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        state: dict[str, Any] = dict((cursor or {}).get("addresses") or {})
        tip = self._tip() if self.confirmations > 1 else None
        for addr in self.addresses:
            yield from self._address(addr, state, tip)

    def _get_page(self, path: str) -> list[Any]:
        label = f"GET {path}"
        data = self.http.json_ok(label, self.http.call("GET", path))
        if not isinstance(data, list):
            raise self.http.error(label, f"expected a JSON list, got {type(data).__name__}")
        return data

    def _address(self, addr: str, state: dict[str, Any], tip: int | None) -> Iterator[Batch]:
        old = state.get(addr) or {}
        known = old.get("known")
        old_pending = set(old.get("pending") or [])
        new_known: str | None = None
        pending: list[str] = []
        seen: set[str] = set()
        buf: list[Record] = []
        path = f"/address/{addr}/txs"
        last: str | None = None
        for _page_no in range(self.max_pages):
            page = self._get_page(path)
            confirmed = 0
            stop = False
            for i, tx in enumerate(page):
                where = f"GET {path}: field '[{i}]"
                rec = self._record(addr, tx, tip, where)
                if rec is None:
                    continue
                if rec.txid == known and rec.status == "booked":
                    stop = True
                    break
                if tx["status"]["confirmed"]:
                    confirmed += 1
                    last = rec.txid
                seen.add(rec.txid or "")
                if rec.status == "pending":
                    pending.append(rec.txid or "")
                elif new_known is None:
                    new_known = rec.txid
                buf.append(rec)
            if len(buf) >= fu.BATCH_SIZE:
                # Mid-address: the state of this address is unchanged until it is done.
                yield Batch(records=buf[: fu.BATCH_SIZE], cursor={"addresses": dict(state)})
                buf = buf[fu.BATCH_SIZE :]
            if stop or confirmed < CHAIN_PAGE:
                break
            nxt = f"/address/{addr}/txs/chain/{last}"
            if nxt == path:
                raise self.http.error(f"GET {path}", "the same page came back twice")
            path = nxt
        else:
            raise self.http.error(
                f"GET {path}", f"more than {self.max_pages} pages (endless pagination?)"
            )
        state[addr] = {"known": new_known or known, "pending": sorted(pending)}
        removed = sorted(f"{addr}:{t}" for t in old_pending - seen)
        yield Batch(records=buf, cursor={"addresses": dict(state)}, removed=removed)

    def _record(self, addr: str, tx: Any, tip: int | None, where: str) -> Record | None:
        try:
            return self._convert(addr, tx, tip)
        except ValidationError as exc:
            raise self.http.error(f"{where}.{exc.field}'", exc.detail) from None

    def _convert(self, addr: str, tx: Any, tip: int | None) -> Record | None:
        if not isinstance(tx, dict):
            raise ValidationError("", f"expected an object, got {type(tx).__name__}")
        txid = tx.get("txid")
        if not isinstance(txid, str) or len(txid) != 64:
            raise ValidationError("txid", "missing or not a 64-character hex id")
        st = tx.get("status")
        if not isinstance(st, dict) or not isinstance(st.get("confirmed"), bool):
            raise ValidationError("status.confirmed", "missing or not a boolean")
        vin, vout = tx.get("vin"), tx.get("vout")
        if not isinstance(vin, list) or not isinstance(vout, list):
            raise ValidationError("vin" if not isinstance(vin, list) else "vout", "not a list")
        received = 0
        for j, o in enumerate(vout):
            if not isinstance(o, dict):
                raise ValidationError(f"vout[{j}]", "not an object")
            value = _sats(o.get("value"), f"vout[{j}].value")
            if o.get("scriptpubkey_address") == addr:
                received += value
        sent = 0
        foreign_inputs = False
        for j, i in enumerate(vin):
            if not isinstance(i, dict):
                raise ValidationError(f"vin[{j}]", "not an object")
            prev = i.get("prevout")
            if prev is None:
                continue  # coinbase
            if not isinstance(prev, dict):
                raise ValidationError(f"vin[{j}].prevout", "not an object")
            value = _sats(prev.get("value"), f"vin[{j}].prevout.value")
            if prev.get("scriptpubkey_address") == addr:
                sent += value
            else:
                foreign_inputs = True
        if received == 0 and sent == 0:
            return None  # listed for the address but moves nothing of it
        net = received - sent
        attrs: dict[str, Any] = {}
        fee = None
        if sent:
            fee = btc(_sats(tx.get("fee"), "fee"))
            attrs["fee_included"] = True
            if foreign_inputs:
                attrs["fee_shared"] = True
        status = "pending"
        ts: Any = self.now()
        if st["confirmed"]:
            height, when = st.get("block_height"), st.get("block_time")
            if isinstance(height, bool) or not isinstance(height, int):
                raise ValidationError("status.block_height", "missing or not an integer")
            if isinstance(when, bool) or not isinstance(when, int) or not (
                1231006505 <= when < 4102444800  # genesis block .. year 2100
            ):
                raise ValidationError("status.block_time", "missing or not a plausible time")
            ts = datetime.fromtimestamp(when, UTC)
            attrs["block_height"] = height
            if isinstance(st.get("block_hash"), str):
                attrs["block_hash"] = st["block_hash"]
            confs = 1 if tip is None else tip - height + 1
            status = "booked" if confs >= self.confirmations else "pending"
        return make_record(
            source=self.source,
            external_id=f"{addr}:{txid}",
            kind="deposit" if net > 0 else "withdrawal" if net < 0 else "transfer",
            ts=ts,
            status=status,
            asset="BTC",
            amount=btc(abs(net)) * (1 if net >= 0 else -1),
            fee=fee,
            fee_asset="BTC" if fee is not None else None,
            account=addr,
            address=addr,
            txid=txid,
            attrs=attrs,
        )
