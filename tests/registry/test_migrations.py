"""The migrations build exactly the schema the models declare, on both storage shapes."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import registry.models  # noqa: F401 - registers every table on SQLModel.metadata
from registry.db import create_engine


async def test_migrated_database_matches_the_models(database_url: str) -> None:
    engine = create_engine(database_url)

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        return list(compare_metadata(context, SQLModel.metadata))

    try:
        async with engine.connect() as connection:
            found = await connection.run_sync(differences)
    finally:
        await engine.dispose()
    # A model changed without a migration (or the reverse) shows up here as add/remove steps.
    assert found == []


async def test_delivery_finds_notices_by_request_and_status_through_one_index(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(
                lambda sync: {
                    index["name"]: index["column_names"]
                    for index in inspect(sync).get_indexes("notice")
                }
            )
    finally:
        await engine.dispose()
    assert names.get("ix_notice_send_status") == ["send_id", "status"]
