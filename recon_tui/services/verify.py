"""The whole-store audit check: the hash chain (and its remembered head) walked, then the
states of match groups and sessions compared with what the decisions log says of them.

Two depths (see :mod:`recon_tui.store.watermark` for the threat review):

- the **full walk** (``verify_all(conn)``, ``recon-tui verify``, the audit screen): every
  page, every state-log HMAC, every decision's hash and MAC; passing, it seals a new
  verified watermark at the heads it checked;
- the **cheap check** (``verify_all(conn, full=False)``: the app's start and each export):
  the logs below the sealed watermark only by their digest, the rows after it in full, the
  tables against the whole state log as in the full walk, and match groups against their
  decisions where a log row after the watermark names them (``integrity.touched_scope``
  says why that finds the same); without a valid watermark it is the full walk. Passing,
  it moves the watermark up to the heads it checked.

``verify_all`` and ``startup_check`` keep their names and signatures (the CLI's
``verify``, the audit screen and the app's start call them); the watermark is written by
:func:`keep_watermark`, by whoever holds the store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from recon_tui.services.runs import recorded, startup_check_summary, verify_summary
from recon_tui.store import Store, lock, watermark
from recon_tui.store.audit import AuditKey, check_head, has_state_log, key_of
from recon_tui.store.audit import verify as verify_chain
from recon_tui.store.db import Connection
from recon_tui.store.groups import all_group_states
from recon_tui.store.integrity import GroupScope, loads
from recon_tui.store.sessions import session_states
from recon_tui.store.watermark import Watermark


@dataclass(slots=True)
class AuditReport:
    """The chain walk plus the agreement of match-group states with the log."""

    ok: bool
    entries: int
    head: str
    broken_at: int | None = None
    problem: str | None = None
    state_problems: list[str] = field(default_factory=list)
    full: bool = True
    """Whether every row was walked (``False``: only those after the verified watermark)."""
    watermark: Watermark | None = None
    """The watermark this check earned (``None`` when it failed or the store has no key)."""
    watermark_was: str | None = None
    """The watermark record the check started from (what :func:`keep_watermark` replaces)."""
    audit_key: AuditKey | None = None

    def lines(self) -> list[str]:
        out = []
        if self.broken_at is not None or self.problem:
            out.append(f"Audit trail BROKEN at decision {self.broken_at}: {self.problem}")
        if self.state_problems:
            shown = self.state_problems[:10]
            out.append(f"{len(self.state_problems):,} match group or session state(s) disagree "
                       f"with the decisions log:")  # fmt: skip
            out.extend(f"  {p}" for p in shown)
            if len(self.state_problems) > len(shown):
                out.append(f"  … and {len(self.state_problems) - len(shown):,} more")
        return out


_CONFIRMING = ("confirm", "auto_confirm", "manual_match", "explain", "bulk_confirm")


def group_state_problems(conn: Connection, scope: GroupScope | None = None) -> list[str]:
    """Groups whose state says confirmed/rejected/undone/reopened without the log agreeing.

    The log's outcome of a group is its newest decision: ``after.state`` where given, the
    action otherwise; an undo returns a confirm/reject to ``suggested`` and a manual match
    or explanation to ``undone``. ``reopened`` (a source changed a member) may follow a
    confirmation. Suggested and stale groups are the engine's and carry no decision.

    With ``scope`` (:func:`recon_tui.store.integrity.touched_scope`) only its groups are
    judged: the decisions read are theirs (by the ``decisions_group`` index) and those that
    can name groups otherwise (bulk confirms, undos, any ``after`` that mentions groups).
    """
    outcome: dict[int, str] = {}
    bulk: dict[int, list[int]] = {}
    within, params = "", []
    if scope is not None:
        # ``after`` holding "groups" (or any escape, which could spell it): the rows that
        # can name groups other than their own ``group_id``; instr() runs in C.
        within = ("AND (group_id <= ? OR group_id IN (SELECT value FROM json_each(?)) "
                  "OR action IN ('bulk_confirm', 'undo') OR instr(after, 'groups') > 0 "
                  "OR instr(after, '\\') > 0) ")  # fmt: skip
        params = [scope.legacy, scope.json()]
    for seq, action, gid, before, after in conn.execute(
        # ``before`` is read only where it is used (undo rows): one JSON parse a row saved.
        "SELECT seq, action, group_id, CASE WHEN action = 'undo' THEN before END, after "
        "FROM decisions WHERE (group_id IS NOT NULL OR action IN ('bulk_confirm', 'undo')) "
        f"{within}ORDER BY seq", params,
    ):
        a = loads(after) if after else {}
        b = loads(before) if before else {}
        a = a if isinstance(a, dict) else {}
        b = b if isinstance(b, dict) else {}
        if action == "undo":
            undone = b.get("action")
            targets = bulk.get(int(b.get("seq") or 0), []) if undone == "bulk_confirm" else [gid]
            back = "suggested" if undone in ("confirm", "bulk_confirm", "reject") else "undone"
            for g in targets:
                if g is not None:
                    outcome[g] = back
            continue
        if a.get("groups") and "confirm" in action:
            bulk[seq] = [int(g) for g in a["groups"]]
            for g in bulk[seq]:
                outcome[g] = "confirmed"
            continue
        if gid is None:
            continue
        if isinstance(a.get("state"), str):
            outcome[gid] = a["state"]
        elif action in _CONFIRMING:
            outcome[gid] = "confirmed"
        elif action == "reject":
            outcome[gid] = "rejected"
    problems: list[str] = []
    decided = ("confirmed", "rejected", "undone", "reopened")
    if scope is None:
        states = all_group_states(conn)
    else:
        outcome = {g: v for g, v in outcome.items() if scope.holds(g)}
        states = scope.group_states(conn)
    for gid, state in sorted(states.items()):
        logged = outcome.get(gid)
        if state in decided and logged != state:
            says = f"the log says {logged}" if logged else "no decision says so"
            problems.append(f"group {gid} is {state} but {says}")
        elif logged in decided and state != logged and (logged, state) != ("confirmed", "reopened"):
            problems.append(f"group {gid} is {state} but the log says {logged}")
    for gid in sorted(set(outcome) - set(states)):
        problems.append(f"group {gid} is in the decisions log but no longer exists")
    return problems


def session_state_problems(conn: Connection) -> list[str]:
    """Sessions whose state differs from their newest open/close/reopen decision (flipping
    a closed session to open in SQL would otherwise lift its read-only lock unseen)."""
    logged: dict[int, str] = {}
    for sid, action in conn.execute(
        "SELECT session_id, action FROM decisions WHERE action IN "
        "('session_open', 'session_close', 'session_reopen') ORDER BY seq"
    ):
        logged[sid] = "closed" if action == "session_close" else "open"
    problems = []
    for sid, state in session_states(conn).items():
        if sid not in logged:
            problems.append(f"session {sid} is {state} but no decision opened it")
        elif logged[sid] != state:
            problems.append(f"session {sid} is {state} but the log says {logged[sid]}")
    return problems


def verify_all(conn: Connection, *, full: bool = True) -> AuditReport:
    """Walk the hash chain (and its remembered head), then check group and session states
    against it; ``full=False`` walks the logs only after the verified watermark (the module
    docstring). One read transaction when the caller has none, so the watermark earned is
    of the very rows checked."""
    if conn.in_transaction:
        return _verify(conn, full)
    conn.execute("BEGIN")
    try:
        return _verify(conn, full)
    finally:
        conn.execute("ROLLBACK")


FULL_ENV = "RECON_TUI_VERIFY_FULL"
"""Set to 1 to make the app's start and every export walk everything (ignore the watermark)."""


