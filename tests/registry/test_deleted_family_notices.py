"""A deleted family's notices keep counts, never what they tell about the family."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlmodel import select

from notifier.models import Broadcast, Notice
from registry.db import transaction
from registry.http import BACKGROUND
from registry.models import AppSubscription
from tests.factories import family, program_body

CONSENT = "2026-11-20T10:00:00+09:00"


async def _published(client: Any, headers: dict[str, str], **fields: Any) -> int:
    created = await client.post("/api/v1/programs", json=program_body(**fields), headers=headers)
    assert created.status == 201, await created.text()
    pid = int((await created.json())["id"])
    published = await client.post(f"/api/v1/programs/{pid}/publish", headers=headers)
    assert published.status == 200, await published.text()
    return pid


async def test_notices_of_a_deleted_family_do_not_tell_it_was_a_single_parent(
    client: Any, make_key: Any, sessions: Any
) -> None:
    shibuya = await make_key("131130")
    single = await _published(
        client,
        shibuya,
        name={"ja": "ひとり親家庭等医療費助成", "en": "Medical aid for single parents"},
        category=["ひとり親"],
        eligibility='municipality == "131130" and single_parent == true',
        examples=[],
    )
    plain = await _published(client, shibuya, category=["手当"], examples=[])
    body = {**family("131130", "2025-06-15"), "consented_at": CONSENT, "single_parent": True}
    created = await client.post("/api/v1/app/subscribers", json=body, headers=shibuya)
    assert created.status == 201
    sid = (await created.json())["id"]
    async with transaction(sessions) as session:
        subscription = await session.get(AppSubscription, sid)
        assert subscription is not None
        family_id = subscription.family_id
        segment = Broadcast(issuer="131130", segment="single_parent == true", message={})
        everyone = Broadcast(issuer="131130", segment="true", message={})
        session.add_all([segment, everyone])
        await session.flush()
        rows = [
            ("program", single, None, "ひとり親"),
            ("program", plain, None, "手当"),
            ("broadcast", None, segment.id, ""),
            ("broadcast", None, everyone.id, ""),
        ]
        for i, (kind, program_id, broadcast_id, category) in enumerate(rows):
            session.add(
                Notice(
                    family_id=family_id,
                    subject=f"{kind}:{program_id or broadcast_id}",
                    program_id=program_id,
                    broadcast_id=broadcast_id,
                    kind="eligible" if kind == "program" else "broadcast",
                    cycle=f"2026-{i}",
                    issuer="131130",
                    category=category,
                    status="sent",
                    channel="app",
                )
            )

    # The triggers of registration and publication may have told the family too.
    await client.server.app[BACKGROUND].drain()
    before = await _notices(sessions, family_id)

    deleted = await client.delete(f"/api/v1/app/subscribers/{sid}", headers=shibuya)
    assert deleted.status == 204

    notices = await _notices(sessions, family_id)
    assert len(notices) == len(before)  # the counts stay
    assert Counter(n.kind for n in notices) == Counter(n.kind for n in before)
    program_ids = {n.program_id for n in notices}
    assert single not in program_ids and plain in program_ids
    assert segment.id not in {n.broadcast_id for n in notices}
    assert everyone.id in {n.broadcast_id for n in notices}
    assert "ひとり親" not in {n.category for n in notices}
    assert all(str(single) not in n.subject or n.subject.startswith("broadcast") for n in notices)
    withheld = [n for n in before if n.program_id == single or n.broadcast_id == segment.id]
    assert Counter(n.subject for n in notices)["withheld"] == len(withheld) >= 2


async def _notices(sessions: Any, family_id: int) -> list[Notice]:
    async with sessions() as session:
        rows = await session.exec(select(Notice).where(Notice.family_id == family_id))
        return list(rows.all())
