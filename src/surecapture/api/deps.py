"""Typed dependencies: the wired context, the publishable key's scope, the admin token."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from surecapture.context import Context
from surecapture.errors import Unauthorized
from surecapture.services.scope import KeyScope


def get_context(request: Request) -> Context:
    context: Context = request.app.state.context
    return context


ContextDep = Annotated[Context, Depends(get_context)]


async def get_scope(
    context: ContextDep,
    x_publishable_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> KeyScope:
    return await context.key_scope(x_publishable_api_key)


ScopeDep = Annotated[KeyScope, Depends(get_scope)]

_bearer = HTTPBearer(auto_error=False)


async def require_admin(
    context: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    expected = context.settings.admin_api_token
    given = credentials.credentials if credentials else ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("A valid admin API token is required: Authorization: Bearer <token>")
