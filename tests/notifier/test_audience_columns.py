"""The console's "who would be told" preview on columns: ages by bucket, channels, and the
sweep's own figures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.audience import count_audience
from notifier.sweep import sweep
from registry import programs as repo
from registry.db import transaction
from registry.models import AppSubscription, Child, Family
from registry.schemas import ProgramIn
from tests.conftest import TODAY
from tests.factories import program_body

TOKYO = ZoneInfo("Asia/Tokyo")
SHIBUYA, HACHIOJI = "131130", "132012"
CONSENTED = datetime(2026, 1, 1, tzinfo=UTC)


async def _family(
    session: Any,
    name: str,
    births: Sequence[str] = (),
    *,
    municipality: str = SHIBUYA,
    app: bool = False,
    **fields: Any,
) -> None:
    values: dict[str, Any] = {"state": "active", "consented_at": CONSENTED, **fields}
    family = Family(line_user_id=f"U{name}", municipality=municipality, **values)
    session.add(family)
    await session.flush()
    assert family.id is not None
    for birth in births:
        session.add(Child(family_id=family.id, birth_date=date.fromisoformat(birth)))
    if app:
        session.add(
            AppSubscription(
                family_id=family.id, issuer=SHIBUYA, token_hash=f"{family.id:064x}", secret="s"
            )
        )


async def _families(sessions: Any) -> None:
    """Ages on 2026-11-26 in the comments."""
    async with transaction(sessions) as session:
        # 0, 2 and 8; expecting another (the unborn child is nobody's age)
        await _family(
            session,
            "a",
            ["2026-05-01", "2024-01-10", "2018-04-02"],
            pregnant=True,
            due_date=date(2027, 2, 1),
        )
        await _family(session, "b", ["2021-11-26", "2010-01-01"], app=True)  # 5 today, 16
        # 18 today, 0 (one tomorrow); the app by preference
        await _family(session, "c", ["2008-11-26", "2025-11-27"], preferences={"channel": "app"})
        await _family(session, "d", pregnant=True, due_date=date(2027, 1, 10))  # no child yet
        await _family(session, "e")  # no child
        await _family(
            session, "f", ["2025-01-01"], preferences={"categories_off": ["allowance"]}
        )  # 1, opted out
        await _family(session, "i", ["2025-06-01", "2025-06-01"])  # twins, 1
        await _family(session, "j", ["2010-01-01", "2013-05-05"])  # 16, 13
        # Out of reach: another municipality, not consented, blocked.
        await _family(session, "g", ["2025-01-01"], municipality=HACHIOJI)
        await _family(session, "h", ["2025-01-01"], consented_at=None)
        await _family(session, "k", ["2025-01-01"], state="blocked")


def _program(eligibility: str, per_child: bool) -> ProgramIn:
    return ProgramIn.model_validate(
        program_body(
            eligibility=eligibility,
            per_child=per_child,
            examples=[],
            application={"url": "https://www.city.shibuya.tokyo.jp/"},
        )
    )


def _split(counts: dict[str, int]) -> dict[str, int]:
    """Every age bucket of the preview, zero unless counted."""
    return dict.fromkeys(("none", "0", "1", "2", "3-5", "6-11", "12-17", "18+"), 0) | counts


CASES = [
    pytest.param(
        _program("child.age < 6 or child.age >= 18", per_child=True),
        # a: 0, 2; b: 5; c: 18, 0; i: 1, 1 (twins); f matches but turned allowances off
        {"families": 4, "opted_out": 1, "matches": 8, "scanned": 8},
        _split({"0": 2, "1": 2, "2": 1, "3-5": 1, "18+": 1}),
        {"line": 2, "app": 2},
        id="per-child",
    ),
    pytest.param(
        _program("child.age % 2 == 0", per_child=True),  # not vectorised: per family
        # a: 0, 2, 8; b: 16; c: 18, 0; j: 16
        {"families": 4, "opted_out": 0, "matches": 7, "scanned": 8},
        _split({"0": 2, "2": 1, "6-11": 1, "12-17": 2, "18+": 1}),
        {"line": 2, "app": 2},
        id="per-child-per-family",
    ),
    pytest.param(
        _program("youngest_age == null or youngest_age < 6 or oldest_age >= 16", False),
        # by the youngest child: a 0, b 5, c 0, d and e none, i 1, j 13; f opted out
        {"families": 7, "opted_out": 1, "matches": 8, "scanned": 8},
        _split({"none": 2, "0": 2, "1": 1, "3-5": 1, "12-17": 1}),
        {"line": 5, "app": 2},
        id="household",
    ),
]


@pytest.mark.parametrize(("program", "figures", "by_age", "by_channel"), CASES)
async def test_the_preview_splits_by_age_and_channel_as_the_sweep_would_tell(
    sessions: Any,
    program: ProgramIn,
    figures: dict[str, int],
    by_age: dict[str, int],
    by_channel: dict[str, int],
) -> None:
    await _families(sessions)
    async with transaction(sessions) as session:
        row = await repo.create_program(session, program)
    assert row.id is not None

    audience = await count_audience(sessions, program, TODAY, program_id=row.id, batch_size=3)

    assert {name: getattr(audience, name) for name in figures} == figures
    assert audience.by_age == by_age
    assert audience.by_channel == by_channel
    assert audience.reminders == 0 and audience.not_planned is None
    # The same in one page.
    assert await count_audience(sessions, program, TODAY, program_id=row.id) == audience

    async with transaction(sessions) as session:
        stored = await repo.get_program(session, row.id)
        assert stored is not None
        await repo.set_status(session, stored, "published")
    now = datetime(2026, 11, 26, 9, 0, tzinfo=TOKYO)
    tally = (await sweep(sessions, now=now, zone=TOKYO, dry_run=True)).programs[row.id]
    assert (tally.families, tally.matches) == (audience.families, audience.matches)
