"""The ``/v1`` routes. Endpoints are plain ``def``: FastAPI runs them on its thread pool,
where each worker thread reads through a store connection of its own."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response

from recon_tui import __version__
from recon_tui.api import schemas
from recon_tui.api.auth import Operator, Reader
from recon_tui.services import overview

router = APIRouter(prefix="/v1")
PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.Problem, "description": "No token, or an unknown or revoked one"},
}


def _rt(request: Request) -> Any:
    return request.app.state.runtime


def _json(data: dict[str, Any]) -> Response:
    """The two biggest pages skip FastAPI's re-validation of the response: their shape is
    the declared ``response_model`` (the OpenAPI tests check every endpoint against it), and
    validating 100-1000 items again per request cost more than building them."""
    return Response(json.dumps(data, separators=(",", ":"), ensure_ascii=False),
                    media_type="application/json")  # fmt: skip


@router.get("/health", response_model=schemas.Health, tags=["service"])
def health() -> dict[str, Any]:
    """Liveness: the process answers (no token needed, nothing about the store)."""
    return {"status": "ok", "version": __version__}


@router.get("/ready", response_model=schemas.Readiness, tags=["service"],
            responses={503: {"model": schemas.Readiness}})  # fmt: skip
def ready(request: Request, response: Response) -> dict[str, Any]:
    """Readiness: the store is open, the scheduler runs and the aggregates are computed."""
    rt = _rt(request)
    out = {"ready": rt.ready, "scheduler": rt.scheduler.running, "overview": rt.overview.ready,
           "store_schema": rt.store.version}  # fmt: skip
    if not out["ready"]:
        response.status_code = 503
    return out


@router.get("/sources", response_model=schemas.SourceList, tags=["sources"], responses=PROBLEMS)
def sources(request: Request, token: Reader) -> dict[str, Any]:
    """Each source with its health, last sync, last error and cursor age."""
    return {"items": overview.sources(_rt(request).store)}


@router.get("/runs", response_model=schemas.RunPage, tags=["runs"], responses=PROBLEMS)
def runs(
    request: Request, token: Reader,
    kind: Annotated[str | None, Query(pattern="^(sync|match|export|verify)$")] = None,
    outcome: Annotated[str | None, Query(pattern="^(running|ok|failed|interrupted)$")] = None,
    scope: str | None = None,
    origin: Annotated[str | None, Query(description="cli, app, service or api")] = None,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:  # fmt: skip
    """Run history, newest first (keyset-paged: pass ``next`` as ``before_id``)."""
    items = overview.list_runs(_rt(request).store, kind=kind, outcome=outcome, scope=scope,
                               origin=origin, before_id=before_id, limit=limit + 1)  # fmt: skip
    more = len(items) > limit
    items = items[:limit]
    return _json({"items": items, "next": items[-1]["id"] if more and items else None})


@router.get("/runs/{run_id}", response_model=schemas.Run, tags=["runs"],
            responses={**PROBLEMS, 404: {"model": schemas.Problem}})  # fmt: skip
def run(request: Request, run_id: int, token: Reader) -> dict[str, Any]:
    found = overview.get_run(_rt(request).store, run_id)
    if found is None:
        raise HTTPException(404, detail=f"no run {run_id}")
    return found


@router.post("/runs", response_model=schemas.RunStarted, status_code=202, tags=["runs"],
             responses={**PROBLEMS, 403: {"model": schemas.Problem},
                        404: {"model": schemas.Problem}})  # fmt: skip
def start_run(request: Request, body: schemas.RunRequest, token: Operator) -> dict[str, Any]:
    """Start a sync or a match now (operator tokens only); poll ``status_url``.

    Recorded as a decision of the audit chain naming the token."""
    targets = body.sources if body.kind == "sync" else body.pairs
    try:
        run_id = _rt(request).start_run(body.kind, targets, full=body.full, token_name=token.name)
    except LookupError as exc:
        raise HTTPException(404, detail=str(exc.args[0])) from None
    return {"run_id": run_id, "status_url": f"/v1/runs/{run_id}"}


@router.get("/pairs", response_model=schemas.PairList, tags=["pairs"], responses=PROBLEMS)
def pairs(request: Request, token: Reader) -> dict[str, Any]:
    """Each pair's counts and amounts per side and asset, and break aging per asset."""
    ov = _rt(request).overview
    return {"items": ov.pairs(), "computed_at": overview.iso(ov.computed_us)}


@router.get("/pairs/{name}", response_model=schemas.Pair, tags=["pairs"],
            responses={**PROBLEMS, 404: {"model": schemas.Problem}})  # fmt: skip
def pair(request: Request, name: str, token: Reader) -> dict[str, Any]:
    found = _rt(request).overview.pair(name)
    if found is None:
        raise HTTPException(404, detail=f"no source pair '{name}'")
    return found


@router.get("/pairs/{name}/breaks", response_model=schemas.BreakPage, tags=["pairs"],
            responses={**PROBLEMS, 404: {"model": schemas.Problem},
                       422: {"model": schemas.Problem}})  # fmt: skip
def breaks(
    request: Request, name: str, token: Reader,
    side: Annotated[str, Query(pattern="^(left|right|both)$")] = "both",
    status: Annotated[str, Query(pattern="^(unmatched|open|suggested)$")] = "unmatched",
    text: str = "", asset: str = "", amount_min: str = "", amount_max: str = "",
    date_from: str = "", date_to: str = "",
    after: Annotated[str | None, Query(description="'next' of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:  # fmt: skip
    """The pair's open breaks, oldest first, with the workbench's filters."""
    rt = _rt(request)
    store = rt.store
    p = overview.pair_named(store, name)
    if p is None:
        raise HTTPException(404, detail=f"no source pair '{name}'")
    try:
        return _json(overview.breaks(store, p, side=side, after=overview.parse_cursor(after),
                               limit=limit, text=text, asset=asset, amount_min=amount_min,
                               amount_max=amount_max, date_from=date_from, date_to=date_to,
                               status=status, workbench=rt.overview.workbench()))  # fmt: skip
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None


@router.get("/sessions", response_model=schemas.SessionList, tags=["sessions"],
            responses=PROBLEMS)  # fmt: skip
def sessions(request: Request, token: Reader) -> dict[str, Any]:
    """Sessions with their state, unresolved count and closing totals."""
    return {"items": _rt(request).overview.sessions()}


@router.get("/audit", response_model=schemas.Audit, tags=["audit"], responses=PROBLEMS)
def audit(request: Request, token: Reader) -> dict[str, Any]:
    """The decisions log's head and the last verify result."""
    return overview.audit(_rt(request).store)


@router.get("/schedule", response_model=schemas.JobList, tags=["service"], responses=PROBLEMS)
def schedule(request: Request, token: Reader) -> dict[str, Any]:
    """The scheduled jobs with their next fire time."""
    return {"items": _rt(request).jobs()}