def _verify(conn: Connection, full: bool) -> AuditReport:
    from recon_tui.store import integrity  # the tables rebuilt from the keyed logs

    full = full or os.environ.get(FULL_ENV) == "1"

    ak = key_of(conn)
    keyed = ak is not None and has_state_log(conn)
    was = watermark.read_text(conn) if keyed else None
    wm = watermark.unseal(ak, was) if ak is not None and keyed and was is not None else None
    if not full and wm is None and was is not None and watermark.other_version(was):
        full = True  # another version's watermark: a full walk seals one of ours
    if not full and wm is None and was is not None:
        # A watermark that does not unseal was written without the audit key: report it
        # (the full walk replaces it once everything else checks out).
        report = AuditReport(False, 0, "", None, None, full=False, watermark_was=was)
        report.state_problems = ["the verified watermark (meta.audit_watermark) was altered "
                                 "or forged: its keyed MAC does not match; run "
                                 "'recon-tui verify' for the full walk"]  # fmt: skip
        return report
    if not full and wm is not None and ak is not None:
        walk = watermark.LogWalk(conn, ak, wm)
        walk.decisions()
        if walk.problem is not None:
            return AuditReport(False, walk.entries, walk.head, walk.broken_at, walk.problem,
                               full=False, watermark_was=was)  # fmt: skip
        r = check_head(conn, walk.entries, walk.head)
        report = AuditReport(r.ok, r.entries, r.head, r.broken_at, r.problem, full=False,
                             watermark_was=was, audit_key=ak)  # fmt: skip
        # Groups against their decisions: only those whose story moved since the watermark
        # (integrity.touched_scope says why that finds what the whole comparison finds).
        # Any problem found that way is reported as the whole comparison words it.
        scope = integrity.touched_scope(conn, wm.state_seq, wm.decision_seq)
        report.state_problems = (group_state_problems(conn, scope) + session_state_problems(conn)
                                 + integrity.state_problems(conn, walk, scope))  # fmt: skip
        if scope is not None and report.state_problems and walk.problem is None:
            report.state_problems = (group_state_problems(conn) + session_state_problems(conn)
                                     + integrity.state_problems(conn, walk))  # fmt: skip
        report.ok = r.ok and not report.state_problems
        report.watermark = walk.advanced() if report.ok else None
        return report
    r = verify_chain(conn)
    report = AuditReport(r.ok, r.entries, r.head, r.broken_at, r.problem, watermark_was=was,
                         audit_key=ak)  # fmt: skip
    report.state_problems = (group_state_problems(conn) + session_state_problems(conn)
                             + integrity.state_problems(conn))  # fmt: skip
    report.ok = r.ok and not report.state_problems
    if report.ok and keyed:
        report.watermark = watermark.full_watermark(conn)
    return report


