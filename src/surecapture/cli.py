"""`surecapture …`: thin commands over the service."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import uvicorn
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from surecapture import metrics
from surecapture.config import Settings, SettingsError, load_settings
from surecapture.db import embedded, migrate
from surecapture.jobs.fallback_capture import Summary
from surecapture.logging import configure_logging
from surecapture.services.seed import seed_database

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

    from surecapture.context import Context

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False
)
log = logging.getLogger("surecapture")


def _settings() -> Settings:
    # SIGTERM unwinds like Ctrl-C from the start (the default would kill the process during
    # set-up, leaving an embedded Postgres running); commands that serve install their own.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        settings = load_settings()
    except SettingsError as exc:
        typer.echo(f"surecapture: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level)
    return settings


@contextmanager
def _database_usable(settings: Settings) -> Iterator[None]:
    """A command that cannot work without the database says why in one line and exits 2,
    instead of a traceback (which LOG_LEVEL=DEBUG still shows)."""
    try:
        yield
    except (OSError, DBAPIError) as exc:
        log.debug("database error", exc_info=True)
        url = make_url(settings.database_url or "")
        where = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
        reason = str(exc.orig if isinstance(exc, DBAPIError) else exc).splitlines()[0]
        typer.echo(f"surecapture: the database at {where} cannot be used: {reason}", err=True)
        raise typer.Exit(2) from None


def _database(settings: Settings) -> Settings:
    """With DATABASE_URL unset, start the embedded Postgres under DATA_DIR and use it."""
    if settings.database_url:
        return settings
    url = embedded.start_embedded_postgres(Path(settings.data_dir))
    asyncio.run(embedded.ensure_database(url))
    return settings.model_copy(update={"database_url": url})


def _prepare(settings: Settings) -> tuple[Settings, str]:
    settings = _database(settings)
    assert settings.database_url is not None
    with _database_usable(settings):
        migrate.upgrade(settings.database_url)
        return settings, asyncio.run(_seed(settings))


async def _seed(settings: Settings) -> str:
    assert settings.database_url is not None
    result = await seed_database(
        settings.database_url, publishable_key=settings.publishable_api_key
    )
    return result.publishable_key


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [PORT]")] = None,
) -> None:
    """Set up everything (database, migrations, demo catalog) and run the service."""
    settings = _settings()
    updates: dict[str, object] = {}
    if host:
        updates["host"] = host
    if port:
        updates["port"] = port
    if not settings.admin_api_token:
        updates["admin_api_token"] = secrets.token_urlsafe(24)
    settings, key = _prepare(settings.model_copy(update=updates))
    typer.echo(f"surecapture listening on http://{settings.host}:{settings.port}")
    typer.echo(f"publishable key: {key}")
    if "admin_api_token" in updates:
        typer.echo(
            f"admin token (this run only; set ADMIN_API_TOKEN to keep one): {settings.admin_api_token}"
        )
    _run_api(settings, with_worker=True, with_scheduler=True)


@app.command()
def api() -> None:
    """Run only the HTTP API (database must exist and be migrated)."""
    settings = _database(_settings())
    _run_api(settings)


@app.command("migrate")
def migrate_command() -> None:
    """Apply database migrations."""
    settings = _database(_settings())
    assert settings.database_url is not None
    with _database_usable(settings):
        migrate.upgrade(settings.database_url)
    typer.echo("migrations applied")


@app.command()
def seed() -> None:
    """Migrate, create the demo catalog (once) and print the publishable key."""
    _, key = _prepare(_settings())
    typer.echo(f"publishable key: {key}")


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs at once [WORKER_CONCURRENCY]")
    ] = None,
) -> None:
    """Run only the capture worker (database must exist and be migrated)."""
    settings = _database(_settings())
    if concurrency:
        settings = settings.model_copy(update={"worker_concurrency": concurrency})
    asyncio.run(_run_worker(settings))


async def _run_worker(settings: Settings) -> None:
    from surecapture.workers.payment_capture_worker import PaymentCaptureWorker

    async def start(context: Context) -> Stop:
        worker = PaymentCaptureWorker(context)
        await worker.start()
        log.info("capture worker running (concurrency %d)", settings.worker_concurrency)

        async def stop() -> None:
            log.info("capture worker stopping: finishing the jobs in hand")
            await worker.close()

        return stop

    await _run_until_signalled(settings, start, metrics.WORKER_METRICS)


@app.command()
def scheduler() -> None:
    """Run only the fallback capture scheduler (FALLBACK_CRON)."""
    settings = _database(_settings())
    asyncio.run(_run_scheduler(settings))


async def _run_scheduler(settings: Settings) -> None:
    from surecapture.jobs.scheduler import FallbackScheduler

    async def start(context: Context) -> Stop:
        runner = FallbackScheduler(context)
        runner.start()
        return runner.close

    await _run_until_signalled(settings, start, metrics.SCHEDULER_METRICS)


Stop = Callable[[], Awaitable[None]]


async def _run_until_signalled(
    settings: Settings,
    start: Callable[[Context], Awaitable[Stop]],
    own_metrics: tuple[Collector, ...],
) -> None:
    """Wire the service, start one part of it (and its `/metrics` on METRICS_PORT, if set), run
    until SIGTERM or SIGINT, stop it, close."""
    from surecapture.context import build_context

    signalled = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, signalled.set)
    context = build_context(settings)
    stop_metrics = None
    try:
        if settings.metrics_port:
            try:
                stop_metrics = metrics.serve_own(own_metrics, settings.host, settings.metrics_port)
            except OSError as exc:
                typer.echo(
                    f"surecapture: METRICS_PORT {settings.metrics_port} on {settings.host}: "
                    f"{exc.strerror or exc}",
                    err=True,
                )
                raise typer.Exit(2) from None
            log.info("metrics on http://%s:%d/metrics", settings.host, settings.metrics_port)
        stop = await start(context)
        await signalled.wait()
        await stop()
    finally:
        if stop_metrics is not None:
            stop_metrics()
        await context.close()


@app.command()
def recover() -> None:
    """Recovery mode: run the fallback capture job once, now, and print its summary.

    Exit codes: 0 done, 2 the database cannot be used, 3 another run holds the lock, 4 Redis
    still unavailable, lost during the run, or refusing it (e.g. bad credentials); nothing
    unconfirmed was changed."""
    settings = _database(_settings())
    with _database_usable(settings):
        try:
            summary = asyncio.run(_recover(settings))
        except RedisError as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            typer.echo(f"surecapture: Redis refused the fallback run ({reason})", err=True)
            raise typer.Exit(4) from None
    typer.echo(summary.line())
    raise typer.Exit({"done": 0, "already_running": 3}.get(summary.status, 4))


async def _recover(settings: Settings) -> Summary:
    from surecapture.context import build_context
    from surecapture.jobs.fallback_capture import run_fallback

    context = build_context(settings)
    try:
        summary = await run_fallback(context)
        context.analytics.flush()
        return summary
    finally:
        await context.close()


@app.command("place-order")
def place_order(
    url: Annotated[
        str | None, typer.Option(help="The service's URL [default: http://HOST:PORT]")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(envvar="PUBLISHABLE_API_KEY", help="Publishable key (printed by serve)"),
    ] = None,
) -> None:
    """Place one order through the Store API, as a storefront would; print its id.

    A smoke test of a running service. Its details (status, total, capture due) go to stderr."""
    from surecapture.demo_order import DemoOrderError
    from surecapture.demo_order import place_order as place

    settings = _settings()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is noise here
    key = key or settings.publishable_api_key  # from a .env file too
    if not key:
        typer.echo(
            "surecapture: a publishable key is needed: --key or PUBLISHABLE_API_KEY", err=True
        )
        raise typer.Exit(2)
    base_url = url or f"http://{settings.host}:{settings.port}"
    try:
        order = asyncio.run(place(base_url, key))
    except DemoOrderError as exc:
        typer.echo(f"surecapture: order not placed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(order["id"])
    typer.echo(
        f"{order['payment_status']}, total {order['total']} {order['currency_code']}, "
        f"capture due {order['capture_due_at']}",
        err=True,
    )


def _run_api(
    settings: Settings, *, with_worker: bool = False, with_scheduler: bool = False
) -> None:
    from surecapture.app import create_app

    # uvicorn re-raises SIGTERM once its graceful shutdown is done; as SystemExit it unwinds
    # normally, so atexit hooks run (the embedded Postgres is stopped, not orphaned).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        create_app(settings, with_worker=with_worker, with_scheduler=with_scheduler),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        # The standard asyncio loop, not uvloop: redis-py turns asyncio's transport errors into
        # ConnectionError, but under uvloop a write on a connection Redis has reset raises a
        # bare RuntimeError, and an outage would pass for some other error (not flagged).
        loop="asyncio",
    )
