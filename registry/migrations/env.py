"""Alembic environment: runs migrations over the project's async engine."""

from __future__ import annotations

import asyncio
import importlib

from alembic import context
from sqlmodel import SQLModel

from registry.db import create_engine

config = context.config
# Every package owns its tables; the composition root names their modules (`hagukumi migrate`).
_modules = [m for m in (config.get_main_option("hagukumi.model_modules") or "").split(",") if m]
if not _modules:
    raise SystemExit("no model modules: run migrations through `hagukumi migrate`")
for _module in _modules:
    importlib.import_module(_module)  # registers the module's tables
target_metadata = SQLModel.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = config.get_main_option("hagukumi.database_url")
    if not url:
        raise SystemExit("no database URL: run migrations through `hagukumi migrate`")
    engine = create_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: run `hagukumi migrate`")
asyncio.run(_run_async())
