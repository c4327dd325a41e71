"""Revision 0007 (daycare_facility.min_age_days) upgrades a database in use without changing a
facility, and downgrades back to what the older code reads, on both storage shapes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command

from hagukumi.models import MODEL_MODULES
from integrations.daycare import facilities as repo
from integrations.daycare.models import Facility
from registry.db import create_engine, session_factory, transaction
from registry.migrate import alembic_config, upgrade

CREATED = datetime(2025, 4, 1, 0, 0, tzinfo=UTC)


def _old_body() -> dict[str, Any]:
    """A stored facility body as revision 0006's code wrote it (no `min_age_days`)."""
    body = repo.FacilityIn(name_ja="渋谷はぐくみ保育園", classes=[0, 1, 2], min_age_months=2)
    dumped = body.model_dump(mode="json")
    del dumped["min_age_days"]
    return dumped


async def _fill_old_database(url: str) -> None:
    engine = create_engine(url)
    body = _old_body()
    json_params = [sa.bindparam(n, type_=sa.JSON) for n in ("body", "empty", "classes")]
    async with engine.begin() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO daycare_facility (id, municipality, facility_id, status, version, "
                "source, name_ja, name_en, name_kana, type, type_label, address, located, "
                "station, classes, class_capacity, min_age_months, days, meals, url, phone, "
                "notes, body, created_at, updated_at) VALUES (1, '131130', '1', 'active', 1, "
                "'import', :name, '', '', 'other', '', '', false, '', :classes, :empty, 2, "
                ":classes, '', '', '', '', :body, :at, :at)"
            ).bindparams(*json_params, sa.bindparam("at", type_=sa.DateTime(timezone=True))),
            {
                "name": body["name_ja"],
                "classes": [0, 1, 2],
                "empty": {},
                "body": body,
                "at": CREATED,
            },
        )
        await connection.execute(
            sa.text(
                "INSERT INTO daycare_facility_version (facility_pk, version, body, created_at) "
                "VALUES (1, 1, :body, :at)"
            ).bindparams(
                sa.bindparam("body", type_=sa.JSON),
                sa.bindparam("at", type_=sa.DateTime(timezone=True)),
            ),
            {"body": body, "at": CREATED},
        )
    await engine.dispose()


async def _bodies(url: str, table: str) -> list[dict[str, Any]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            body = sa.column("body", sa.JSON)
            result = await connection.execute(
                sa.select(body).select_from(sa.table(table)).order_by(sa.column("id"))
            )
            return [row[0] for row in result]
    finally:
        await engine.dispose()


async def _columns(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: [c["name"] for c in sa.inspect(sync).get_columns("daycare_facility")]
            )
    finally:
        await engine.dispose()


async def test_upgrading_keeps_every_facility_unchanged_and_downgrading_reads_again(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    await upgrade(url, "0006", models=MODEL_MODULES)
    await _fill_old_database(url)

    await upgrade(url, "0007", models=MODEL_MODULES)

    assert "min_age_days" in await _columns(url)
    assert await _bodies(url, "daycare_facility") == [{**_old_body(), "min_age_days": None}]
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        async with transaction(sessions) as session:
            row = await session.get(Facility, 1)
            assert row is not None and row.min_age_days is None
            same = repo.FacilityIn.model_validate(row.body, strict=False)
            assert (await repo.replace_facility(session, row, same))[1] == "unchanged"
            days = same.model_copy(update={"min_age_days": 57})
            assert (await repo.replace_facility(session, row, days))[1] == "updated"
        async with sessions() as session:
            stored = await session.get(Facility, 1)
            assert stored is not None and stored.min_age_days == 57
    finally:
        await engine.dispose()

    # Back to 0006: bodies are what the older code reads again (it refuses unknown keys).
    await asyncio.to_thread(command.downgrade, alembic_config(url, MODEL_MODULES), "0006")
    assert "min_age_days" not in await _columns(url)
    assert all("min_age_days" not in b for b in await _bodies(url, "daycare_facility"))
    assert all("min_age_days" not in b for b in await _bodies(url, "daycare_facility_version"))
