"""The notice ledger: bulk idempotent inserts, the status lifecycle, deletion, payloads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from notifier.compose import MAX_PAYLOAD, child_label, payload, program_part, size
from notifier.ledger import (
    CODE_SHIFT,
    InvalidTransition,
    NoticeDraft,
    child_key,
    mark,
    notices_of,
    record_notices,
    recorded_eligible,
    subject_for_program,
)
from notifier.models import Notice
from notifier.privacy import clear_notice_personal_fields
from registry import families as fam
from registry.db import transaction
from registry.schemas import ProgramIn
from tests.factories import program_body

NOW = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


async def a_family(sessions: Any, user: str = "U1") -> int:
    async with transaction(sessions) as session:
        family = await fam.get_or_create_line_family(session, user)
        assert family.id is not None
        return family.id


def draft(family_id: int, **overrides: Any) -> NoticeDraft:
    fields: dict[str, Any] = {
        "family_id": family_id,
        "subject": "broadcast:1",
        "program_id": None,
        "child_key": "",
        "kind": "eligible",
        "cycle": "2026",
        "issuer": "131130",
        "category": "allowance",
        "channel": "line",
        "deadline": None,
        "due_at": NOW,
        "payload": {"kind": "eligible"},
    }
    fields.update(overrides)
    return NoticeDraft(**fields)


async def test_record_notices_counts_only_new_rows(sessions: Any) -> None:
    family = await a_family(sessions)
    rows = [draft(family, cycle=str(2000 + i)) for i in range(1200)]  # three chunks
    async with transaction(sessions) as session:
        assert await record_notices(session, rows) == 1200
    async with transaction(sessions) as session:
        again = rows[:10] + [draft(family, cycle="later"), draft(family, cycle="later")]
        assert await record_notices(session, again) == 1
    async with sessions() as session:
        stored = await notices_of(session, family)
    assert len(stored) == 1201
    first = stored[0]
    assert (first.status, first.attempts, first.retry_key, first.reason) == (
        "pending",
        0,
        None,
        None,
    )
    assert first.due_at == NOW and first.created_at.tzinfo is not None


def test_keys_and_subjects() -> None:
    assert subject_for_program(7) == "program:7"
    assert child_key(date(2025, 6, 1)) == "2025-06-01"
    assert draft(3).key == (3, "broadcast:1", "", "eligible", "2026")


def test_mark_follows_the_lifecycle() -> None:
    notice = Notice(family_id=1, subject="program:1", kind="eligible", cycle="2026", issuer="x")
    mark(notice, "scheduled")
    mark(notice, "failed", "HTTP 500")
    mark(notice, "scheduled")
    mark(notice, "sent")
    assert notice.status == "sent" and notice.sent_at is not None and notice.reason is None
    with pytest.raises(InvalidTransition):
        mark(notice, "pending")
    other = Notice(family_id=1, subject="program:1", kind="eligible", cycle="2026", issuer="x")
    with pytest.raises(InvalidTransition):
        mark(other, "suppressed")  # a reason is required
    with pytest.raises(InvalidTransition):
        mark(other, "suppressed", "because")
    with pytest.raises(InvalidTransition):
        mark(other, "lost")
    mark(other, "suppressed", "quota")
    assert (other.status, other.reason) == ("suppressed", "quota")
    with pytest.raises(InvalidTransition):
        mark(other, "scheduled")


async def test_clear_personal_fields_keeps_keys_unique(sessions: Any) -> None:
    family = await a_family(sessions)
    keep = await a_family(sessions, "U2")
    birth = "2025-06-15"
    rows = [
        draft(family, subject="program:1", child_key=birth, cycle="2025"),
        draft(family, subject="program:1", child_key=birth, cycle="2026"),
        draft(
            family,
            subject="program:1",
            child_key=birth,
            kind="deadline-7",
            cycle="2025-06-30",
            deadline=date(2025, 6, 30),
        ),
        draft(family, subject="program:2"),
        draft(keep, subject="program:1", child_key=birth),
    ]
    async with transaction(sessions) as session:
        await record_notices(session, rows)
    async with transaction(sessions) as session:
        [sent, *_] = await notices_of(session, family)
        mark(mark(sent, "scheduled"), "sent")
        session.add(sent)
    async with transaction(sessions) as session:
        assert await clear_notice_personal_fields(session, family) == 4
    async with transaction(sessions) as session:
        assert await clear_notice_personal_fields(session, family) == 4  # again: harmless

    async with sessions() as session:
        cleared = await notices_of(session, family)
        kept = await notices_of(session, keep)
    assert {n.child_key for n in cleared} == {f"deleted:{n.id}" for n in cleared}
    assert all(n.payload == {} for n in cleared)
    assert all(n.deadline is None for n in cleared)
    assert sorted(n.cycle for n in cleared) == ["", "", "", "2026"]
    assert [n.status for n in cleared] == ["sent", "suppressed", "suppressed", "suppressed"]
    assert {n.reason for n in cleared[1:]} == {"blocked"}
    assert [(n.child_key, n.payload) for n in kept] == [(birth, {"kind": "eligible"})]


def test_payload_is_small_and_names_the_child_by_month() -> None:
    huge = "長い説明。" * 1000
    data = ProgramIn.model_validate(
        program_body(
            examples=[],
            name={"ja": "名" * 5000, "en": "n" * 5000},
            summary={"ja": huge, "en": huge},
            benefit=huge,
            category=[f"c{i:02d}" + "x" * 60 for i in range(20)],
            reference_url="https://example.jp/" + "a" * 1900,
        )
    )
    part = program_part(1, 1, data, ["child.age < 3"] * 40)
    body = payload(part, kind="eligible", deadline=date(2027, 3, 31), birth=date(2025, 6, 15))
    assert size(body) <= MAX_PAYLOAD
    assert body["child"] == child_label(date(2025, 6, 15))
    assert body["deadline"] == "2027-03-31" and body["kind"] == "eligible"
    assert body["reference_url"] is None  # too long to carry: delivery links the program
    assert "2025-06-15" not in str(body)


async def test_recorded_eligibility_notices_come_back_as_codes(sessions: Any) -> None:
    one, two = await a_family(sessions, "U1"), await a_family(sessions, "U2")
    born, twin_day = date(2024, 4, 2), date(2019, 2, 28)
    rows = [
        draft(one, subject="program:1", child_key=""),
        draft(one, subject="program:1", child_key=born.isoformat()),
        draft(two, subject="program:1", child_key=twin_day.isoformat()),
        draft(two, subject="program:2", child_key=""),
        draft(two, subject="program:2", child_key="deleted:77"),  # erased: matches nothing
        draft(one, subject="program:1", child_key="", cycle="2025"),  # another fiscal year
        draft(one, subject="program:1", kind="deadline-7", cycle="2026-12-01"),
        draft(one, subject="program:3", child_key=""),  # a subject not asked for
    ]
    async with transaction(sessions) as session:
        await record_notices(session, rows)
    async with sessions() as session:
        found = await recorded_eligible(
            session,
            min(one, two),
            max(one, two),
            subjects=["program:1", "program:2"],
            cycle="2026",
        )
        only_two = await recorded_eligible(session, two, two, subjects=None, cycle="2026")
    assert {s: v.tolist() for s, v in found.items()} == {
        "program:1": sorted(
            [
                one * CODE_SHIFT,
                one * CODE_SHIFT + born.toordinal(),
                two * CODE_SHIFT + twin_day.toordinal(),
            ]
        ),
        "program:2": [two * CODE_SHIFT],
    }
    assert {s: v.tolist() for s, v in only_two.items()} == {
        "program:1": [two * CODE_SHIFT + twin_day.toordinal()],
        "program:2": [two * CODE_SHIFT],
    }
