"""Staff broadcasts: scope, segment, dry run, notices in the ledger and their delivery."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from notifier import broadcasts
from notifier.models import Broadcast, Notice, SendRequest
from notifier.planning import plan
from notifier.sweep import FamilyView
from registry import families
from registry.db import transaction
from rules.profile import ChildInput

SHIBUYA = "131130"
HACHIOJI = "132012"
MESSAGE = {"ja": "子育て広場を開きます", "en": "Our childcare plaza opens"}


async def add_family(
    sessions: Any,
    index: int,
    municipality: str = SHIBUYA,
    *births: str,
    consent: bool = True,
    blocked: bool = False,
    **preferences: Any,
) -> int:
    """A LINE family of `municipality` with children born on `births`."""
    async with transaction(sessions) as session:
        family = await families.get_or_create_line_family(session, f"U{index:032x}")
        if consent:
            await families.record_consent(session, family)
        await families.update_profile(session, family, municipality=municipality)
        await families.replace_children(
            session, family, [ChildInput(birth_date=date.fromisoformat(b)) for b in births]
        )
        if preferences:
            await families.update_preferences(session, family, **preferences)
        if blocked:
            await families.mark_blocked(session, family)
        assert family.id is not None
        return family.id


async def population(sessions: Any) -> dict[str, int]:
    """Shibuya families with and without children, plus ones that must never be told."""
    return {
        "with_child": await add_family(sessions, 1, SHIBUYA, "2025-06-15"),
        "no_child": await add_family(sessions, 2, SHIBUYA, channel="app"),
        "unconsented": await add_family(sessions, 3, SHIBUYA, "2025-06-15", consent=False),
        "blocked": await add_family(sessions, 4, SHIBUYA, "2025-06-15", blocked=True),
        "hachioji": await add_family(sessions, 5, HACHIOJI, "2025-06-15"),
    }


async def post(client: Any, headers: dict[str, str], **body: Any) -> Any:
    return await client.post(
        "/api/v1/broadcasts", json={"message": MESSAGE, **body}, headers=headers
    )


async def notices(sessions: Any) -> list[Notice]:
    async with sessions() as session:
        rows = await session.exec(select(Notice).order_by(col(Notice.family_id)))
        return list(rows.all())


async def test_broadcasts_need_a_key_that_may_act_for_the_municipality(
    client: Any, make_key: Any
) -> None:
    response = await post(client, {}, dry_run=True)
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"

    hachioji = await make_key(HACHIOJI)
    response = await post(client, hachioji, issuer=SHIBUYA, dry_run=True)
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "forbidden"

    operator = await make_key("000000", "operator")
    response = await post(client, operator, dry_run=True)
    assert response.status == 422  # an operator must name the municipality
    response = await post(client, operator, issuer="130001", dry_run=True)
    assert response.status == 422  # a prefecture has no families of its own

    for headers in (await make_key(SHIBUYA), await make_key("130001", "prefecture"), operator):
        response = await post(client, headers, issuer=SHIBUYA, dry_run=True)
        assert response.status == 200, await response.text()
        assert (await response.json())["issuer"] == SHIBUYA


async def test_a_bad_segment_is_422_with_the_rule_details(client: Any, make_key: Any) -> None:
    shibuya = await make_key(SHIBUYA)
    for segment in ("child_count >", "child.age < 3", "chlid_count > 0"):
        response = await post(client, shibuya, segment=segment)
        assert response.status == 422, segment
        error = (await response.json())["error"]
        assert error["code"] == "invalid_rule"
        assert error["details"] and error["details"][0]["location"] == "body.segment"
        assert error["details"][0]["reason"]


@pytest.mark.parametrize(
    "body",
    [
        {"message": {"en": "no Japanese"}},
        {"message": {"ja": "あ" * 1001}},
        {"message": {"ja": "   "}},
        {"message": MESSAGE, "title": {"ja": ""}},
        {"message": MESSAGE, "send_at": "2026-12-01T10:00:00"},  # no offset
        {"message": MESSAGE, "send_at": (datetime.now(UTC) + timedelta(days=91)).isoformat()},
        {"message": MESSAGE, "send_at": "2020-01-01T10:00:00+09:00"},
        {"message": MESSAGE, "segment": "true\x00"},
        {"message": MESSAGE, "surprise": 1},
    ],
)
async def test_invalid_bodies_are_422(client: Any, make_key: Any, body: dict[str, Any]) -> None:
    response = await client.post("/api/v1/broadcasts", json=body, headers=await make_key())
    assert response.status == 422, await response.text()


async def test_a_dry_run_counts_matching_families_and_stores_nothing(
    client: Any, make_key: Any, sessions: Any
) -> None:
    await population(sessions)
    shibuya = await make_key(SHIBUYA)
    everyone = await post(client, shibuya, dry_run=True)
    assert everyone.status == 200
    answer = await everyone.json()
    assert answer["recipients"] == 2 and answer["id"] is None
    assert answer["status"] == "dry_run" and answer["dry_run"] is True

    parents = await post(client, shibuya, segment="child_count >= 1", dry_run=True)
    assert (await parents.json())["recipients"] == 1
    async with sessions() as session:
        assert (await session.exec(select(Broadcast))).all() == []
    assert await notices(sessions) == []


async def test_a_broadcast_tells_only_matching_families_of_its_municipality(
    client: Any, make_key: Any, sessions: Any
) -> None:
    ids = await population(sessions)
    title = {"ja": "お知らせ", "en": "News"}
    response = await post(client, await make_key(SHIBUYA), segment="child_count >= 1", title=title)
    assert response.status == 201, await response.text()
    answer = await response.json()
    assert answer["recipients"] == 1 and answer["status"] == "scheduled"
    assert answer["issuer"] == SHIBUYA

    [notice] = await notices(sessions)
    assert notice.family_id == ids["with_child"]
    assert notice.subject == f"broadcast:{answer['id']}"
    assert notice.broadcast_id == answer["id"] and notice.program_id is None
    assert (notice.kind, notice.cycle, notice.child_key) == ("broadcast", str(answer["id"]), "")
    assert (notice.issuer, notice.channel, notice.status) == (SHIBUYA, "line", "pending")
    assert notice.payload == {
        "title": title,
        "text": {**MESSAGE},
        "kind": "broadcast",
        "category": "broadcast",
    }
    async with sessions() as session:
        row = await session.get(Broadcast, answer["id"])
        assert row is not None and row.recipients == 1 and row.segment == "child_count >= 1"


async def test_everyone_by_default_with_the_familys_channel(
    client: Any, make_key: Any, sessions: Any
) -> None:
    ids = await population(sessions)
    response = await post(client, await make_key(SHIBUYA))
    assert response.status == 201
    channels = {n.family_id: n.channel for n in await notices(sessions)}
    assert channels == {ids["with_child"]: "line", ids["no_child"]: "app"}


async def test_recording_a_broadcast_again_adds_no_notice(
    client: Any, make_key: Any, sessions: Any
) -> None:
    await population(sessions)
    response = await post(client, await make_key(SHIBUYA))
    broadcast_id = (await response.json())["id"]
    before = await notices(sessions)
    async with transaction(sessions) as session:
        row = await session.get(Broadcast, broadcast_id)
        assert row is not None
        views = [
            FamilyView(
                id=n.family_id, context={}, births=[], categories_off=frozenset(), channel="line"
            )
            for n in before
        ]
        new = await broadcasts.record_broadcast_notices(session, row, views, now=datetime.now(UTC))
    assert new == 0
    assert len(await notices(sessions)) == len(before) == 2


async def test_a_later_broadcast_waits_then_goes_out_as_one_multicast(
    client: Any, make_key: Any, sessions: Any
) -> None:
    for index in range(3):
        await add_family(sessions, 10 + index, SHIBUYA, "2025-06-15")
    send_at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    response = await post(client, await make_key(SHIBUYA), send_at=send_at.isoformat())
    assert response.status == 201, await response.text()
    assert (await response.json())["recipients"] == 3
    recorded = await notices(sessions)
    assert {n.status for n in recorded} == {"scheduled"}
    assert {n.due_at for n in recorded} == {send_at}

    options: dict[str, Any] = {"zone": "Asia/Tokyo", "quiet_hours": "", "digest_at": "off"}
    assert await plan(sessions, now=send_at - timedelta(minutes=1), **options) == []
    [send_id] = await plan(sessions, now=send_at + timedelta(minutes=1), **options)
    async with sessions() as session:
        request = await session.get(SendRequest, send_id)
        assert request is not None
        assert request.body["kind"] == "multicast" and len(request.body["to"]) == 3
    assert {(n.status, n.send_id) for n in await notices(sessions)} == {("scheduled", send_id)}
