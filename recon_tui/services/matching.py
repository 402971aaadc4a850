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

import gc
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from matchers.engine import Engine
from matchers.fees import FeeSchedule, learn_fee_schedule
from matchers.results import Adjustment, Candidate, Proposal
from matchers.rules import load_rules
from recon_tui.model import Record, SourcePair, canonical_amount
from recon_tui.services import match_apart
from recon_tui.services.candidate_view import CandidateView
from recon_tui.services.decisions import Decisions
from recon_tui.services.runs import match_summary, recorded
from recon_tui.store import Store, groups, now_us
from recon_tui.store.audit import append_many
from recon_tui.store.db import Connection
from recon_tui.store.pairs import advance_matched_rev, list_pairs
from recon_tui.store.records import changed_since, get_records, load_prices
from recon_tui.store.sessions import locked_records, record_post_close
from recon_tui.store.summary import open_count


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


def stored_suggestions(
    conn: Connection, pair: str, record_id: int, limit: int | None = None
) -> list[CandidateView]:
    """The live suggested groups of ``pair`` that contain the record, best score first."""
    out: list[CandidateView] = []
    for g, members in groups.suggestions_of_record(conn, pair, record_id, limit):
        left = tuple(m.record_id for m in members if m.side == "L")
        right = tuple(m.record_id for m in members if m.side == "R")
        out.append(view(g.id, left, right, g.score or 0.0, g.rule or "", "suggest",
                        g.explanation or {}, g.adjustments or []))  # fmt: skip
    return out


def view(gid: int | None, left: tuple[int, ...], right: tuple[int, ...], score: float,
         rule: str, decision: str, expl: dict[str, Any], adj: list[dict[str, Any]]
         ) -> CandidateView:  # fmt: skip
    date = expl.get("date", {}) if isinstance(expl, dict) else {}
    lag = date.get("lag_days") if isinstance(date, dict) else None
    return CandidateView(gid, left, right, float(score), rule, decision, expl, adj,
                         date_lag_days=int(lag) if isinstance(lag, int | float) else None)  # fmt: skip


def from_candidate(c: Candidate) -> CandidateView:
    return view(None, c.left_ids, c.right_ids, c.score, c.rule, "suggest", c.explanation,
                [adjustment_json(a) for a in c.adjustments])  # fmt: skip


def engine_records(records: Iterable[Record]) -> Iterator[Record]:
    """The records as the engine keeps them: without the source's raw payload.

    An engine item holds its record for as long as the record is open (``Item.record``:
    addresses, the raw reference and the external id are read from it), and no matcher
    reads ``raw``: an exchange's JSON payload (several hundred bytes to kilobytes a
    record) would otherwise stay in memory for every open record of the pair. The
    records are the store's fresh copies, owned here, so they are trimmed in place."""
    for r in records:
        r.raw = None
        yield r


def _learned_fees(conn: Connection, pair: str, limit: int = 20_000) -> FeeSchedule:
    """The pair's fee schedule, learned from its latest confirmed groups that carry an
    adjustment (a gap): what makes a recurring wire fee an explained auto next time."""
    members = groups.members_of(conn, groups.confirmed_with_gap(conn, pair, limit))
    recs = {r.id: r for r in get_records(conn, [m.record_id for ms in members.values()
                                                for m in ms])}
    pairs = [([recs[m.record_id] for m in ms if m.side == "L" and m.record_id in recs],
              [recs[m.record_id] for m in ms if m.side == "R" and m.record_id in recs])
             for ms in members.values()]
    return learn_fee_schedule(pairs)


Explained = dict[int, tuple[dict[str, Any], list[dict[str, Any]] | None]]
"""A run's explanations and adjustments, by ``id()`` of the proposal or alternative."""


def _explain(proposals: list[Proposal]) -> Explained:
    """Every proposal's and alternative's explanation and adjustments as stored (one verbose
    re-score each, not two), keyed by the object: two options over the same records may
    come from different rules."""
    out: Explained = {}
    for prop in proposals:
        for option in (prop, *prop.alternatives):
            if id(option) not in out:
                expl, adjs = option.explained()
                out[id(option)] = (expl, [adjustment_json(a) for a in adjs] or None)
    return out


