"""Turns every failure into the Store API's error bodies; no stack trace ever reaches a client."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException

from surecapture.errors import Conflict, SalesChannelMismatch, SurecaptureError

log = logging.getLogger(__name__)

_CONFLICT_MESSAGE = (
    "The request conflicted with another request. You may retry the request with the provided "
    "Idempotency-Key."
)
_JSON_TYPES = {
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def error_body(error: SurecaptureError) -> dict[str, Any]:
    if isinstance(error, SalesChannelMismatch):
        return {"errors": error.errors, "message": error.message}
    message = _CONFLICT_MESSAGE if isinstance(error, Conflict) else error.message
    body: dict[str, Any] = {"type": error.type, "message": message}
    if error.code:
        body["code"] = error.code
    return body


def validation_message(errors: list[dict[str, Any]]) -> str:
    """Pydantic's errors in Medusa's words, at most three joined with '; '."""
    unrecognized: list[str] = []
    issues: list[str] = []
    for error in errors:
        location = [
            str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")
        ]
        name = ".".join(location) or "body"
        kind = error.get("type", "")
        if kind == "extra_forbidden":
            unrecognized.append(f"'{name}'")
        elif kind == "missing":
            issues.append(f"Field '{name}' is required")
        elif kind == "json_invalid":
            issues.append("Invalid JSON in request body")
        elif kind.endswith("_type") or kind.endswith("_parsing"):
            expected = _expected_type(kind)
            got = _JSON_TYPES.get(type(error.get("input")), "unknown")
            issues.append(f"Expected type: '{expected}' for field '{name}', got: '{got}'")
        else:
            issues.append(f"{error.get('msg', 'Invalid value')} for field '{name}'")
    if unrecognized:
        issues.insert(0, "Unrecognized fields: " + ", ".join(unrecognized))
    return "Invalid request: " + "; ".join(issues[:3])


def _expected_type(kind: str) -> str:
    base = kind.removesuffix("_type").removesuffix("_parsing")
    return {
        "int": "number",
        "float": "number",
        "decimal": "number",
        "string": "string",
        "bool": "boolean",
        "dict": "object",
        "model_attributes": "object",
        "list": "array",
        "datetime": "string",
        "literal_error": "string",
    }.get(base, base)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SurecaptureError)
    async def _ours(_: Request, exc: SurecaptureError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        body = {"type": "invalid_data", "message": validation_message(list(exc.errors()))}
        return JSONResponse(body, status_code=400)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "invalid_data"
        )
        return JSONResponse(
            {"type": kind, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(PoolTimeoutError)
    @app.exception_handler(OSError)
    async def _database_unreachable(request: Request, exc: Exception) -> JSONResponse:
        return _unavailable(request, exc)

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if _sqlstate(exc).startswith("22"):
            # Postgres refused a value the request carried (NUL byte, number out of range…):
            # the client's input is wrong, not the server.
            log.info("rejected value in %s %s: %s", request.method, request.url.path, exc.orig)
            message = "Invalid request: a value in the request is malformed or out of range"
            return JSONResponse({"type": "invalid_data", "message": message}, status_code=400)
        if exc.connection_invalidated or _is_connection_error(exc):
            return _unavailable(request, exc)
        return await _unknown(request, exc)

    @app.exception_handler(Exception)
    async def _unknown(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error during %s %s", request.method, request.url.path)
        return JSONResponse(
            {
                "code": "unknown_error",
                "type": "unknown_error",
                "message": "An unknown error occurred.",
            },
            status_code=500,
        )


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    # Postgres is unreachable: nothing was written, so the client may safely retry.
    log.error("database unavailable during %s %s: %r", request.method, request.url.path, exc)
    return JSONResponse(
        {"type": "service_unavailable", "message": "The database is unavailable. Please retry."},
        status_code=503,
        headers={"Retry-After": "1"},
    )


def _sqlstate(exc: DBAPIError) -> str:
    for candidate in (exc.orig, getattr(exc.orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return ""


def _is_connection_error(exc: DBAPIError) -> bool:
    original = exc.orig
    cause = getattr(original, "__cause__", None)
    if isinstance(original, OSError) or isinstance(cause, OSError):
        return True
    # SQLSTATE class 08: connection exception; 57P0x: the server is shutting down or restarting.
    state = _sqlstate(exc)
    return state.startswith("08") or state.startswith("57P0")
