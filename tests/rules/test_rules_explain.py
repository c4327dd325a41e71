"""Rules explained as reason codes: what a parent will read instead of the rule's syntax."""

from __future__ import annotations

import pytest

from rules.explain import CODES, reasons_of, reasons_of_clauses
from rules.language import compile_rule


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            'municipality == "131032" and child.age_months < 6',
            [
                {"code": "lives_in", "place": "131032"},
                {"code": "child_age", "unit": "months", "below": 6},
            ],
        ),
        (
            "child.age_months >= 18 and child.age_months < 24",
            [{"code": "child_age", "unit": "months", "from": 18, "below": 24}],
        ),
        (
            '"130001" == prefecture and 17 >= child.class_age',
            [
                {"code": "lives_in", "place": "130001"},
                {"code": "child_age", "unit": "class", "below": 18},
            ],
        ),
        (
            'child.birth_date >= d"2025-04-01" and child.daycare == "enrolled"',
            [
                {"code": "child_born_from", "date": "2025-04-01"},
                {"code": "daycare", "status": "enrolled"},
            ],
        ),
        ("pregnant", [{"code": "pregnant"}]),
        ("youngest_age < 2", [{"code": "child_age", "unit": "years", "below": 2}]),
        ("pregnant == true or youngest_age < 2", [{"code": "generic"}]),
        (
            "single_parent == true and (household_income ?? 0) < 5000000",
            [
                {"code": "single_parent"},
                {"code": "income"},
            ],
        ),
        ("child.birth_order >= 3", [{"code": "birth_order", "from": 3}]),
        # Nothing a parent needs to read: left out, and something is always said.
        ("(public_assistance ?? false) == false", [{"code": "generic"}]),
        # Parts of unknown shape become the generic reason, never their text.
        (
            'municipality in ["131130", "131016"] and child.class_age == 5 and not pregnant',
            [
                {"code": "lives_in_area"},
                {"code": "child_age", "unit": "class", "from": 5, "below": 6},
                {"code": "generic"},
            ],
        ),
        (
            "pregnant == true or [c for c in children if c.age_months < 24].length > 0",
            [{"code": "generic"}],
        ),
    ],
)
def test_rules_become_reason_codes(rule: str, expected: list[dict[str, object]]) -> None:
    reasons = reasons_of(compile_rule(rule, per_child=True))
    assert reasons == expected
    assert {r["code"] for r in reasons} <= CODES


def test_clauses_stored_as_text_are_mapped_and_broken_ones_are_generic() -> None:
    assert reasons_of_clauses(['municipality == "131032"', "child.age_months < 6"]) == [
        {"code": "lives_in", "place": "131032"},
        {"code": "child_age", "unit": "months", "below": 6},
    ]
    assert reasons_of_clauses(["child.age_months >= 3", "child.age_months < 5"]) == [
        {"code": "child_age", "unit": "months", "from": 3, "below": 5}
    ]
    assert reasons_of_clauses(['municipality == "1310…', "child.age < 3"]) == [
        {"code": "child_age", "unit": "years", "below": 3},
        {"code": "generic"},
    ]
    assert reasons_of_clauses([]) == [{"code": "generic"}]
