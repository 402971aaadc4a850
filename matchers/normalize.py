"""Text normalisation for matching: references, memos, counterparties, transaction ids.

Every source spells the same thing differently ("REF: INV-001", "inv 001", "Acme Ltd." vs
"ACME LIMITED"); the matchers compare the normalised forms. Pure functions, memoised
where the same strings recur (counterparty names repeat a lot).
"""

from __future__ import annotations

import re
from functools import lru_cache

_PUNCT = re.compile(r"[^0-9a-z]+")

LEGAL_FORMS = frozenset(
    {
        "ltd", "limited", "gmbh", "inc", "incorporated", "llc", "plc", "ag", "sa", "sarl",
        "bv", "nv", "srl", "spa", "oy", "ab", "as", "co", "corp", "corporation", "kg",
        "ug", "sas", "se", "pte", "pty", "lp", "llp",
    }
)
"""Legal-form words dropped from counterparty names: they never decide who paid whom."""

REF_PREFIXES = (
    "sepa ct", "sepa dd", "sepa", "end to end", "e2e", "ref", "reference", "remittance",
    "rf", "payment", "pmt", "trf", "transfer", "invoice", "inv", "batch",
    # SWIFT MT940 / 942 field-86 subfield codes, as in "/ROC/INV123/" (reference of the
    # customer), "/RFB/" (reference for the beneficiary), "/EREF/" (end to end):
    "roc", "rfb", "eref", "cref", "kref", "mref",
)
"""Leading banking boilerplate stripped from references ("REF:", "SEPA CT", "/ROC/").
A prefix is stripped before a space or directly before digits: "INV684315",
"INV 684315" and "inv-684315" are one reference, and so are "/ROC/INV684315/" and
"REF INV684315"."""

_PREFIX_RE = re.compile(
    r"^(?:(?:" + "|".join(re.escape(p) for p in REF_PREFIXES) + r")(?:\b|(?=\d))\s*)+"
)
_FAMILY_SUFFIX = re.compile(r"(?:[ ]*(?:part|p|of)?[ ]*\b\d{1,2}){1,2}$")
_FAMILY_DATE = re.compile(r"[ ]*\b\d{4} \d{2} \d{2}$")
_FAMILY_PERIOD = re.compile(r"(?:[ ]+(?:week|weekly|month|monthly|daily))+$")


@lru_cache(maxsize=65536)
def norm_text(value: str | None) -> str:
    """Lower case, punctuation to single spaces, trimmed."""
    if not value:
        return ""
    return _PUNCT.sub(" ", value.lower()).strip()


@lru_cache(maxsize=65536)
def norm_name(value: str | None) -> str:
    """A counterparty name without case, punctuation or legal-form suffixes."""
    words = norm_text(value).split()
    while len(words) > 1 and words[-1] in LEGAL_FORMS:
        words.pop()
    return " ".join(words)


@lru_cache(maxsize=1 << 14)
def norm_ref(value: str | None) -> str:
    """A reference without boilerplate prefixes, case and punctuation, spaces squeezed.

    Separators are dropped entirely ("INV-001" == "inv 001" == "INV001") because banks
    re-space references freely; prefixes are only stripped when something remains.
    """
    text = norm_text(value)
    if not text:
        return ""
    stripped = _PREFIX_RE.sub("", text)
    if stripped:
        text = stripped
    return text.replace(" ", "")


def ref_family(value: str | None) -> str:
    """The reference a batch shares: the normalised reference minus a short part suffix.

    "BATCH-0042-1", "BATCH-0042-2" and "BATCH 0042" share family "0042"; instalments
    "INV-7 1/2", "INV-7 2/2" share "7"... and split fills "ORD9 part 2" share "ord9".
    A trailing ISO date and period word go too: daily accruals "STAKING ETH 2025-11-03"
    and the weekly payout "STAKING ETH WEEK 2025-11-08" share "stakingeth".
    """
    text = norm_text(value)
    if not text:
        return ""
    stripped = _PREFIX_RE.sub("", text)
    if stripped:
        text = stripped
    if " " in text:
        for pattern in (_FAMILY_DATE, _FAMILY_PERIOD, _FAMILY_SUFFIX):
            shorter = pattern.sub("", text)
            if shorter:
                text = shorter
    return text.replace(" ", "")


def ref_keys(value: str | None) -> tuple[str, str]:
    """``(norm_ref(value), ref_family(value))``, sharing their common steps."""
    text = norm_text(value)
    if not text:
        return "", ""
    stripped = _PREFIX_RE.sub("", text)
    if stripped:
        text = stripped
    ref = text.replace(" ", "")
    if " " not in text:
        return ref, ref
    for pattern in (_FAMILY_DATE, _FAMILY_PERIOD, _FAMILY_SUFFIX):
        shorter = pattern.sub("", text)
        if shorter:
            text = shorter
    family = text.replace(" ", "")
    return ref, ref if family == ref else family


_MEMO_REF = re.compile(
    r"(?:/(?:roc|rfb|eref)/\s*|\b(?:ref|reference|invoice|inv|rf)\b[\s:#.-]*|\b(?=inv\d))"
    r"([a-z0-9-]*\d{4,}(?:[a-z0-9-]*[a-z0-9])?)",
    re.IGNORECASE,
)


def memo_reference(memo: str | None) -> str:
    """A reference written inside remittance text ("PAYMENT INV684315 THANK YOU",
    "/ROC/INV1/ ...", "Ref: 2026-118"), or "": only after a reference marker (REF,
    INV, /ROC/ ...) and only a token with four or more digits, so free text never
    becomes a key. Banks without a structured field put the reference there."""
    if not memo:
        return ""
    m = _MEMO_REF.search(memo)
    return m.group(0) if m else ""


def norm_txid(value: str | None) -> str:
    """On-chain ids: hex is case-insensitive and some explorers add ``0x``."""
    if not value:
        return ""
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    return text


def batch_category(memo: str) -> str:
    """The batch category of a normalised memo, or "" when it is not one.

    A memo without any digit ("payroll", "card receipt stripe", "batch network fee")
    names a *kind* of line, and same-kind lines of one day are a natural batch (one
    bulk debit, one payout). A memo with digits carries an identifier and names one
    payment, not a batch.
    """
    if not memo or any(c.isdigit() for c in memo):
        return ""
    return memo


def norm_address(value: str | None) -> str:
    """Wallet / account addresses: bech32 and hex are case-insensitive, base58 is not."""
    if not value:
        return ""
    text = value.strip()
    low = text.lower()
    if low.startswith(("bc1", "tb1", "bcrt1", "0x")):
        return low
    return text
