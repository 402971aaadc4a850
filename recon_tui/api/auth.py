"""Bearer-token access: no or unknown token is 401, a read token on a write is 403."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from recon_tui.services.tokens import TokenRow

bearer = HTTPBearer(auto_error=False, description="A token from 'recon-tui token create'")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def require_token(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> TokenRow:
    if creds is None or creds.scheme.lower() != "bearer":
        raise _unauthorized("a bearer token is required (recon-tui token create)")
    checker = request.app.state.runtime.tokens
    # A recently checked token needs no store access (and no hop to the thread pool).
    row = checker.cached(creds.credentials)
    if row is None:
        row = await anyio.to_thread.run_sync(checker.check, creds.credentials)
    if row is None:
        raise _unauthorized("unknown or revoked token")
    return row


async def require_operator(token: Annotated[TokenRow, Depends(require_token)]) -> TokenRow:
    if token.role != "operator":
        raise HTTPException(403, detail="this needs an operator token; this one can only read")
    return token


Reader = Annotated[TokenRow, Depends(require_token)]
Operator = Annotated[TokenRow, Depends(require_operator)]