def keep_watermark(store: Store, report: AuditReport) -> bool:
    """Seal the watermark a passing check earned (best effort: see
    :func:`recon_tui.store.watermark.save`); returns whether it was written."""
    if report.watermark is None or report.audit_key is None:
        return False
    if report.watermark_was is not None:
        old = watermark.unseal(report.audit_key, report.watermark_was)
        if old is not None and (old.state_seq > report.watermark.state_seq
                                or old.decision_seq > report.watermark.decision_seq):  # fmt: skip
            return False  # never backwards
    return watermark.save(store, report.audit_key, report.watermark, report.watermark_was)


def _another_run_writes(a: dict[str, object]) -> bool:
    store = a["store"]
    return isinstance(store, Store) and lock.holder(store.path) is not None


# Not recorded while another process holds the run lock (an import writing in one long
# transaction): the check itself only reads, and recording its run would wait for that
# writer (up to RECON_TUI_LOCK_WAIT, 120 s) before the check even started, so a broken
# trail was said two minutes late; the watermark is not moved then either.
@recorded("verify", scope=lambda a: "audit", summary=startup_check_summary,
          skip=_another_run_writes)  # fmt: skip
def startup_check(store: Store) -> str | None:
    """One warning line for the app's start when the audit trail is broken, else ``None``.

    The cheap check (only what came after the verified watermark, see :func:`verify_all`);
    call it from a worker.
    """
    report = verify_all(store.connection(), full=False)
    keep_watermark(store, report)
    if report.ok:
        return None
    if report.broken_at is not None:
        return (f"Audit trail BROKEN at decision {report.broken_at}: {report.problem} "
                f"— run 'recon-tui verify'")  # fmt: skip
    first = report.state_problems[0]
    more = len(report.state_problems) - 1
    return (f"Audit warning: {first}{f' (and {more} more)' if more else ''} "
            f"— run 'recon-tui verify'")  # fmt: skip


@recorded("verify", scope=lambda a: "audit", summary=verify_summary)
def verify_store(store: Store, *, full: bool = True) -> AuditReport:
    """:func:`verify_all` as a recorded run (``recon-tui verify``, the service's start); a
    passing check seals the verified watermark."""
    report = verify_all(store.connection(), full=full)
    keep_watermark(store, report)
    return report
