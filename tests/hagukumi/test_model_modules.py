"""Each package owns its tables, and nothing is lost on the way.

A database made at revision 0005 (the head when registry/models.py held every table) with data
in every moved table upgrades to the head without losing a row; the tables the composition root
lists match the migrations exactly; the moved models read the old rows; and the registry reaches
the other packages' tables only through their declared hooks (family deletion, program history,
retention), never by importing them.
"""

from __future__ import annotations

import ast
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.models import Review, WebhookEvent
from hagukumi.models import MODEL_MODULES, load_models
from notifier.models import Broadcast, Notice, SendRequest
from registry import families, hooks
from registry import programs as repo
from registry.db import create_engine, session_factory, transaction
from registry.migrate import current_revision, head_revision, upgrade
from registry.models import Family

AT = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
# The head before the tables moved; the move needs no schema change, so it is still the head.
BEFORE_THE_MOVE = "0005"


JSON_COLUMNS = {"preferences", "body", "message", "payload"}
TIME_COLUMNS = {
    "created_at",
    "updated_at",
    "consented_at",
    "onboarded_at",
    "received_at",
    "send_at",
    "due_at",
    "sent_at",
}

ROWS: list[tuple[str, dict[str, Any]]] = [
    (
        "family",
        {
            "id": 1,
            "line_user_id": "U" + "1" * 32,
            "state": "active",
            "consented_at": AT,
            "onboarded_at": AT,
            "municipality": "131130",
            "pregnant": False,
            "language": "ja",
            "preferences": {"topics": ["money"]},
            "created_at": AT,
            "updated_at": AT,
        },
    ),
    (
        "child",
        {
            "id": 1,
            "family_id": 1,
            "birth_date": date(2025, 6, 10),
            "disability": False,
            "daycare": "none",
            "created_at": AT,
        },
    ),
    (
        "program",
        {
            "id": 1,
            "issuer": "131130",
            "status": "published",
            "source": "api",
            "version": 1,
            "needs_review": False,
            "review_notes": [],
            "name_ja": "渋谷区の手当",
            "search_text": "渋谷区の手当",
            "categories": [],
            "push": "proactive",
            "push_explicit": False,
            "body": {"name": {"ja": "渋谷区の手当"}},
            "created_at": AT,
            "updated_at": AT,
        },
    ),
    (
        "send_request",
        {
            "id": 1,
            "channel": "line",
            "retry_key": str(uuid.UUID(int=1)),
            "body": {"to": "U" + "1" * 32},
            "status": "sent",
            "attempts": 1,
            "accepted_request_id": "req-1",
            "created_at": AT,
            "sent_at": AT,
        },
    ),
    (
        "broadcast",
        {
            "id": 1,
            "issuer": "131130",
            "message": {"ja": "お知らせ"},
            "segment": "true",
            "send_at": AT,
            "status": "done",
            "recipients": 1,
            "created_at": AT,
        },
    ),
    (
        "notice",
        {
            "id": 1,
            "family_id": 1,
            "subject": "program:1",
            "program_id": 1,
            "child_key": "2025-06-10",
            "kind": "eligible",
            "cycle": "2026",
            "issuer": "131130",
            "category": "money",
            "status": "sent",
            "channel": "line",
            "due_at": AT,
            "attempts": 1,
            "retry_key": str(uuid.UUID(int=1)),
            "send_id": 1,
            "payload": {"child": "6月生まれのお子さん"},
            "created_at": AT,
            "updated_at": AT,
            "sent_at": AT,
        },
    ),
    (
        "notice",
        {
            "id": 2,
            "family_id": 1,
            "subject": "broadcast:1",
            "broadcast_id": 1,
            "child_key": "",
            "kind": "broadcast",
            "cycle": "1",
            "issuer": "131130",
            "category": "",
            "status": "pending",
            "channel": "line",
            "due_at": AT,
            "attempts": 0,
            "payload": {},
            "created_at": AT,
            "updated_at": AT,
        },
    ),
    ("webhook_event", {"event_id": "01JOLDEVENT", "received_at": AT}),
    ("webhook_event", {"event_id": "01JNEWEVENT", "received_at": AT + timedelta(days=40)}),
    (
        "review",
        {
            "id": 1,
            "family_id": 1,
            "service": "bot",
            "rating": 5,
            "comment": "助かりました",
            "created_at": AT,
        },
    ),
]
TABLES = ("family", "child", "program", "send_request", "broadcast", "notice", "webhook_event")


def _typed(table: str, row: dict[str, Any]) -> Any:
    statement = sa.text(
        f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)})"
    )
    params = [sa.bindparam(c, type_=sa.JSON) for c in row if c in JSON_COLUMNS]
    params += [sa.bindparam(c, type_=sa.DateTime(timezone=True)) for c in row if c in TIME_COLUMNS]
    params += [sa.bindparam(c, type_=sa.JSON) for c in ("review_notes", "categories") if c in row]
    return statement.bindparams(*params)


async def _fill(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for table, row in ROWS:
                await connection.execute(_typed(table, row), row)
            if engine.dialect.name == "postgresql":
                for table in {t for t, row in ROWS if "id" in row}:
                    await connection.execute(
                        sa.text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
                    )
    finally:
        await engine.dispose()


async def _dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url)
    dumped: dict[str, list[tuple[Any, ...]]] = {}
    try:
        async with engine.connect() as connection:
            for table in (*TABLES, "review"):
                columns = await connection.run_sync(
                    lambda sync, t=table: [c["name"] for c in sa.inspect(sync).get_columns(t)]
                )
                # JSON read as text: the same on both shapes, and compared as stored.
                result = await connection.execute(
                    sa.select(*[sa.column(c) for c in columns])
                    .select_from(sa.table(table))
                    .order_by(sa.text("1"))
                )
                dumped[table] = [tuple(zip(columns, row, strict=True)) for row in result]
    finally:
        await engine.dispose()
    return dumped


