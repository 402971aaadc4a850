"""The matching service: feeds the pure engine (``matchers``) from the store and writes its
results back as match groups and decisions.

One :class:`~matchers.engine.Engine` per source pair holds that pair's open items in its
blocking indexes. A run is full (every open item) or incremental (only the records a
sync added or changed, plus what they touch). Results are written in one transaction:

- auto proposals become confirmed groups (origin ``engine``), each with an
  ``auto_confirm`` decision carrying its rule and score;
- suggestions (and their competing alternatives) become ``suggested`` groups;
- earlier live suggestions in the run's scope become ``stale``;
- confirmed groups are never overwritten; rejected sets are passed to the engine and
  never proposed again; a confirmed group whose member a source changed or removed is
  ``reopened`` (recorded as a ``reopen`` decision) and its records are re-evaluated.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from matchers.engine import Engine
from matchers.results import Adjustment, Candidate, Proposal
from matchers.rules import load_rules
from recon_tui.model import Record, Side, SourcePair, canonical_amount
from recon_tui.services import sessions
from recon_tui.services.decisions import (
    Decisions,
    create_group,
    group_members,
    refresh_states,
)
from recon_tui.services.runs import match_summary, recorded
from recon_tui.store import Store, now_us
from recon_tui.store.audit import append, append_many
from recon_tui.store.db import Connection
from recon_tui.store.records import get_records, iter_records, load_prices, side_clause
from recon_tui.store.sources import list_pairs


@dataclass(slots=True)
class CandidateView:
    """A candidate as the workbench shows it: a stored suggestion or an engine candidate."""

    group_id: int | None
    left_ids: tuple[int, ...]
    right_ids: tuple[int, ...]
    score: float
    rule: str
    decision: str
    explanation: dict[str, Any]
    adjustments: list[dict[str, Any]]
    amount_difference: str = "0"
    date_lag_days: int | None = None


@dataclass(slots=True)
class PairRun:
    pair: str
    mode: str
    scope: int = 0
    auto: int = 0
    suggested: int = 0
    reopened: int = 0
    seconds: float = 0.0
    proposals: list[Proposal] = field(default_factory=list)


@dataclass(slots=True)
class MatchRunResult:
    runs: list[PairRun] = field(default_factory=list)
    dry_run: bool = False

    def lines(self, verbose: bool = False) -> list[str]:
        out = []
        verb = "would" if self.dry_run else ""
        for r in self.runs:
            if self.dry_run:
                out.append(f"{r.pair}: {r.mode} run over {r.scope:,} items {verb} auto-confirm "
                           f"{r.auto:,} and suggest {r.suggested:,} ({r.seconds:.2f}s)")  # fmt: skip
            else:
                out.append(f"{r.pair}: {r.mode} run over {r.scope:,} items: auto-confirmed "
                           f"{r.auto:,}, suggested {r.suggested:,}, reopened {r.reopened:,} "
                           f"({r.seconds:.2f}s)")  # fmt: skip
            if verbose:
                for p in r.proposals:
                    adj = "; ".join(f"{a.kind} {canonical_amount(a.amount)} {a.asset}"
                                    for a in p.adjustments)  # fmt: skip
                    out.append(
                        f"  {p.decision:<7} {p.score:.3f} {p.rule:<20} L{list(p.left_ids)} "
                        f"R{list(p.right_ids)}{'  adj: ' + adj if adj else ''}"
                    )
        return out


def adjustment_json(a: Adjustment) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": a.kind, "asset": a.asset, "amount": canonical_amount(a.amount)}
    if a.note:
        d["note"] = a.note
    return d


def _side_where(side: Side) -> tuple[str, tuple[Any, ...]]:
    """A side's live records that no confirmed group holds (what the engine works on)."""
    where, params = side_clause(side)
    return where + " AND state != 'matched'", params


def _rejected(conn: Connection, pair: str) -> set[frozenset[int]]:
    return {
        frozenset(int(x) for x in key.split(","))
        for (key,) in conn.execute("SELECT key FROM rejections WHERE pair = ?", (pair,))
    }


def stored_suggestions(
    conn: Connection, pair: str, record_id: int, limit: int | None = None
) -> list[CandidateView]:
    """The live suggested groups of ``pair`` that contain the record, best score first."""
    out: list[CandidateView] = []
    for gid, rule, score, expl, adj in conn.execute(
        "SELECT g.id, g.rule, g.score, g.explanation, g.adjustments FROM match_groups g "
        "JOIN group_members m ON m.group_id = g.id WHERE m.record_id = ? AND g.pair = ? "
        "AND g.state = 'suggested' ORDER BY g.score DESC, g.id LIMIT ?",
        (record_id, pair, -1 if limit is None else limit),
    ):
        members = group_members(conn, gid)
        left = tuple(m.record_id for m in members if m.side == "L")
        right = tuple(m.record_id for m in members if m.side == "R")
        out.append(MatchService._view(gid, left, right, score or 0.0, rule or "", "suggest",
                                      json.loads(expl) if expl else {},
                                      json.loads(adj) if adj else []))  # fmt: skip
    return out


