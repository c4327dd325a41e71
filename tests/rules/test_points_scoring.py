"""Points rules documents: real tables' examples, combining guardians, adjustments, tie-breaks."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.daycare.points import shipped_documents
from rules.points import (
    ApplicationFacts,
    GuardianFacts,
    PointsDocument,
    check_examples,
    document_digest,
    document_errors,
    guardian_base,
    score,
)


def document(**changes: Any) -> PointsDocument:
    body: dict[str, Any] = {
        "municipality": "132012",
        "title": "test",
        "source_url": "https://example.jp/beppyo",
        "valid_from": "2026-04-01",
        "base": {
            "work": [
                {"min_hours": 40, "points": 10},
                {"min_hours": 30, "points": 8},
                {"min_hours": 0, "points": 6},
            ],
            "pregnancy": [{"points": 10}],
        },
        "absent_guardian_points": 10,
        "adjustments": [
            {
                "id": "single_parent",
                "label_ja": "ひとり親世帯",
                "label_en": "Single parent",
                "points": 5,
                "condition": "single_parent",
            },
            {
                "id": "sibling",
                "label_ja": "きょうだい在園",
                "label_en": "Sibling enrolled",
                "points": 2,
                "condition": "siblings_enrolled >= 1",
            },
            {
                "id": "extension",
                "label_ja": "育休延長許容",
                "label_en": "Accepts leave extension",
                "points": -20,
                "condition": "accepts_leave_extension",
            },
        ],
    }
    body.update(changes)
    return PointsDocument.model_validate(body)


def facts(*guardians: tuple[str, float | None], **changes: Any) -> ApplicationFacts:
    return ApplicationFacts.model_validate(
        {
            "guardians": [{"reason": r, "hours_per_week": h} for r, h in guardians],
            **changes,
        }
    )


def test_shipped_tables_hold_their_published_examples() -> None:
    documents = {d.municipality: d for d in shipped_documents()}
    assert {"131181", "132012", "132152"} <= set(documents)
    for doc in documents.values():
        assert len(doc.examples) >= 3 and check_examples(doc) == []
    hachioji = documents["132012"]
    # Hachioji's 別表-1: 40 h = 10, 35 h = 9, 30 h = 8, 25 h = 7, under 25 h = 6.
    for hours, points in ((40, 10), (39.5, 9), (35, 9), (30, 8), (25, 7), (24, 6)):
        assert score(hachioji, facts(("work", hours))).total == points


def test_sum_with_adjustments_and_lines_explained() -> None:
    result = score(
        document(),
        facts(("absent", None), ("work", 40), single_parent=True, siblings_enrolled=["A1"]),
    )
    assert result.combined_base == 20 and result.total == 27
    assert [a.id for a in result.adjustments] == ["single_parent", "sibling"]
    ja = result.lines("ja")
    assert "ひとり親世帯 +5" in ja and ja[-1] == "合計 27点"
    assert "保護者2: 就労 週40時間以上 = 10点" in ja
    assert result.lines("en")[-1] == "Total 27 points"


def test_negative_adjustment_is_shown_as_taken() -> None:
    result = score(document(), facts(("work", 40), ("work", 40), accepts_leave_extension=True))
    assert result.total == 0
    assert "育休延長許容 −20" in result.lines("ja")


@pytest.mark.parametrize(("how", "expected"), [("sum", 16), ("min", 6), ("max", 10)])
def test_combine_modes(how: str, expected: float) -> None:
    result = score(document(combine=how), facts(("work", 20), ("work", 45)))
    assert result.combined_base == expected


def test_lower_rank_ranks_by_the_lower_guardian_then_the_higher() -> None:
    doc = document(combine="lower_rank", adjustments=[])
    low_high = score(doc, facts(("work", 20), ("pregnancy", None)))  # ranks 6 and 10
    low_mid = score(doc, facts(("work", 20), ("work", 30)))  # ranks 6 and 8
    assert low_high.total == low_mid.total == 6
    assert low_high.priority > low_mid.priority  # the other guardian's rank breaks the tie
    assert low_high.priority_labels[1][1] == "The other guardian's rank"


def test_tie_breaks_are_normalised_so_larger_is_better() -> None:
    doc = document(
        adjustments=[],
        tie_breaks=[
            {
                "id": "new_entry",
                "label_ja": "新規入所",
                "label_en": "New entry before transfer",
                "expression": "not transfer",
            },
            {
                "id": "fewer_hours_last",
                "label_ja": "就労時間の短い方",
                "label_en": "Fewer hours first",
                "expression": "min_hours",
                "order": "asc",
            },
        ],
    )
    new = score(doc, facts(("work", 40), ("work", 40)))
    transfer = score(doc, facts(("work", 40), ("work", 40), transfer_from="X1"))
    assert new.total == transfer.total and new.priority > transfer.priority
    assert new.priority[1:] == (1.0, -40.0)
    assert [label[0] for label in new.priority_labels] == ["指数", "新規入所", "就労時間の短い方"]


def test_unknown_symbol_is_located_with_a_suggestion() -> None:
    doc = document(
        adjustments=[
            {
                "id": "a",
                "label_ja": "a",
                "label_en": "a",
                "points": 1,
                "condition": "singel_parent",
            }
        ]
    )
    [problem] = document_errors(doc)
    assert problem["location"] == "adjustments[0].condition"
    assert problem["reason"] == "unknown symbol 'singel_parent'"
    assert problem["suggestion"] == "did you mean 'single_parent'?"


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ("min_hours + 1", "gives float, not a boolean (true or false)"),
        ("sibling_mode =~ '.*'", "regular expressions are not allowed here"),
        ("$today > d'2026-01-01'", "'$' symbols are not allowed"),
        ("single_parent and", "syntax error"),
    ],
)
def test_conditions_refused(condition: str, reason: str) -> None:
    doc = document(
        adjustments=[
            {"id": "a", "label_ja": "a", "label_en": "a", "points": 1, "condition": condition}
        ]
    )
    [problem] = document_errors(doc)
    assert problem["reason"].startswith(reason)


def test_failing_example_is_located_and_digest_is_canonical() -> None:
    example = {
        "name": "full time",
        "facts": {"guardians": [{"reason": "work", "hours_per_week": 40}]},
        "expected_points": 11,
    }
    doc = document(examples=[example])
    [problem] = check_examples(doc)
    assert problem["location"] == "examples[0]"
    assert "expected 11 points, the rules give 10" in problem["reason"]
    assert document_digest(doc) == document_digest(PointsDocument.model_validate(doc.model_dump()))
    assert document_digest(doc) != document_digest(document())


def test_arakawa_rows_by_days_and_hours_a_day() -> None:
    arakawa = next(d for d in shipped_documents() if d.municipality == "131181")
    # 荒川区: (月20日, 月16日, 月12日) x (1日8h+, 6-8h, 4-6h), read as 5/4/3 days a week.
    table = {5: (20, 18, 16), 4: (18, 16, 14), 3: (16, 14, 12)}
    for days, row in table.items():
        for daily, expected in ((9, row[0]), (8, row[0]), (7, row[1]), (6, row[1]), (5, row[2])):
            guardian = GuardianFacts(
                reason="work", hours_per_week=days * daily, days_per_week=days
            )
            assert guardian_base(arakawa, 0, guardian).points == expected, (days, daily)


def test_ota_tie_break_order_from_domain_facts() -> None:
    steps = [
        ("new_entry", "not transfer"),
        ("base", "base_points"),
        ("single_parent", "single_parent"),
        ("illness", "any_reason_illness"),
        ("disability", "any_reason_disability"),
        ("child_disability", "child_disability"),
        ("small_scale", "graduating_small_scale"),
        ("low_tax", "resident_tax_exempt"),
        ("sibling", "siblings_enrolled >= 1 or siblings_applying >= 1"),
    ]
    doc = document(
        adjustments=[],
        tie_breaks=[{"id": i, "label_ja": i, "label_en": i, "expression": e} for i, e in steps],
    )
    tied_a = score(doc, facts(("work", 40), ("pregnancy", None), single_parent=True))
    tied_b = score(doc, facts(("work", 40), ("pregnancy", None), child_disability=True))
    assert tied_a.total == tied_b.total and tied_a.priority > tied_b.priority
    transfer = score(
        doc, facts(("work", 40), ("pregnancy", None), transfer_from="X", single_parent=True)
    )
    assert tied_b.priority > transfer.priority  # new entry first, whatever comes after
    assert [label[1] for label in tied_a.priority_labels] == ["Points"] + [i for i, _ in steps]
