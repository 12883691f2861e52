import asyncio

from alembic import command
from sqlalchemy import select

from surecapture.config import load_settings
from surecapture.db.engine import build_engine
from surecapture.db.migrate import alembic_config


async def test_migrations_match_the_models(database_url: str) -> None:
    """A model change without its migration fails here (alembic autogenerate finds a diff)."""
    await asyncio.to_thread(command.check, alembic_config(database_url))


async def test_a_libpq_style_url_with_sslmode_connects(database_url: str) -> None:
    # Managed Postgres services hand out URLs like this one; asyncpg itself knows no `sslmode`.
    plain = database_url.replace("postgresql+asyncpg://", "postgres://")
    settings = load_settings(database_url=f"{plain}?sslmode=disable")
    assert settings.database_url is not None
    engine = build_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(select(1)) == 1
    finally:
        await engine.dispose()
