"""The shipped municipalities' tables: every example holds, households checked line by line."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.daycare.points import shipped_documents
from rules.points import ApplicationFacts, PointsDocument, check_examples, score

WITH_ADJUSTMENTS = ("131113", "132071")  # 大田区, 昭島市


def table(code: str) -> PointsDocument:
    return next(d for d in shipped_documents() if d.municipality == code)


def household(*guardians: dict[str, Any], **changes: Any) -> ApplicationFacts:
    return ApplicationFacts.model_validate({"guardians": list(guardians), **changes})


def work(hours: float, days: int, **more: Any) -> dict[str, Any]:
    return {"reason": "work", "hours_per_week": hours, "days_per_week": days, **more}


@pytest.mark.parametrize("document", shipped_documents(), ids=lambda d: d.municipality)
def test_each_shipped_table_holds_its_examples(document: PointsDocument) -> None:
    assert document.source_url.startswith("http")
    assert len(document.examples) >= 3
    assert check_examples(document) == []


@pytest.mark.parametrize("code", WITH_ADJUSTMENTS)
def test_tables_with_adjustments_and_tie_breaks(code: str) -> None:
    document = table(code)
    assert document.adjustments and document.tie_breaks
    ids = {a.id for a in document.adjustments}
    exercised = [
        e for e in document.examples if {a.id for a in score(document, e.facts).adjustments} & ids
    ]
    assert len(exercised) >= 3


def test_ota_single_parent_full_time_with_a_sibling_line_by_line() -> None:
    ota = table("131113")
    result = score(
        ota,
        household(
            {"relation": "mother", **work(40, 5)},
            {"relation": "father", "reason": "absent"},
            single_parent=True,
            siblings_enrolled=["ota-001"],
        ),
    )
    # 母 11 (月20日・月160時間) + 不存在 11 + 記号E 3 + きょうだい 2 = 27.
    assert result.lines("ja") == [
        "母: 就労 月20日以上・月160時間以上（二次資料） = 11点",
        "父: 不存在（ひとり親等） = 11点",
        "基準指数（父母の合計）= 22点",
        "ひとり親世帯（調整指数 記号E） +3",
        "きょうだいが認可保育園に在園中又は同時申込（二次資料） +2",
        "合計 27点",
    ]
    assert result.total == 27


def test_ota_ties_go_by_the_published_order() -> None:
    ota = table("131113")
    full_time = household(work(40, 5), work(40, 5))
    labels = [label for label, _ in score(ota, full_time).priority_labels]
    assert labels[1:4] == [
        "入所を転園より優先",
        "利用調整基準指数（調整指数を含まない）の高い世帯",
        "ひとり親世帯",
    ]
    assert len(labels) == 1 + 9  # the points, then steps 1-9 (step 8 only tells tax-exempt)
    # Both 22 points: a full-time couple (base 22) before a 20-base couple with +2 adjustment.
    couple = score(ota, household(work(40, 5), work(40, 5)))
    adjusted = score(ota, household(work(40, 5), work(30, 5), unlicensed_care=True))
    assert couple.total == adjusted.total == 22
    assert couple.priority > adjusted.priority
    # A new entry before a transfer, whatever the rest.
    transfer = score(ota, household(work(40, 5), work(40, 5), transfer_from="ota-009"))
    assert adjusted.priority > transfer.priority
    # Same points and base: a guardian's illness before a child's disability, before neither.
    # (疾病 has no transcribed row in Ota's table: it counts 0 here, like 'none'.)
    ill = score(ota, household(work(40, 5), {"reason": "illness"}))
    disabled_child = score(ota, household(work(40, 5), {"reason": "none"}, child_disability=True))
    plain = score(ota, household(work(40, 5), {"reason": "none"}))
    assert ill.total == disabled_child.total == plain.total == 11
    assert ill.priority[:3] == disabled_child.priority[:3] == (11.0, 1.0, 11.0)
    assert ill.priority > disabled_child.priority > plain.priority


def test_akishima_published_example_line_by_line() -> None:
    akishima = table("132071")
    result = score(
        akishima,
        household(
            {"relation": "father", **work(40, 5)},
            {"relation": "mother", **work(28, 4, on_leave=True, returning_from_leave=True)},
            sibling_facility_first_choice=True,
        ),
    )
    # しおり p.17: 基準指数 16 (the lower guardian) + 調整指数 3 + 2 = 21.
    assert result.lines("ja") == [
        "父: 就労 月20日以上・1日8時間以上 = 20点",
        "母: 就労 月16日以上・1日6時間以上8時間未満 = 16点",
        "基準指数（低い方）= 16点",
        "育児休業取得、出産した子が1歳を迎える月の申請 +3",
        "きょうだいが通所している保育施設へ第1希望で申請 +2",
        "合計 21点",
    ]
    # Ties: the sum of both guardians (36) comes first, then the priority-use items.
    assert result.priority[:3] == (21.0, 36.0, 1.0)


def test_akishima_ties_sum_of_guardians_then_priority_use() -> None:
    akishima = table("132071")
    # Both 20 points as a household (the lower guardian). The absent guardian counts 20 too, so
    # a single parent ties with a full-time couple on the sum and wins on priority use.
    couple = score(akishima, household(work(40, 5), work(40, 5)))
    single = score(
        akishima,
        household(work(40, 5), {"reason": "absent"}, single_parent=True),
    )
    assert couple.total == single.total == 20
    assert couple.priority[1] == single.priority[1] == 40
    assert single.priority > couple.priority
    # A couple 20 + 18 (lower 18) plus leave return 3 = 21 beats a 20 + 20 couple on points.
    returning = score(
        akishima,
        household(work(40, 5), work(30, 5, on_leave=True, returning_from_leave=True)),
    )
    assert returning.total == 21 and returning.priority > couple.priority
    outside = score(akishima, household(work(40, 5), work(40, 5), outside_municipality=True))
    assert couple.priority > outside.priority
