"""What the programs list tells a parent: "soon" means within about three months, "I applied"
only where one applies, and 出産育児一時金 for two years after a birth (issue 8, point 6)."""

from __future__ import annotations

from datetime import date

from notifier.messages import notice_message
from notifier.models import Notice
from tests.bot.conftest import LineWorld
from tests.bot.parent import Parent, actions_in, bubble_titles, texts_of
from tests.conftest import TODAY


def _bubbles(answer: list[dict[str, object]]) -> list[dict[str, object]]:
    return [b for c in answer if c["type"] == "flex" for b in c["contents"]["contents"]]  # type: ignore[index]


def _soon_line(answer: list[dict[str, object]]) -> str:
    lines = [line for line in texts_of(answer).splitlines() if "もうすぐ対象" in line]
    return lines[0] if lines else ""


async def test_a_newborn_is_not_told_the_three_year_check_up_is_soon(
    line_world: LineWorld,
) -> None:
    newborn = Parent(line_world, "U" + "5" * 32)
    await newborn.onboard("渋谷区", ("2026-11-01",))
    soon = _soon_line(await newborn.postback("a=menu.programs"))
    assert "3歳児健康診査" not in soon
    assert "1歳6か月児健康診査" not in soon
    # The 3-4 month check-up is two months away: that is soon.
    assert "乳児健康診査" in soon

    toddler = Parent(line_world, "U" + "6" * 32)
    # 16 months today, 18 months in February: the 1 year 6 months check-up is soon.
    await toddler.onboard("渋谷区", ("2025-07-10",))
    assert "1歳6か月児健康診査" in _soon_line(await toddler.postback("a=menu.programs"))
    assert await line_world.rejected() == []


async def test_i_applied_only_on_programs_one_applies_for(line_world: LineWorld) -> None:
    parent = Parent(line_world, "U" + "7" * 32)
    # A baby of 3 months: 児童手当 (applied for), BCG and the 3-4 month check-up (not).
    answer = await parent.onboard("渋谷区", ("2026-08-20",))
    answer = await parent.postback("a=menu.programs")
    by_title = dict(zip(bubble_titles(answer), _bubbles(answer), strict=True))
    labels = {
        title: [a.get("label") for a in actions_in([bubble])] for title, bubble in by_title.items()
    }
    assert "申請しました" in labels["児童手当"]
    checkups = [t for t in labels if "健康診査" in t or "予防接種" in t]
    assert checkups, labels
    for title in checkups:
        assert "申請しました" not in labels[title], title


def test_pushed_check_up_and_vaccination_cards_have_no_i_applied() -> None:
    def card(category: str) -> list[str]:
        notice = Notice(
            id=1,
            family_id=1,
            subject="program:1",
            program_id=1,
            kind="eligible",
            cycle="2026",
            issuer="000000",
            category=category,
            payload={"name": {"ja": "健診"}, "category": [category], "kind": "eligible"},
        )
        message = notice_message([notice], "ja", today=TODAY)
        return [a.get("label") for a in actions_in([message])]

    assert "申請しました" in card("allowance")
    assert "申請しました" not in card("health-checkup")
    assert "申請しました" not in card("vaccination")


async def test_the_childbirth_lump_sum_reaches_families_two_years_after_the_birth(
    line_world: LineWorld,
) -> None:
    assert date(2026, 11, 26) == TODAY
    parent = Parent(line_world, "U" + "8" * 32)
    answer = await parent.onboard("八王子市", ("2025-01-15",))  # 22 months old
    titles = bubble_titles(answer)
    assert "出産育児一時金" in titles
    card = _bubbles(answer)[titles.index("出産育児一時金")]
    assert "出産を控えています" not in texts_of([card])  # the family is not expecting
    older = Parent(line_world, "U" + "9" * 32)
    answer = await older.onboard("八王子市", ("2024-11-26",))  # two years today
    assert "出産育児一時金" not in bubble_titles(answer)