async def test_a_database_in_use_upgrades_with_every_row_and_the_moved_models_read_it(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    await upgrade(url, BEFORE_THE_MOVE, models=MODEL_MODULES)
    await _fill(url)
    before = await _dump(url)
    assert all(before[t] for t in (*TABLES, "review"))

    await upgrade(url, "head", models=MODEL_MODULES)

    after = await _dump(url)
    # Every row and every value is still there; columns added later come beside them.
    assert {
        table: [tuple(pair for pair in row if pair[0] in dict(before[table][0])) for row in rows]
        for table, rows in after.items()
    } == before
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        assert await current_revision(engine) == head_revision()

        def differences(connection: Any) -> list[Any]:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            return list(compare_metadata(context, load_models()))

        async with engine.connect() as connection:
            # A model changed (or moved with a change) without a migration shows up here.
            assert await connection.run_sync(differences) == []

        async with sessions() as session:
            notice = await session.get(Notice, 1)
            assert notice is not None and notice.payload == {"child": "6月生まれのお子さん"}
            assert notice.sent_at == AT and notice.sent_at.tzinfo is not None
            request = await session.get(SendRequest, 1)
            assert request is not None and request.retry_key == str(uuid.UUID(int=1))
            broadcast = await session.get(Broadcast, 1)
            assert broadcast is not None and broadcast.message == {"ja": "お知らせ"}
            review = await session.get(Review, 1)
            assert review is not None and (review.rating, review.comment) == (5, "助かりました")
            assert await session.get(WebhookEvent, "01JOLDEVENT") is not None
            # The program was told about: kept for history (the notifier's hook says so).
            assert await repo.has_family_history(session, 1)

        # Deleting the family reaches the moved tables through their hooks.
        async with transaction(sessions) as session:
            family = await session.get(Family, 1)
            assert family is not None
            await families.delete_personal_data(session, family)
        async with sessions() as session:
            review = await session.get(Review, 1)
            assert review is not None and (review.family_id, review.comment) == (None, None)
            assert review.rating == 5  # the anonymous rating stays
            sent, pending = await session.get(Notice, 1), await session.get(Notice, 2)
            assert sent is not None and pending is not None
            assert sent.payload == {} and sent.child_key == "deleted:1"
            assert (sent.status, pending.status, pending.reason) == (
                "sent",
                "suppressed",
                "blocked",
            )

        # Retention: the bot's webhook event ids expire through their hook.
        async with transaction(sessions) as session:
            expired = {
                table.__tablename__: await table.forget_before(session, AT + timedelta(days=1))
                for table in hooks.tables_with(hooks.FORGET_BEFORE)
            }
        assert expired == {"webhook_event": 1}
        async with sessions() as session:
            assert await session.get(WebhookEvent, "01JOLDEVENT") is None
            assert await session.get(WebhookEvent, "01JNEWEVENT") is not None
    finally:
        await engine.dispose()


def test_the_composition_root_lists_every_package_that_owns_tables() -> None:
    metadata = load_models()
    owners = {
        table: module
        for module in MODEL_MODULES
        for table in metadata.tables
        if table in _tables_of(module)
    }
    assert {t: owners[t] for t in ("notice", "send_request", "broadcast")} == dict.fromkeys(
        ("notice", "send_request", "broadcast"), "notifier.models"
    )
    assert {t: owners[t] for t in ("review", "webhook_event")} == dict.fromkeys(
        ("review", "webhook_event"), "bot.models"
    )
    assert set(owners) == set(metadata.tables)  # every table belongs to a listed module


def _tables_of(module: str) -> set[str]:
    import importlib

    from sqlmodel import SQLModel

    loaded = importlib.import_module(module)
    return {
        value.__tablename__
        for value in vars(loaded).values()
        if isinstance(value, type)
        and issubclass(value, SQLModel)
        and value.__module__ == module
        and hasattr(value, "__table__")
    }


# Registry tables whose family rows registry itself handles on deletion (children and
# actions deleted; the app subscription is removed by `delete_subscriber`).
REGISTRY_FAMILY_TABLES = {"child", "program_action", "app_subscription"}
REGISTRY_PROGRAM_TABLES = {"program_version", "program_action"}


def _referencing(metadata: sa.MetaData, target: str) -> set[str]:
    return {
        table.name
        for table in metadata.tables.values()
        for fk in table.foreign_keys
        if fk.column.table.name == target
    }


def test_every_other_package_table_about_families_or_programs_declares_its_hook() -> None:
    metadata = load_models()
    forgetting = {t.__tablename__ for t in hooks.tables_with(hooks.FORGET_FAMILY)}
    keeping = {t.__tablename__ for t in hooks.tables_with(hooks.HAS_PROGRAM_HISTORY)}
    # Without a hook, deleting a family would leave its personal data in that table.
    assert _referencing(metadata, "family") - REGISTRY_FAMILY_TABLES == forgetting
    assert forgetting == {
        "notice",
        "review",
        "daycare_tour_booking",
        "daycare_saved_facility",
        "daycare_application",
    }
    assert _referencing(metadata, "program") - REGISTRY_PROGRAM_TABLES == keeping == {"notice"}
    assert {t.__tablename__ for t in hooks.tables_with(hooks.FORGET_BEFORE)} == {"webhook_event"}


def test_registry_imports_no_notifier_and_no_bot() -> None:
    found = []
    for path in sorted((ROOT / "registry").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [
                f"{path.relative_to(ROOT)}: {name}"
                for name in names
                if name.split(".")[0] in ("notifier", "bot", "integrations", "hagukumi")
            ]
    assert found == []