class MatchService:
    """Matching over one store; keeps one engine per pair warm for candidate lookups."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._engines: dict[str, Engine] = {}
        self._seen_seq: dict[str, int] = {}
        self._pairs = {p.name: p for p in list_pairs(store)}

    # --- engines ----------------------------------------------------------------------

    def pair(self, name: str) -> SourcePair:
        if name not in self._pairs:
            self._pairs = {p.name: p for p in list_pairs(self.store)}
        if name not in self._pairs:
            raise ValueError(f"no source pair named '{name}'")
        return self._pairs[name]

    def engine(self, pair: str) -> Engine:
        """The pair's engine with its open items loaded (built on first use)."""
        eng = self._engines.get(pair)
        if eng is None:
            eng = self._build(self.pair(pair))
            self._engines[pair] = eng
        else:
            self._catch_up(pair, eng)
        return eng

    def _build(self, p: SourcePair) -> Engine:
        conn = self.store.connection()
        self._seen_seq[p.name] = self._decision_seq(conn)
        eng = Engine(load_rules(p.rules), prices=load_prices(conn))
        lw, lp = _side_where(p.left)
        rw, rp = _side_where(p.right)
        eng.load(iter_records(conn, lw, lp), iter_records(conn, rw, rp))
        return eng

    @staticmethod
    def _decision_seq(conn: Connection) -> int:
        return int(conn.execute("SELECT coalesce(max(seq), 0) FROM decisions").fetchone()[0])

    def _catch_up(self, pair: str, eng: Engine) -> None:
        """Apply decisions made since the engine was loaded (matched leave, undone return)."""
        conn = self.store.connection()
        seq = self._decision_seq(conn)
        last = self._seen_seq.get(pair, 0)
        if seq == last:
            return
        ids: set[int] = set()
        for (rids,) in conn.execute(
            "SELECT record_ids FROM decisions WHERE seq > ? AND record_ids IS NOT NULL", (last,)
        ):
            ids.update(json.loads(rids))
        self._seen_seq[pair] = seq
        self._resync(self.pair(pair), eng, ids)

    def _resync(self, p: SourcePair, eng: Engine, ids: Iterable[int]) -> list[int]:
        """Re-read ``ids`` into the engine: open ones (re)added, others removed."""
        ids = list(ids)
        if not ids:
            return []
        eng.remove(ids)
        conn = self.store.connection()
        state = dict(conn.execute(
            f"SELECT id, state FROM records WHERE removed = 0 AND id IN ({', '.join('?' * len(ids))})",
            ids,
        )) if len(ids) < 30_000 else None  # fmt: skip
        recs = get_records(conn, ids)
        left: list[Record] = []
        right: list[Record] = []
        for r in recs:
            if state is not None and state.get(r.id) in (None, "matched"):
                continue
            if p.left.admits(r):
                left.append(r)
            elif p.right.admits(r):
                right.append(r)
        return eng.add(left, right)

    # --- runs -------------------------------------------------------------------------

    def run_all(
        self,
        pairs: Sequence[str] | None = None,
        changed_ids: Iterable[int] | None = None,
        *,
        dry_run: bool = False,
        full: bool = False,
    ) -> MatchRunResult:
        """Run every (or the named) pair; incremental when ``changed_ids`` are given or a
        previous run's revision is known, full otherwise."""
        result = MatchRunResult(dry_run=dry_run)
        names = list(pairs) if pairs else [p.name for p in list_pairs(self.store)]
        conn = self.store.connection()
        current_rev = int(self.store.meta("rev", "0") or 0)
        given = list(changed_ids) if changed_ids is not None else None
        for name in names:
            # Each pair remembers the store revision it last caught up to.
            pair_rev = int(self.store.meta(f"matched_rev:{name}", "0") or 0)
            changed: list[int] | None
            if full or (given is None and pair_rev == 0):
                changed = None
            elif given is not None:
                changed = given
            else:
                changed = [
                    i for (i,) in conn.execute("SELECT id FROM records WHERE rev > ?", (pair_rev,))
                ]
            result.runs.append(self.run_pair(name, changed, dry_run=dry_run))
            if not dry_run and given is None:
                self.store.set_meta(f"matched_rev:{name}", str(current_rev))
        return result

    @recorded("match", scope=lambda a: a["name"], store=lambda a: a["self"].store,
              skip=lambda a: a["dry_run"], summary=match_summary)  # fmt: skip
    def run_pair(self, name: str, changed: list[int] | None, *, dry_run: bool = False) -> PairRun:
        started = time.perf_counter()
        p = self.pair(name)
        conn = self.store.connection()
        reopened: list[int] = []
        if changed is None:
            # A full run starts from the store's truth, not from a warm engine.
            eng = self._build(p)
            self._engines[name] = eng
            new_ids = None
        else:
            eng = self.engine(name)
            recs = get_records(conn, changed)
            mine = [
                r.id for r in recs if r.id is not None and (p.left.admits(r) or p.right.admits(r))
            ]
            if not mine:
                return PairRun(name, "incremental", seconds=time.perf_counter() - started)
            if not dry_run:
                reopened = self._reopen(p, mine)
            new_ids = self._resync(p, eng, [*mine, *reopened])
        res = eng.run(new_ids, rejected=_rejected(conn, name))
        run = PairRun(
            name, "full" if changed is None else "incremental", scope=int(res.stats.get("scope", 0)),
            auto=len(res.auto), suggested=len(res.suggestions), reopened=len(reopened),
            proposals=res.proposals,
        )  # fmt: skip
        if not dry_run:
            self._write(p, res.proposals, full=changed is None, scope_ids=new_ids)
            eng.remove(i for prop in res.auto for i in prop.ids)
            self._seen_seq[name] = self._decision_seq(self.store.connection())
        run.seconds = time.perf_counter() - started
        return run

    def _reopen(self, p: SourcePair, ids: list[int]) -> list[int]:
        """Confirmed groups with a member changed/removed by its source are reopened."""
        with self.store.tx() as conn:
            marks = ", ".join("?" * len(ids))
            groups = [g for (g,) in conn.execute(
                f"SELECT DISTINCT g.id FROM group_members m JOIN match_groups g ON g.id = m.group_id "
                f"WHERE m.record_id IN ({marks}) AND g.state = 'confirmed' AND g.pair = ?",
                (*ids, p.name),
            )]  # fmt: skip
            members: list[int] = []
            for g in groups:
                mids = [m.record_id for m in group_members(conn, g)]
                members.extend(mids)
                conn.execute("UPDATE match_groups SET state = 'reopened' WHERE id = ?", (g,))
                append(conn, "reopen", actor="engine", actor_kind="system", pair=p.name, group_id=g,
                       record_ids=mids, before={"state": "confirmed"}, after={"state": "reopened"},
                       reason="source changed or removed a member")  # fmt: skip
            if members:
                refresh_states(conn, members)
        return members

    def _write(
        self, p: SourcePair, proposals: list[Proposal], *, full: bool, scope_ids: list[int] | None
    ) -> None:
        now = now_us()
        with self.store.tx() as conn:
            touched: set[int] = set()
            if full:
                conn.execute(
                    "UPDATE match_groups SET state = 'stale' WHERE pair = ? AND state = 'suggested' "
                    "AND origin = 'engine'", (p.name,),
                )  # fmt: skip
                for side in (p.left, p.right):
                    where, params = _side_where(side)
                    conn.execute(f"UPDATE records SET state = 'open' WHERE {where}", params)
            else:
                scope = set(scope_ids or ()) | {i for prop in proposals for i in prop.ids}
                if scope:
                    ids = sorted(scope)
                    for i in range(0, len(ids), 5000):
                        part = ids[i : i + 5000]
                        marks = ", ".join("?" * len(part))
                        stale = [g for (g,) in conn.execute(
                            f"SELECT DISTINCT g.id FROM group_members m JOIN match_groups g "
                            f"ON g.id = m.group_id WHERE m.record_id IN ({marks}) "
                            f"AND g.state = 'suggested' AND g.origin = 'engine'", part,
                        )]  # fmt: skip
                        for g in stale:
                            conn.execute(
                                "UPDATE match_groups SET state = 'stale' WHERE id = ?", (g,)
                            )
                            touched.update(m.record_id for m in group_members(conn, g))
                    touched.update(scope)
            decisions: list[dict[str, Any]] = []
            state_rows: dict[int, tuple[str, int | None]] = {}
            seen_keys: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
            locked = sessions.locked_records(conn, {i for prop in proposals for i in prop.ids})
            for prop in proposals:
                # A closed session is read-only: the engine only suggests inside it.
                if prop.decision == "auto" and not (prop.ids & locked.keys()):
                    gid = create_group(
                        conn, p.name, prop.left_ids, prop.right_ids, state="confirmed",
                        origin="engine", rule=prop.rule, score=prop.score,
                        explanation=prop.explanation,
                        adjustments=[adjustment_json(a) for a in prop.adjustments] or None,
                        decided_by="engine",
                    )  # fmt: skip
                    decisions.append({
                        "action": "auto_confirm", "pair": p.name, "group_id": gid,
                        "record_ids": sorted(prop.ids), "at_us": now,
                        "after": {"state": "confirmed", "rule": prop.rule,
                                  "score": round(prop.score, 4)},
                        "reason": f"rule {prop.rule} score {prop.score:.3f}",
                    })  # fmt: skip
                    for i in prop.ids:
                        state_rows[i] = ("matched", gid)
                    continue
                for option in (prop, *prop.alternatives):
                    key = (option.left_ids, option.right_ids)
                    if key in seen_keys:
                        continue
                    seen_keys.add(key)
                    create_group(
                        conn, p.name, option.left_ids, option.right_ids, state="suggested",
                        origin="engine", rule=option.rule, score=option.score,
                        explanation=option.explanation,
                        adjustments=[adjustment_json(a) for a in option.adjustments] or None,
                    )  # fmt: skip
                    for i in option.ids:
                        if state_rows.get(i, ("",))[0] != "matched":
                            state_rows[i] = ("suggested", None)
            if decisions:
                append_many(conn, decisions)
            conn.executemany(
                "UPDATE records SET state = ?, group_id = ? WHERE id = ? AND state != 'matched'",
                [(s, g, i) for i, (s, g) in state_rows.items()],
            )
            rest = touched - state_rows.keys()
            if rest:
                refresh_states(conn, rest)

    # --- operator candidates ----------------------------------------------------------

    def candidates(self, pair: str, record_id: int, k: int = 5) -> list[CandidateView]:
        """Stored suggestions containing the record first, then the engine's candidates."""
        stored = stored_suggestions(self.store.connection(), pair, record_id)
        seen = {(v.left_ids, v.right_ids) for v in stored}
        return [*stored, *self.engine_candidates(pair, record_id, k, exclude=seen)][:k]

    def engine_candidates(
        self, pair: str, record_id: int, k: int = 5,
        exclude: Collection[tuple[tuple[int, ...], tuple[int, ...]]] = (),
    ) -> list[CandidateView]:  # fmt: skip
        """The warm engine's top-``k`` candidates for the record, best score first, less
        the (left ids, right ids) sets in ``exclude`` (e.g. already stored suggestions)."""
        eng = self.engine(pair)
        found = eng.candidates(record_id, k, rejected=_rejected(self.store.connection(), pair))
        views = [
            self._from_candidate(c) for c in found if (c.left_ids, c.right_ids) not in exclude
        ]
        return sorted(views, key=lambda v: -v.score)

    def _from_candidate(self, c: Candidate) -> CandidateView:
        return self._view(None, c.left_ids, c.right_ids, c.score, c.rule, "suggest",
                          c.explanation, [adjustment_json(a) for a in c.adjustments])  # fmt: skip

    @staticmethod
    def _view(gid: int | None, left: tuple[int, ...], right: tuple[int, ...], score: float,
              rule: str, decision: str, expl: dict[str, Any],
              adj: list[dict[str, Any]]) -> CandidateView:  # fmt: skip
        amount = expl.get("amount", {}) if isinstance(expl, dict) else {}
        date = expl.get("date", {}) if isinstance(expl, dict) else {}
        lag = date.get("lag_days") if isinstance(date, dict) else None
        diff = amount.get("difference", "0") if isinstance(amount, dict) else "0"
        return CandidateView(gid, left, right, float(score), rule, decision, expl, adj,
                             amount_difference=str(diff),
                             date_lag_days=int(lag) if isinstance(lag, int | float) else None)  # fmt: skip

    def accept(self, pair: str, cand: CandidateView, note: str | None = None) -> int:
        """Confirm a candidate (persisting an engine candidate as a group first)."""
        gid = cand.group_id if cand.group_id is not None else self._persist(pair, cand)
        Decisions(self.store).confirm(gid, note)
        self.engine(pair)  # catch the engine up with the decision
        return gid

    def reject(self, pair: str, cand: CandidateView, reason: str, note: str | None = None) -> None:
        gid = cand.group_id if cand.group_id is not None else self._persist(pair, cand)
        Decisions(self.store).reject(gid, reason, note)

    def _persist(self, pair: str, cand: CandidateView) -> int:
        with self.store.tx() as conn:
            gid = create_group(
                conn, pair, cand.left_ids, cand.right_ids, state="suggested", origin="engine",
                rule=cand.rule, score=cand.score, explanation=cand.explanation,
                adjustments=cand.adjustments or None,
            )  # fmt: skip
            refresh_states(conn, [*cand.left_ids, *cand.right_ids])
        return gid


def pairs_of(store: Store, record_ids: Iterable[int]) -> dict[str, list[int]]:
    """Which pairs the given records belong to (for routing sync changes)."""
    recs = get_records(store.connection(), record_ids)
    out: dict[str, list[int]] = defaultdict(list)
    for p in list_pairs(store):
        for r in recs:
            if r.id is not None and (p.left.admits(r) or p.right.admits(r)):
                out[p.name].append(r.id)
    return dict(out)
