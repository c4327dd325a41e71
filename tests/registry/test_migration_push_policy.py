"""Revision 0005 (program push policy) upgrades a database in use without losing anything, and
downgrades back to what the older code reads, on both storage shapes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command

from hagukumi.models import MODEL_MODULES
from registry import programs as repo
from registry.db import create_engine, session_factory, transaction
from registry.migrate import alembic_config, upgrade
from registry.models import Program
from tests.factories import program_body

CREATED = datetime(2025, 4, 1, 0, 0, tzinfo=UTC)


def _body(name: str, **overrides: Any) -> dict[str, Any]:
    """A stored program body as revision 0004's code wrote it (no `push`)."""
    from registry.schemas import ProgramIn

    body = ProgramIn.model_validate(
        program_body(name={"ja": name, "en": name}, examples=[], **overrides)
    ).model_dump(mode="json")
    del body["push"]
    return body


OLD_PROGRAMS = [
    # (id, status, source, source_id, version, body)
    (1, "published", "api", None, 2, _body("渋谷区の手当")),
    (2, "draft", "registry-import", "psid3.0+x+1", 1, _body("文京区の講座", category=["x"])),
]


async def _fill_old_database(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        for pid, status, source, source_id, version, body in OLD_PROGRAMS:
            await connection.execute(
                sa.text(
                    "INSERT INTO program (id, issuer, status, source, source_id, version, "
                    "needs_review, review_notes, name_ja, search_text, categories, body, "
                    "created_at, updated_at) VALUES (:id, '131130', :status, :source, "
                    ":source_id, :version, :needs_review, :notes, :name, :search, :cats, "
                    ":body, :at, :at)"
                ).bindparams(
                    sa.bindparam("notes", type_=sa.JSON),
                    sa.bindparam("cats", type_=sa.JSON),
                    sa.bindparam("body", type_=sa.JSON),
                    sa.bindparam("at", type_=sa.DateTime(timezone=True)),
                ),
                {
                    "id": pid,
                    "status": status,
                    "source": source,
                    "source_id": source_id,
                    "version": version,
                    "needs_review": source != "api",
                    "notes": ["target: free text only"] if source != "api" else [],
                    "name": body["name"]["ja"],
                    "search": body["name"]["ja"],
                    "cats": body["category"],
                    "body": body,
                    "at": CREATED,
                },
            )
            for number in range(1, version + 1):
                await connection.execute(
                    sa.text(
                        "INSERT INTO program_version (program_id, version, status, body, "
                        "created_at) VALUES (:pid, :n, :status, :body, :at)"
                    ).bindparams(
                        sa.bindparam("body", type_=sa.JSON),
                        sa.bindparam("at", type_=sa.DateTime(timezone=True)),
                    ),
                    {"pid": pid, "n": number, "status": status, "body": body, "at": CREATED},
                )
        if engine.dialect.name == "postgresql":
            await connection.execute(
                sa.text("SELECT setval('program_id_seq', (SELECT max(id) FROM program))")
            )
    await engine.dispose()


async def _rows(url: str, table: str) -> list[dict[str, Any]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            columns = await connection.run_sync(
                lambda sync: [c["name"] for c in sa.inspect(sync).get_columns(table)]
            )
            body = sa.column("body", sa.JSON)
            others = [sa.column(c) for c in columns if c != "body"]
            result = await connection.execute(
                sa.select(*others, body).select_from(sa.table(table)).order_by(sa.column("id"))
            )
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


async def test_upgrading_a_database_in_use_keeps_every_program_and_pushes_as_before(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    await upgrade(url, "0004", models=MODEL_MODULES)
    await _fill_old_database(url)
    before = await _rows(url, "program")
    versions_before = await _rows(url, "program_version")

    await upgrade(url, "0005", models=MODEL_MODULES)

    after = await _rows(url, "program")
    assert len(after) == len(before) == 2
    for old, new in zip(before, after, strict=True):
        assert new["push"] == "proactive" and new["push_explicit"] in (False, 0)
        assert new["body"] == {**old["body"], "push": "proactive"}
        assert {k: v for k, v in new.items() if k not in ("push", "push_explicit", "body")} == {
            k: v for k, v in old.items() if k != "body"
        }
    assert await _rows(url, "program_version") == versions_before  # history stays as written

    # The code reads the upgraded rows; re-saving what is stored is no change (no new version).
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        async with transaction(sessions) as session:
            row = await repo.get_program(session, 1)
            assert row is not None
            out = repo.to_out(row)
            assert (out.push, out.push_explicit, out.version) == ("proactive", False, 2)
            await repo.update_program(session, row, repo.program_in(row))
            assert row.version == 2
            # And a new program after the upgrade gets the next id.
            data = repo.program_in(row).model_copy(update={"push": "on_request"})
            new = await repo.create_program(session, data, push_explicit=True)
            assert new.id == 3
        async with sessions() as session:
            stored = await session.get(Program, 3)
            assert stored is not None
            assert (stored.push, stored.push_explicit) == ("on_request", True)
    finally:
        await engine.dispose()

    # Back to 0004: bodies are what the older code reads again (it refuses unknown keys).
    await asyncio.to_thread(command.downgrade, alembic_config(url, MODEL_MODULES), "0004")
    downgraded = await _rows(url, "program")
    assert [r["body"] for r in downgraded[:2]] == [r["body"] for r in before]
    assert all("push" not in r["body"] for r in downgraded)
    assert all("push" not in r for r in downgraded)
    assert all("push" not in v["body"] for v in await _rows(url, "program_version"))
