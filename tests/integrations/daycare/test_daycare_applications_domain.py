"""Applications as a family and staff meet them: submit once, change, withdraw, correct, check."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from integrations.daycare import applications as apps
from integrations.daycare.models import IntakeRound
from registry.db import transaction
from registry.models import Family
from rules.points import ApplicationFacts
from tests.integrations.daycare.daycare_factories import facility, insert

NOW = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
FACTS = ApplicationFacts.model_validate(
    {
        "guardians": [
            {
                "relation": "mother",
                "reason": "work",
                "hours_per_week": 40,
                "on_leave": True,
                "returning_from_leave": True,
            },
            {"relation": "father", "reason": "work", "hours_per_week": 45},
        ]
    }
)


async def _setup(sessions: Any) -> tuple[IntakeRound, int, list[int]]:
    (family,) = await insert(sessions, Family(state="active", municipality="131016"))
    places = await insert(
        sessions,
        facility(),
        facility(),
        facility(classes=[3, 4, 5]),
        facility(type="certified_tokyo", type_label="認証保育所"),
    )
    (round_,) = await insert(
        sessions,
        IntakeRound(
            municipality="131016",
            name="2027年4月 一次",
            entry_month=date(2027, 4, 1),
            deadline=NOW + timedelta(days=30),
        ),
    )
    return round_, family.id, [p.id for p in places]


async def test_submit_once_then_change_and_withdraw_are_audited(sessions: Any) -> None:
    round_, family_id, pks = await _setup(sessions)
    async with transaction(sessions) as session:
        application, created = await apps.submit(
            session,
            round_=round_,
            family_id=family_id,
            child_id=7,
            birth_date=date(2025, 6, 10),
            wishes=[pks[1], pks[0]],
            facts=FACTS,
            now=NOW,
        )
        assert created and application.class_age == 1 and application.status == "received"
        keys = [d["key"] for d in apps.documents_missing(application)]
        assert keys == [
            "employment_certificate:0",
            "leave_certificate:0",
            "employment_certificate:1",
        ]
    async with transaction(sessions) as session:
        again, created = await apps.submit(
            session,
            round_=round_,
            family_id=family_id,
            child_id=7,
            birth_date=date(2025, 6, 10),
            wishes=[pks[0]],
            facts=FACTS,
            now=NOW,
        )
        assert not created and again.id == application.id and again.wishes == [pks[0]]
        await apps.withdraw(session, again, now=NOW)
        trail = [(a.action, a.field) for a in await apps.audit_trail(session, again.id)]
    assert trail == [("submitted", ""), ("changed", "wishes"), ("withdrawn", "")]


@pytest.mark.parametrize(
    ("wishes", "code"),
    [
        ([], "no_wishes"),
        ("dup", "duplicate_wish"),
        ("3yo", "class_not_offered"),
        ([999_999], "unknown_facility"),
    ],
)
async def test_bad_wishes_are_refused_with_a_code(sessions: Any, wishes: Any, code: str) -> None:
    round_, family_id, pks = await _setup(sessions)
    named = {"dup": [pks[0], pks[0]], "3yo": [pks[2]], "certified": [pks[0], pks[3]]}
    chosen = named[wishes] if isinstance(wishes, str) else wishes
    async with transaction(sessions) as session:
        with pytest.raises(apps.ApplicationError) as caught:
            await apps.submit(
                session,
                round_=round_,
                family_id=family_id,
                child_id=1,
                birth_date=date(2025, 6, 10),
                wishes=chosen,
                facts=FACTS,
                now=NOW,
            )
    assert caught.value.code == code


async def test_after_the_deadline_nothing_changes(sessions: Any) -> None:
    round_, family_id, pks = await _setup(sessions)
    async with transaction(sessions) as session:
        application, _ = await apps.submit(
            session,
            round_=round_,
            family_id=family_id,
            child_id=1,
            birth_date=date(2025, 6, 10),
            wishes=[pks[0]],
            facts=FACTS,
            now=NOW,
        )
    late = round_.deadline + timedelta(seconds=1)
    async with transaction(sessions) as session:
        application = await session.get(type(application), application.id)
        with pytest.raises(apps.ApplicationError) as caught:
            await apps.withdraw(session, application, now=late)
    assert caught.value.code == "round_closed"


async def test_staff_correction_needs_a_reason_and_moves_documents(sessions: Any) -> None:
    round_, family_id, pks = await _setup(sessions)
    async with transaction(sessions) as session:
        application, _ = await apps.submit(
            session,
            round_=round_,
            family_id=family_id,
            child_id=1,
            birth_date=date(2025, 6, 10),
            wishes=[pks[0]],
            facts=FACTS,
            now=NOW,
        )
        await apps.check_document(
            session,
            application,
            "employment_certificate:1",
            checked=True,
            actor="staff:hgk_x",
            now=NOW,
        )
        assert application.status == "under_review"
        with pytest.raises(apps.ApplicationError):
            await apps.correct_facts(
                session,
                application,
                {"single_parent": True},
                reason=" ",
                actor="staff:hgk_x",
                now=NOW,
            )
        await apps.correct_facts(
            session,
            application,
            {"single_parent": True},
            reason="戸籍謄本で確認",
            actor="staff:hgk_x",
            now=NOW,
        )
        assert application.facts["single_parent"] is True
        assert application.documents["employment_certificate:1"]["checked"] is True
        assert "single_parent" in application.documents
        trail = await apps.audit_trail(session, application.id)
    corrected = [a for a in trail if a.action == "corrected"]
    assert [(a.field, a.old, a.new, a.reason) for a in corrected] == [
        ("facts.single_parent", False, True, "戸籍謄本で確認")
    ]


async def test_a_deleted_family_takes_its_applications_with_it(sessions: Any) -> None:
    from registry.families import delete_personal_data

    round_, family_id, pks = await _setup(sessions)
    async with transaction(sessions) as session:
        await apps.submit(
            session,
            round_=round_,
            family_id=family_id,
            child_id=1,
            birth_date=date(2025, 6, 10),
            wishes=[pks[0]],
            facts=FACTS,
            now=NOW,
        )
    async with transaction(sessions) as session:
        family = await session.get(Family, family_id)
        await delete_personal_data(session, family)
    async with sessions() as session:
        assert await apps.applications_of_family(session, family_id) == []


async def test_a_household_fact_corrected_on_one_child_reaches_the_sibling(
    sessions: Any,
) -> None:
    round_, family_id, pks = await _setup(sessions)
    siblings = FACTS.model_copy(update={"siblings_applying": 1, "sibling_mode": "both_or_neither"})
    async with transaction(sessions) as session:
        first, _ = await apps.submit(
            session,
            round_=round_,
            family_id=family_id,
            child_id=1,
            birth_date=date(2025, 6, 10),
            wishes=[pks[0]],
            facts=siblings,
            now=NOW,
        )
        second, _ = await apps.submit(
            session,
            round_=round_,
            family_id=family_id,
            child_id=2,
            birth_date=date(2024, 8, 1),
            wishes=[pks[0]],
            facts=siblings,
            now=NOW,
        )
        assert first.sibling_group == second.sibling_group is not None
        await apps.correct_facts(
            session,
            first,
            {"single_parent": True, "child_disability": True},
            reason="確認済み",
            actor="staff:hgk_x",
            now=NOW,
        )
        trail = await apps.audit_trail(session, second.id)
    assert second.facts["single_parent"] is True
    assert second.facts["child_disability"] is False  # the child's own fact stays its own
    assert [(a.field, a.reason) for a in trail if a.action == "corrected"] == [
        ("facts.single_parent", f"確認済み (application {first.id})")
    ]


async def test_a_first_application_changes_nothing_and_a_decided_round_says_so(
    sessions: Any,
) -> None:
    assert apps.facts_changes(None, FACTS) == []
    round_, family_id, pks = await _setup(sessions)
    round_.status = "confirmed"
    async with transaction(sessions) as session:
        with pytest.raises(apps.ApplicationError) as caught:
            await apps.submit(
                session,
                round_=round_,
                family_id=family_id,
                child_id=1,
                birth_date=date(2025, 6, 10),
                wishes=[pks[0]],
                facts=FACTS,
                now=NOW,
            )
    assert caught.value.code == "round_closed" and "was decided" in caught.value.message


async def test_a_decided_application_is_not_corrected(sessions: Any) -> None:
    round_, family_id, pks = await _setup(sessions)
    async with transaction(sessions) as session:
        application, _ = await apps.submit(
            session,
            round_=round_,
            family_id=family_id,
            child_id=1,
            birth_date=date(2025, 6, 10),
            wishes=[pks[0]],
            facts=FACTS,
            now=NOW,
        )
        application.status = "offered"
        with pytest.raises(apps.ApplicationError) as caught:
            await apps.correct_facts(
                session,
                application,
                {"single_parent": True},
                reason="後から判明",
                actor="staff:hgk_x",
                now=NOW,
            )
    assert caught.value.code == "already_decided"


async def test_a_municipality_sees_only_facts_given_to_it(sessions: Any) -> None:
    round_, family_id, pks = await _setup(sessions)
    async with transaction(sessions) as session:
        await apps.submit(
            session,
            round_=round_,
            family_id=family_id,
            child_id=1,
            birth_date=date(2025, 6, 10),
            wishes=[pks[0]],
            facts=FACTS,
            now=NOW,
        )
    async with sessions() as session:
        assert await apps.last_facts(session, family_id) == FACTS
        assert await apps.last_facts(session, family_id, municipality="131016") == FACTS
        assert await apps.last_facts(session, family_id, municipality="132012") is None
