"""Response and request shapes of the API (pydantic models; they are the OpenAPI schema).

Amounts are strings of exact decimals, never JSON numbers; times are ISO-8601 UTC text.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(Model):
    status: Literal["ok"]
    version: str


class Readiness(Model):
    ready: bool
    scheduler: bool
    overview: bool
    store_schema: int


class Source(Model):
    name: str
    kind: str
    label: str | None
    enabled: bool
    health: str = Field(description="'ok', 'failing' or 'never synced'")
    interval_s: int | None
    last_sync: str | None
    last_success: str | None
    last_error: str | None = Field(description="The newest error while the source is failing")
    last_error_at: str | None
    cursor_age_s: float | None = Field(description="Seconds since the cursor last advanced")
    has_cursor: bool
    last_run_id: int | None


class SourceList(Model):
    items: list[Source]


class Run(Model):
    id: int
    kind: Literal["sync", "match", "export", "verify"]
    scope: str | None
    origin: str = Field(description="cli, app, service or api")
    started_by: str = Field(description="An OS user, 'scheduler', or 'token:<name>'")
    parent_id: int | None
    started: str
    finished: str | None
    seconds: float | None
    outcome: Literal["running", "ok", "failed", "interrupted"]
    counts: dict[str, int | bool | str | None]
    error: str | None


class RunPage(Model):
    items: list[Run]
    next: int | None = Field(description="Pass as before_id for the next (older) page")


class RunRequest(Model):
    kind: Literal["sync", "match"]
    sources: list[str] | None = Field(None, description="sync: these sources (default: all)")
    pairs: list[str] | None = Field(None, description="match: these pairs (default: all)")
    full: bool = Field(False, description="match: re-evaluate every open item")


class RunStarted(Model):
    run_id: int
    status_url: str


class AssetCounts(Model):
    asset: str
    open_count: int
    suggested_count: int
    matched_count: int
    open_amount: str
    suggested_amount: str
    matched_amount: str


class SideCounts(Model):
    label: str
    counts: dict[str, int]
    by_asset: list[AssetCounts]


class Aging(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    d0_1: int = Field(alias="0-1d")
    d2_7: int = Field(alias="2-7d")
    d8_30: int = Field(alias="8-30d")
    d30_plus: int = Field(alias="30d+")


class AssetBreaks(Model):
    asset: str
    left_unmatched: str
    right_unmatched: str
    difference: str
    open_breaks: int
    aging: Aging
    oldest_break_days: int | None


class Pair(Model):
    name: str
    rules: str
    left: SideCounts
    right: SideCounts
    open_breaks: int
    aging: Aging
    assets: list[AssetBreaks]


class PairList(Model):
    items: list[Pair]
    computed_at: str | None = Field(description="When these aggregates were computed")


class Break(Model):
    id: int
    side: Literal["L", "R"]
    ts: str
    age_days: int
    asset: str
    amount: str
    kind: str
    state: str
    status: str
    counterparty: str | None
    reference: str | None
    memo: str | None
    external_id: str


class BreakPage(Model):
    pair: str
    items: list[Break]
    next: str | None = Field(description="Pass as 'after' for the next page")


class Session(Model):
    id: int
    name: str
    state: Literal["open", "closed"]
    owner: str
    pairs: list[str]
    start: str | None
    end: str | None
    opened: str | None
    closed: str | None
    unresolved: int
    closing_totals: list[dict[str, str | int]]


class SessionList(Model):
    items: list[Session]


class LastVerify(Model):
    run_id: int
    at: str | None
    outcome: str
    entries: int | None
    problem: str | None
    origin: str


class Audit(Model):
    head_seq: int
    head_hash: str
    last_verify: LastVerify | None
    last_ok_verify_at: str | None


class Job(Model):
    job: str
    next_run: str | None


class JobList(Model):
    items: list[Job]


class Problem(Model):
    detail: str