class MatchService:
    """Matching over one store; keeps one engine per pair warm for candidate lookups.

    ``warm=False`` (a one-shot run: ``recon-tui match``, ``demo``) lets each pair's engine
    and proposals go once its results are written: a run over four pairs then peaks at
    the biggest pair's engine, not at all four held at once."""

    def __init__(self, store: Store, *, warm: bool = True) -> None:
        self.store = store
        self.warm = warm
        self.write_turn: Callable[[str], AbstractContextManager[None]] = lambda _pair: nullcontext()
        """Wraps each pair's write (a worker of :mod:`match_apart` waits there for its turn)."""
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
        eng.load(groups.iter_unmatched(conn, p.name, "L", raw=False),
                 groups.iter_unmatched(conn, p.name, "R", raw=False))
        eng.fee_schedule = _learned_fees(conn, p.name)
        return eng

    @staticmethod
    def _decision_seq(conn: Connection) -> int:
        return int(conn.execute("SELECT coalesce(max(seq), 0) FROM decisions").fetchone()[0])

    def _catch_up(self, pair: str, eng: Engine) -> None:
        """Apply decisions made since the engine was loaded (matched leave, undone return)."""
        import json

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
        """Re-read ``ids`` into the engine: the pair's unmatched ones (re)added, others out."""
        ids = list(ids)
        if not ids:
            return []
        eng.remove(ids)
        conn = self.store.connection()
        sides = groups.unmatched_of(conn, p.name, ids)
        recs = get_records(conn, sorted(sides))
        left: list[Record] = [r for r in recs if r.id is not None and sides[r.id] == "L"]
        right: list[Record] = [r for r in recs if r.id is not None and sides[r.id] == "R"]
        return eng.add(engine_records(left), engine_records(right))

    # --- runs -------------------------------------------------------------------------

    def run_all(
        self,
        pairs: Sequence[str] | None = None,
        changed_ids: Iterable[int] | None = None,
        *,
        dry_run: bool = False,
        full: bool = False,
    ) -> MatchRunResult:
        """Run every (or the named) pair; incremental from the pair's matched revision
        (plus ``changed_ids``, when a sync or import names what it changed), full when
        asked or when the pair never ran. Every run, whoever starts it, advances the pair's
        revision in the transaction that writes its results."""
        result = MatchRunResult(dry_run=dry_run)
        if not dry_run:
            self.repair_doubled()
        names = list(pairs) if pairs else [p.name for p in list_pairs(self.store)]
        conn = self.store.connection()
        given = set(changed_ids) if changed_ids is not None else set()
        jobs: list[tuple[str, list[int] | None, int]] = []
        for name in names:
            current_rev = int(self.store.meta("rev", "0") or 0)
            pair_rev = int(self.store.meta(f"matched_rev:{name}", "0") or 0)
            changed: list[int] | None
            if full or pair_rev == 0:
                changed = None
            else:
                since = set(changed_since(conn, pair_rev))
                changed = sorted(since | given)
            jobs.append((name, changed, current_rev))
        fulls = [n for n, changed, _r in jobs if changed is None]
        if (not self.warm and not dry_run
                and match_apart.worth_it(len(fulls), open_count(conn, fulls))):
            # Full runs of several pairs: engines in worker processes, writes in order.
            result.runs.extend(match_apart.run_apart(self.store, jobs))
            return result
        for name, changed, current_rev in jobs:
            result.runs.append(self.run_pair(name, changed, dry_run=dry_run, rev=current_rev))
        return result

    @recorded("match", scope=lambda a: a["name"], store=lambda a: a["self"].store,
              skip=lambda a: a["dry_run"], summary=match_summary)  # fmt: skip
    def run_pair(self, name: str, changed: list[int] | None, *, dry_run: bool = False,
                 rev: int | None = None) -> PairRun:  # fmt: skip
        started = time.perf_counter()
        p = self.pair(name)
        conn = self.store.connection()
        if rev is None:
            rev = int(self.store.meta("rev", "0") or 0)
        reopened: list[int] = []
        if changed is None:
            # A full run starts from the store's truth, not from a warm engine.
            eng = self._build(p)
            self._engines[name] = eng
            new_ids = None
        else:
            # Which changes are this pair's, before any engine is built: a run with none
            # costs a lookup, not a load of every open item.
            mine = sorted(groups.pairs_of_records(conn, changed).get(name, []))
            if not mine:
                if not dry_run:
                    with self.store.tx() as wconn:
                        advance_matched_rev(wconn, name, rev)
                return PairRun(name, "incremental", seconds=time.perf_counter() - started)
            eng = self.engine(name)
            if not dry_run:
                reopened = self._reopen(p, mine)
            new_ids = self._resync(p, eng, [*mine, *reopened])
        res = eng.run(new_ids, rejected=groups.rejected_sets(conn, name))
        run = PairRun(
            name, "full" if changed is None else "incremental", scope=int(res.stats.get("scope", 0)),
            auto=len(res.auto), suggested=len(res.suggestions), reopened=len(reopened),
            proposals=res.proposals,
        )  # fmt: skip
        if not dry_run:
            # Explained before the turn: in a worker of match_apart this verbose re-score
            # runs while the other worker writes, not inside the serialized write.
            explained = _explain(res.proposals)
            with self.write_turn(name):
                run.auto = self._write(p, res.proposals, explained, full=changed is None,
                                       scope_ids=new_ids, rev=rev)  # fmt: skip
            del explained
            if self.warm:
                eng.remove(i for prop in res.auto for i in prop.ids)
                self._seen_seq[name] = self._decision_seq(self.store.connection())
            else:
                self._engines.pop(name, None)
                self._seen_seq.pop(name, None)
                run.proposals = []  # they hold the engine's items
                del eng, res
                gc.collect()  # an engine's few cycles would otherwise outlive the next build
        run.seconds = time.perf_counter() - started
        return run

    def repair_doubled(self) -> int:
        """Reopen, on record, the confirmed groups a migration found doubling a record of an
        older confirmed group (stores written before the unique index); returns how many."""
        with self.store.tx() as conn:
            doubled = groups.doubled_groups(conn)
            if not doubled:
                return 0
            entries: list[dict[str, Any]] = []
            by_group = groups.members_of(conn, doubled)
            for g in doubled:
                row = groups.set_state(conn, g, "reopened", update_states=False)
                mids = [m.record_id for m in by_group.get(g, [])]
                groups.refresh(conn, mids, row.pair)
                entries.append({"action": "reopen", "actor": "engine", "actor_kind": "system",
                                "pair": row.pair, "group_id": g, "record_ids": mids,
                                "before": {"state": "confirmed"}, "after": {"state": "reopened"},
                                "reason": "a member was already in an older confirmed group"})  # fmt: skip
            append_many(conn, entries)
            groups.forget_doubled(conn, doubled)
        return len(doubled)

    def _reopen(self, p: SourcePair, ids: list[int]) -> list[int]:
        """Confirmed groups of the pair whose member a source really changed (another
        content hash, or removed) are reopened; bookkeeping alone never reopens one, and
        a group inside a closed session stays as it is: the change is kept as a post-close
        difference for the next session. Returns the reopened groups' members."""
        members: list[int] = []
        with self.store.tx() as conn:
            touched = groups.groups_touching(conn, p.name, ids, ("confirmed",))
            changed = groups.changed_since_grouped(conn, touched)
            if not changed:
                return []
            by_group = groups.members_of(conn, changed)
            locked = locked_records(conn, {m.record_id for ms in by_group.values() for m in ms})
            entries: list[dict[str, Any]] = []
            for g, moved in changed.items():
                mids = [m.record_id for m in by_group.get(g, [])]
                session = next((locked[r] for r in mids if r in locked), None)
                if session is not None:
                    for rid in moved:
                        record_post_close(conn, locked.get(rid, session), p.name, rid, g)
                    continue
                groups.set_state(conn, g, "reopened", update_states=False)
                members.extend(mids)
                entries.append({"action": "reopen", "actor": "engine", "actor_kind": "system",
                                "pair": p.name, "group_id": g, "record_ids": mids,
                                "before": {"state": "confirmed"}, "after": {"state": "reopened"},
                                "reason": "source changed or removed a member"})  # fmt: skip
            if entries:
                append_many(conn, entries)
            if members:
                groups.refresh(conn, members, p.name)
        return members

    def _write(self, p: SourcePair, proposals: list[Proposal], explained: Explained, *,
               full: bool, scope_ids: list[int] | None, rev: int) -> int:  # fmt: skip
        """Write a run's results (``explained``: :func:`_explain` of them) and advance the
        pair's revision, in one transaction.

        Re-checks inside it that every record is still free in the pair (another process
        may have matched some since the engine loaded): proposals over taken records are
        dropped, and records of a closed session get neither groups nor suggestions.
        Returns the number of groups auto-confirmed."""
        now = now_us()
        name = p.name
        with self.store.tx() as conn:
            touched: set[int] = set()
            if full:
                touched.update(groups.stale_engine_suggestions(conn, name))
                groups.reset_unmatched(conn, name)
            else:
                scope = set(scope_ids or ()) | {i for prop in proposals for i in prop.ids}
                if scope:
                    touched.update(groups.stale_engine_suggestions(conn, name, scope))
                    touched.update(scope)
            all_ids = {i for prop in proposals for i in prop.ids}
            for alt in (a for prop in proposals for a in prop.alternatives):
                all_ids.update(alt.ids)
            state = groups.states(conn, name, all_ids)
            free = {i for i, (st, live) in state.items() if live and st != "matched"}
            locked = locked_records(conn, all_ids)
            decisions: list[dict[str, Any]] = []
            state_rows: dict[int, tuple[str, int | None]] = {}
            seen_keys: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
            new_groups: list[groups.NewGroup] = []
            auto_at: list[tuple[int, Proposal]] = []  # (index in new_groups, proposal)
            suggested_ids: list[frozenset[int]] = []
            auto = 0
            taken = locked.keys()
            for prop in proposals:
                ids = prop.ids
                if not ids <= free or ids & taken:
                    continue
                if prop.decision == "auto":
                    expl, adjs = explained[id(prop)]
                    auto_at.append((len(new_groups), prop))
                    new_groups.append(groups.NewGroup(
                        prop.left_ids, prop.right_ids, "confirmed", prop.rule, prop.score,
                        expl, adjs, "engine"))
                    free -= ids
                    continue
                for option in (prop, *prop.alternatives):
                    key = (option.left_ids, option.right_ids)
                    oids = option.ids
                    if key in seen_keys or not oids <= free or oids & taken:
                        continue
                    seen_keys.add(key)
                    expl, adjs = explained[id(option)]
                    new_groups.append(groups.NewGroup(
                        option.left_ids, option.right_ids, "suggested", option.rule,
                        option.score, expl, adjs))
                    suggested_ids.append(oids)
            # One bulk write of every group (ids in this order), then the decisions.
            gids = groups.create_groups(conn, name, new_groups, origin="engine")
            for ids in suggested_ids:
                for i in ids:
                    state_rows[i] = ("suggested", None)
            for at, prop in auto_at:
                gid = gids[at]
                auto += 1
                decisions.append({
                    "action": "auto_confirm", "pair": name, "group_id": gid,
                    "record_ids": sorted(prop.ids), "at_us": now,
                    "after": {"state": "confirmed", "rule": prop.rule,
                              "score": round(prop.score, 4)},
                    "reason": f"rule {prop.rule} score {prop.score:.3f}",
                })  # fmt: skip
                for i in prop.ids:
                    state_rows[i] = ("matched", gid)
            if decisions:
                append_many(conn, decisions)
            groups.set_states(conn, name, [(s, g, i) for i, (s, g) in state_rows.items()])
            rest = touched - state_rows.keys()
            if rest:
                groups.refresh(conn, rest, name)
            advance_matched_rev(conn, name, rev)
        return auto

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
        """The warm engine's top-``k`` candidates for the record in the engine's order
        (``Engine.candidates``: contradicted ones last, interchangeable copies and
        counterparts other records need after the rest; not re-sorted by score), less
        the (left ids, right ids) sets in ``exclude`` (e.g. already stored suggestions)."""
        eng = self.engine(pair)
        found = eng.candidates(record_id, k, rejected=groups.rejected_sets(self.store.connection(), pair))
        return [from_candidate(c) for c in found if (c.left_ids, c.right_ids) not in exclude]

    def accept(self, pair: str, cand: CandidateView, note: str | None = None) -> int:
        """Confirm a candidate (persisting an engine candidate as a group first)."""
        gid = cand.group_id if cand.group_id is not None else self.persist(pair, cand)
        Decisions(self.store).confirm(gid, note)
        self.engine(pair)  # catch the engine up with the decision
        return gid

    def reject(self, pair: str, cand: CandidateView, reason: str, note: str | None = None) -> None:
        gid = cand.group_id if cand.group_id is not None else self.persist(pair, cand)
        Decisions(self.store).reject(gid, reason, note)

    def persist(self, pair: str, cand: CandidateView) -> int:
        """An engine candidate stored as a live suggestion (to be confirmed or rejected)."""
        with self.store.tx() as conn:
            return groups.create_group(
                conn, pair, cand.left_ids, cand.right_ids, state="suggested", origin="engine",
                rule=cand.rule, score=cand.score, explanation=cand.explanation,
                adjustments=cand.adjustments or None,
            )  # fmt: skip


def pairs_of(store: Store, record_ids: Iterable[int]) -> dict[str, list[int]]:
    """Which pairs the given records belong to (for routing sync changes)."""
    return groups.pairs_of_records(store.connection(), record_ids)
