import asyncio

from alembic import command

from surecapture.db.migrate import alembic_config


async def test_migrations_match_the_models(database_url: str) -> None:
    """A model change without its migration fails here (alembic autogenerate finds a diff)."""
    await asyncio.to_thread(command.check, alembic_config(database_url))
