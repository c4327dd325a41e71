"""Migrations: bring a database to the head revision, or tell whether it is behind."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class DatabaseBehind(RuntimeError):
    """The database is older than the code's migrations."""


def alembic_config(database_url: str, models: Sequence[str]) -> Config:
    """An alembic config for a database URL, without an alembic.ini.

    `models` names the model modules (the composition root's `hagukumi.models.MODEL_MODULES`):
    registry does not know the other packages' tables, so it is told where they are.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("hagukumi.database_url", database_url.replace("%", "%%"))
    config.set_main_option("hagukumi.model_modules", ",".join(models))
    return config


def head_revision() -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def _upgrade_sync(database_url: str, revision: str, models: Sequence[str]) -> None:
    command.upgrade(alembic_config(database_url, models), revision)


async def upgrade(database_url: str, revision: str = "head", *, models: Sequence[str]) -> None:
    """Run migrations up to `revision` (env.py runs its own event loop, so use a thread)."""
    await asyncio.to_thread(_upgrade_sync, database_url, revision, models)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None when never migrated)."""
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def ensure_current(engine: AsyncEngine) -> None:
    """Refuse to run on a database that is behind its migrations."""
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise DatabaseBehind(
            f"the database is at revision {current or 'none (empty)'} but the code needs "
            f"{head}: run `hagukumi migrate` (or `make serve`, which migrates) first"
        )
