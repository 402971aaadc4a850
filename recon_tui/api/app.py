"""The FastAPI application factory: routes, ``/metrics``, error shapes, and the runtime's
start and stop bound to the server's lifespan (so SIGTERM to uvicorn stops the scheduler
after the batch being written)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from recon_tui import __version__
from recon_tui.api import metrics
from recon_tui.api.auth import Reader
from recon_tui.api.routes import router

log = logging.getLogger("recon_tui.api")


def create_app(runtime: Any, *, manage_runtime: bool = True) -> FastAPI:
    """The API over ``runtime`` (a :class:`~recon_tui.services.headless.Runtime`).

    With ``manage_runtime`` the server's lifespan starts and stops it."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_runtime:
            # Off the event loop's thread: the runtime reads and writes through the store.
            await anyio.to_thread.run_sync(runtime.start)
        try:
            yield
        finally:
            if manage_runtime:
                await anyio.to_thread.run_sync(runtime.stop)

    app = FastAPI(
        title="recon-tui service", version=__version__, lifespan=lifespan,
        description="Process information of a recon-tui store: sources, runs, pairs, breaks, "
                    "sessions and the audit trail. Amounts are exact decimal strings. "
                    "Send 'Authorization: Bearer <token>' (recon-tui token create).",
    )  # fmt: skip
    app.state.runtime = runtime
    app.include_router(router)
    registry = metrics.registry_for(runtime)

    @app.get("/metrics", tags=["service"], response_class=Response,
             responses={200: {"content": {"text/plain": {}}}})  # fmt: skip
    def prometheus(token: Reader) -> Response:
        """Prometheus text format: runs by outcome, run durations, open breaks by pair
        and age, source health."""
        return Response(metrics.render(registry),
                        media_type="text/plain; version=0.0.4; charset=utf-8")  # fmt: skip

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # One line in the log (type and message, no traceback locals), none of it to the caller.
        log.error("request failed", extra={"path": request.url.path,
                                           "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip
        busy = "locked" in str(exc) or "busy" in str(exc)
        return JSONResponse({"detail": "the store is busy, try again" if busy
                             else "internal error (see the service log)"},
                            status_code=503 if busy else 500,
                            headers={"Retry-After": "1"} if busy else None)  # fmt: skip

    return app
