"""Fake Esplora REST API (the Blockstream / mempool.space Bitcoin indexer).

``GET /address/:addr/txs``: up to 50 mempool txs then the 25 newest confirmed;
``GET /address/:addr/txs/chain/:last_txid``: the next 25 older confirmed;
``GET /blocks/tip/height``: plain-text height. Transactions use Esplora's shape
(``vin[].prevout``, ``vout[]``, ``fee`` and ``status`` in sats / block height / time).
``endless`` makes chain pages repeat forever.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tests.fakes.bank_http import FakeHttp, Req, Resp

ADDR = "bc1qcompanytreasury0000000000000000000xyz"
OTHER = "bc1qsomeoneelse000000000000000000000abc"
T0 = 1_704_067_200  # 2024-01-01


def txid(n: int | str) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def tx(
    n: int | str,
    ins: list[tuple[str, int]],
    outs: list[tuple[str, int]],
    fee: int = 1_000,
    height: int | None = None,
) -> dict[str, Any]:
    """An Esplora transaction; ``height`` None = in the mempool."""
    status: dict[str, Any] = {"confirmed": False}
    if height is not None:
        status = {"confirmed": True, "block_height": height,
                  "block_hash": hashlib.sha256(f"b{height}".encode()).hexdigest(),
                  "block_time": T0 + height * 600}
    return {
        "txid": txid(n), "version": 2, "locktime": 0,
        "vin": [{"txid": txid(f"prev{n}{i}"), "vout": 0, "is_coinbase": False, "sequence": 0,
                 "prevout": {"scriptpubkey_address": a, "value": v}}
                for i, (a, v) in enumerate(ins)],
        "vout": [{"scriptpubkey_address": a, "value": v, "scriptpubkey_type": "v0_p2wpkh"}
                 for a, v in outs],
        "size": 222, "weight": 561, "fee": fee, "status": status,
    }


class FakeEsplora(FakeHttp):
    def __init__(self, tip: int = 1000) -> None:
        super().__init__()
        self.tip = tip
        self.txs: list[dict[str, Any]] = []
        self.endless = False

    def _for(self, addr: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        mine = [t for t in self.txs
                if any(o["scriptpubkey_address"] == addr for o in t["vout"])
                or any((i["prevout"] or {}).get("scriptpubkey_address") == addr for i in t["vin"])]
        mempool = [t for t in reversed(mine) if not t["status"]["confirmed"]]
        chain = sorted((t for t in mine if t["status"]["confirmed"]),
                       key=lambda t: -t["status"]["block_height"])
        return mempool, chain

    def route(self, req: Req) -> Resp:
        parts = req.path.strip("/").split("/")
        if parts == ["blocks", "tip", "height"]:
            return Resp(200, str(self.tip), "text/plain")
        if len(parts) >= 3 and parts[0] == "address" and parts[2] == "txs":
            mempool, chain = self._for(parts[1])
            if len(parts) == 3:
                return Resp(200, mempool[:50] + chain[:25])
            if len(parts) == 5 and parts[3] == "chain":
                if self.endless:
                    return Resp(200, chain[:25])
                ids = [t["txid"] for t in chain]
                if parts[4] not in ids:
                    return Resp(400, "Invalid hex string", "text/plain")
                k = ids.index(parts[4]) + 1
                return Resp(200, chain[k : k + 25])
        return Resp(404, "Not Found", "text/plain")
