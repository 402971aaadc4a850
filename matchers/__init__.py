"""The matching engine: a pure library (no I/O, no Textual, no store).

Usage::

    from matchers import Engine, load_rules
    engine = Engine(load_rules("default"), prices=prices)   # or Engine("default")
    engine.load(left_records, right_records)   # open items only; ids required
    result = engine.run()                      # full run -> MatchResult
    result = engine.run(new_ids={...}, rejected={frozenset({l, r})}, matched={...})
    engine.candidates(record_id, k=5)          # ranked Candidate list for the operator
    engine.add(left=[...], right=[...]); engine.remove(ids)

API (all amounts ``Decimal``; scores floats in [0, 1]):

* ``load_rules(name="default") -> RuleSet``; ``RuleSet.from_toml(text, name)``; invalid
  rules raise ``RuleError`` (``.rule``, ``.field``; message names both).
* ``Engine(rules: RuleSet | str = "default", prices: Iterable[Price] = ())``
* ``Engine.load(left, right)``, ``add(left=(), right=()) -> list[int]``, ``remove(ids)``
* ``Engine.run(new_ids=None, *, rejected=None, matched=()) -> MatchResult`` —
  ``new_ids=None`` is a full run; otherwise only a bounded neighbourhood of the new ids
  is evaluated and only proposals involving a new id are returned (autos only among
  records whose candidates were all seen; equal to a full run's when the closure is
  complete — see ``matchers.engine``). ``rejected``: a
  collection of groups the operator rejected, each a ``frozenset`` (or tuple) of *all*
  its record ids (a pair is ``frozenset({left_id, right_id})``). ``matched``: ids in
  confirmed groups, ignored.
* ``MatchResult(proposals: list[Proposal], stats: dict)``.
* ``Proposal(left_ids, right_ids, score, rule, decision "auto"|"suggest", explanation,
  adjustments: list[Adjustment], alternatives: Sequence[Proposal])``; explanation is
  ``{field: {"agree": bool|None, "detail": str, ...}}`` for amount (left, right,
  difference as decimal strings), date (lag_days), reference / counterparty / memo
  (similarity), address (where both records carry one), group, key and decision.
* ``Adjustment(kind "fee"|"fx"|"rounding", asset, amount: Decimal, note)`` — amount is
  left total minus right total, signed from the left's view.
* ``Engine.candidates(record_id, k=5, *, rejected=None, matched=()) -> list[Candidate]``
  with ``Candidate(record_id, left_ids, right_ids, score, rule, explanation,
  adjustments)`` and ``.counterpart_ids``.
* ``Engine.fee_schedule``: a ``matchers.fees.FeeSchedule`` the caller learned from
  confirmed groups (``learn_fee_schedule(groups)``, groups as (left records, right
  records)); a gap it explains for the pair's counterparty counts like a declared fee
  (auto-worthy; the adjustment's note says where it came from). ``None``: nothing learned.
* A strong-key pair (txid, end-to-end id, reference) beyond the rule's amount or date
  tolerance is still a candidate and a suggestion (auto only under a rule's opt-in
  ``sole_auto``, as the sole candidate of both records, ``engine.sole_reason``, never
  for a fee beyond the cap that no learned schedule explains): its explanation's
  ``amount`` entry carries ``difference_type`` (fee, partial, unknown, date) and a
  ``tolerance`` entry says it is beyond tolerance.
* Vetoes: a 1:1 pair whose txid / end-to-end id / reference / address disagree (where
  the rule did not match on that key), or a round amount with a twin of the same
  counterparty near either record, is never auto; the proposal's ``decision`` entry
  starts with "vetoed:" and says why (``stats["auto_vetoed"]`` counts them).
* Full runs repeat the pipeline without their autos until no new one appears
  (``stats["fixpoint_passes"]``).

Modules: normalize (text keys), rules (TOML schema), items (prepared records), fees
(learned fee schedules),
blocking (indexes), explain (scores and explanations), exact / tolerance / crossasset
/ groups / netting / contra (matchers), engine (pipeline, decisions, incremental), prices, synth
(test data).
"""

from .engine import Engine
from .results import Adjustment, Candidate, MatchResult, Proposal
from .rules import Rule, RuleError, RuleSet, load_rules

__all__ = [
    "Adjustment",
    "Candidate",
    "Engine",
    "MatchResult",
    "Proposal",
    "Rule",
    "RuleError",
    "RuleSet",
    "load_rules",
]
