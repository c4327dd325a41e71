from datetime import date
from typing import Any

import pytest

from rules import (
    CompiledProgram,
    FamilyInput,
    compile_rule,
    derive,
    evaluate_family,
    evaluate_population,
)

ON = date(2026, 5, 1)


def context(*births: str, **family: Any) -> dict[str, Any]:
    children = [{"birth_date": b} for b in births]
    payload = {"municipality": "131130", "children": children, **family}
    return derive(FamilyInput.model_validate(payload), ON)


def program(pid: str, expression: str, *, per_child: bool) -> CompiledProgram:
    return CompiledProgram(
        id=pid, rule=compile_rule(expression, per_child=per_child), per_child=per_child
    )


# Entered youngest first, so input order differs from birth order.
THREE = ("2024-04-02", "2015-05-01", "2020-04-01")
THIRD_CHILD = program(
    "jidou-teate-3", "child.birth_order >= 3 and child.class_age <= 17", per_child=True
)
UNDER_THREE = program("under-3", "child.age < 3", per_child=True)
SCHOOL = program("school", "child.grade != null and child.grade <= 6", per_child=True)
BIG_FAMILY = program("big-family", "child_count >= 3", per_child=False)


def test_third_child_program_names_the_third_born_child() -> None:
    (match,) = evaluate_family(context(*THREE), [THIRD_CHILD])
    assert match.eligible
    assert match.children == [0]  # the youngest, entered first, is 第3子
    assert match.explanation.held == ["child.birth_order >= 3", "child.class_age <= 17"]
    assert not match.near_miss


def test_two_children_is_a_near_miss_for_the_third_child_program() -> None:
    (match,) = evaluate_family(context("2024-04-02", "2015-05-01"), [THIRD_CHILD])
    assert not match.eligible and match.children == []
    assert match.near_miss
    assert match.explanation.failed == ["child.birth_order >= 3"]


def test_every_qualifying_child_is_listed_in_input_order() -> None:
    matches = evaluate_family(context(*THREE), [SCHOOL, UNDER_THREE, BIG_FAMILY])
    school, under_three, big = matches
    assert [m.program.id for m in matches] == ["school", "under-3", "big-family"]
    assert school.children == [1, 2]  # grade 5 and grade 1; the toddler has no grade
    assert under_three.children == [0]
    assert big.eligible and big.children == []


def test_family_without_children_is_not_eligible_for_per_child_programs() -> None:
    pregnant = program("pregnancy", "pregnant", per_child=False)
    under_three, expecting = evaluate_family(context(pregnant=True), [UNDER_THREE, pregnant])
    assert not under_three.eligible and not under_three.near_miss
    assert under_three.explanation.result is False
    assert expecting.eligible


def test_unknown_is_not_eligible_and_not_a_near_miss() -> None:
    low_income = program(
        "low-income", "child_count >= 1 and household_income < 5000000", per_child=False
    )
    (unknown,) = evaluate_family(context("2020-01-01"), [low_income])
    assert not unknown.eligible and not unknown.near_miss
    assert unknown.explanation.unknown == ["household_income < 5000000"]
    (rich,) = evaluate_family(context("2020-01-01", household_income=9_000_000), [low_income])
    assert not rich.eligible and rich.near_miss


def test_explanation_of_a_miss_is_the_nearest_child() -> None:
    rule = "child.age < 3 and child.disability and child.daycare == 'applying'"
    p = program("care", rule, per_child=True)
    ctx = derive(
        FamilyInput.model_validate(
            {
                "municipality": "131130",
                "children": [
                    {"birth_date": "2015-01-01"},  # fails all three
                    {"birth_date": "2025-01-01", "disability": True},  # fails only daycare
                ],
            }
        ),
        ON,
    )
    (match,) = evaluate_family(ctx, [p])
    assert not match.eligible and match.near_miss
    assert match.explanation.failed == ["child.daycare == 'applying'"]


def test_evaluate_population_matches_evaluate_family() -> None:
    families = [context(*THREE), context("2015-05-01"), context(), context("2025-01-01")]
    for p in (THIRD_CHILD, UNDER_THREE, BIG_FAMILY):
        expected = [
            m.children if p.per_child else m.eligible
            for m in (evaluate_family(ctx, [p])[0] for ctx in families)
        ]
        assert evaluate_population(p, families) == expected
    assert evaluate_population(UNDER_THREE, families) == [[0], [], [], [0]]
    assert evaluate_population(BIG_FAMILY, families) == [True, False, False, False]


def test_program_kind_must_match_its_rule() -> None:
    with pytest.raises(ValueError, match="per_child"):
        CompiledProgram(
            id="x", rule=compile_rule("child_count > 1", per_child=False), per_child=True
        )
