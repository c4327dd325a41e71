"""Imported registry items and who is told of them: drafts stay silent, on-request items are
shown when asked and never pushed, and a parent can switch off the topics they are filed under.

Through the real registry samples in ../shared/data/registry, the import, the API and the sweep.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from integrations.importers.tokyo_registry import import_files
from notifier.models import Notice
from notifier.sweep import sweep
from registry import families as fam
from registry.db import transaction
from registry.http import BACKGROUND
from registry.models import Program
from rules.profile import ChildInput
from tests.conftest import shared_path

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=TOKYO)  # tests.conftest.TODAY, in Tokyo
BUNKYO, TOSHIMA = "131059", "133621"
DIVORCE_SEMINAR = "psid3.0+6000020131059+2+UM120"  # パパとママの離婚講座
WEANING_CLASS = "psid3.0+6000020131059+2+UM798"  # 離乳食講習会（7～8か月児向け）
CHECKUP = "psid3.0+1000020133621+1+UM49"  # 3～4カ月児検診


def registry_file(name: str) -> Path:
    return shared_path("data", "registry", name)


async def add_family(
    sessions: Any, user: str, municipality: str, *births: date, off: tuple[str, ...] = ()
) -> int:
    """A consented LINE family; `off` = notification topics it switched off."""
    async with transaction(sessions) as session:
        family = await fam.get_or_create_line_family(session, user)
        await fam.record_consent(session, family)
        await fam.update_profile(session, family, municipality=municipality)
        await fam.replace_children(session, family, [ChildInput(birth_date=b) for b in births])
        if off:
            await fam.update_preferences(session, family, categories_off=list(off))
        assert family.id is not None
        return family.id


def user(n: int) -> str:
    return f"U{n:032x}"


async def program_of(sessions: Any, source_id: str) -> Program:
    async with sessions() as session:
        return (await session.exec(select(Program).where(Program.source_id == source_id))).one()


async def settled(client: Any) -> None:
    """Wait for the triggers a publish or change started in the background."""
    await client.server.app[BACKGROUND].drain()


async def told_about(sessions: Any, program_id: int) -> int:
    """Families a dry run would tell about one program."""
    report = await sweep(sessions, now=NOW, zone=TOKYO, dry_run=True)
    tally = report.programs.get(program_id)
    return tally.families if tally else 0


async def test_the_divorce_seminar_is_pushed_to_nobody_yet_shown_when_a_parent_asks(
    client: Any, sessions: Any, make_key: Any
) -> None:
    report = await import_files([registry_file("131059_bunkyo_education.json")], sessions)
    assert report.created == 10
    # Bunkyo parents of children of every age under 18, as in the 50,000-family dry run.
    for n in range(36):
        await add_family(sessions, user(n), BUNKYO, date(2009 + n % 18, 5, 1))
    seminar = await program_of(sessions, DIVORCE_SEMINAR)
    assert seminar.id is not None
    assert (seminar.status, seminar.needs_review, seminar.push) == ("draft", True, "on_request")

    # The daily sweep's dry run: nobody would be told.
    dry = await sweep(sessions, now=NOW, zone=TOKYO, dry_run=True)
    assert sum(t.families for t in dry.programs.values()) == 0
    assert await told_about(sessions, seminar.id) == 0

    # A person reviews and publishes it: still shown on request only, so still nobody told.
    operator = await make_key("000000", role="operator")
    response = await client.post(f"/api/v1/programs/{seminar.id}/publish", headers=operator)
    assert response.status == 200, await response.text()
    published = await response.json()
    assert (published["status"], published["push"]) == ("published", "on_request")
    assert published["push_explicit"] is False
    await settled(client)
    assert await told_about(sessions, seminar.id) == 0
    assert (await sweep(sessions, now=NOW, zone=TOKYO)).new == 0
    async with sessions() as session:
        assert (await session.exec(select(Notice))).all() == []

    # A parent who asks sees it.
    response = await client.post(
        "/api/v1/eligibility",
        json={"family": {"municipality": BUNKYO, "children": [{"birth_date": "2020-05-01"}]}},
    )
    assert response.status == 200
    names = [p["name"]["ja"] for p in (await response.json())["programs"]]
    assert "パパとママの離婚講座" in names

    # Only the municipality saying so pushes it; a later import keeps its word.
    bunkyo = await make_key(BUNKYO)
    response = await client.patch(
        f"/api/v1/programs/{seminar.id}", json={"push": "proactive"}, headers=bunkyo
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["push_explicit"] is True
    await settled(client)  # the change's trigger tells the families
    async with sessions() as session:
        told = (await session.exec(select(Notice).where(Notice.program_id == seminar.id))).all()
    assert len({n.family_id for n in told}) == 36
    again = await import_files([registry_file("131059_bunkyo_education.json")], sessions)
    assert again.unchanged == 10
    seminar = await program_of(sessions, DIVORCE_SEMINAR)
    assert (seminar.status, seminar.push, seminar.push_explicit) == (
        "published",
        "proactive",
        True,
    )


async def test_a_parent_who_switched_a_topic_off_is_not_told_of_imported_items_under_it(
    client: Any, sessions: Any, make_key: Any
) -> None:
    await import_files(
        [registry_file("133621_toshima.json"), registry_file("131059_bunkyo_education.json")],
        sessions,
    )
    checkup = await program_of(sessions, CHECKUP)
    assert (checkup.status, checkup.push) == ("published", "proactive")
    assert checkup.categories[0] == "health-checkup"
    three_months = date(2026, 8, 10)
    wants = await add_family(sessions, user(1), TOSHIMA, three_months)
    declined = await add_family(sessions, user(2), TOSHIMA, three_months, off=("health-checkup",))

    # A class the municipality chose to push: filed under 講座・イベント.
    weaning = await program_of(sessions, WEANING_CLASS)
    assert (weaning.status, weaning.push, weaning.categories[0]) == (
        "published",
        "on_request",
        "classes",
    )
    bunkyo = await make_key(BUNKYO)
    response = await client.patch(
        f"/api/v1/programs/{weaning.id}", json={"push": "proactive"}, headers=bunkyo
    )
    assert response.status == 200, await response.text()
    await settled(client)
    seven_months = date(2026, 4, 10)
    likes_classes = await add_family(sessions, user(3), BUNKYO, seven_months)
    no_classes = await add_family(sessions, user(4), BUNKYO, seven_months, off=("classes",))

    report = await sweep(sessions, now=NOW, zone=TOKYO)
    assert report.programs[checkup.id or 0].families == 1
    assert report.programs[weaning.id or 0].families == 1
    async with sessions() as session:
        notices = (await session.exec(select(Notice))).all()
    assert {(n.family_id, n.program_id): (n.status, n.reason) for n in notices} == {
        (wants, checkup.id): ("pending", None),
        (declined, checkup.id): ("suppressed", "preference"),
        (likes_classes, weaning.id): ("pending", None),
        (no_classes, weaning.id): ("suppressed", "preference"),
    }
    # The notice's "turn off" button names the topic the parent would switch off.
    assert {n.category for n in notices} == {"health-checkup", "classes"}


@pytest.mark.parametrize("policy", ["on_request", "proactive"])
async def test_a_program_registered_through_the_api_is_pushed_only_when_proactive(
    client: Any, sessions: Any, make_key: Any, policy: str
) -> None:
    from tests.factories import program_body

    headers = await make_key("131130")
    response = await client.post(
        "/api/v1/programs", json=program_body(push=policy), headers=headers
    )
    assert response.status == 201, await response.text()
    program = await response.json()
    response = await client.post(f"/api/v1/programs/{program['id']}/publish", headers=headers)
    assert response.status == 200
    await settled(client)
    await add_family(sessions, user(7), "131130", date(2025, 6, 10))
    expected = 1 if policy == "proactive" else 0
    assert await told_about(sessions, program["id"]) == expected
