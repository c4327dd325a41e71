"""The column engine (rules.columns): edge cases by hand, fallbacks, derived columns."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest

from rules import CompiledProgram, FamilyInput, age_months, age_years, compile_rule, derive
from rules.columns import (
    NotVectorised,
    age_columns,
    build_columns,
    compile_columns,
    derive_columns,
    fallback_reason,
)
from rules.evaluate import _evaluate_one, evaluate_columns, evaluate_population

ON = date(2026, 11, 26)


def program(expression: str, *, per_child: bool = False) -> CompiledProgram:
    return CompiledProgram(expression, compile_rule(expression, per_child=per_child), per_child)


def context(*births: str, on: date = ON, **family: Any) -> dict[str, Any]:
    payload = {"municipality": "131130", "children": [{"birth_date": b} for b in births]}
    return derive(FamilyInput.model_validate({**payload, **family}), on)


def same_as_per_family(p: CompiledProgram, contexts: list[dict[str, Any]]) -> list[Any]:
    expected = [_evaluate_one(p, c) for c in contexts]
    assert evaluate_population(p, contexts) == expected
    return expected


@pytest.mark.parametrize(
    ("birth", "on", "months", "years"),
    [
        ("2024-01-31", "2024-02-29", 0, 0),  # no Feb 31: the month completes on March 1
        ("2024-01-31", "2024-03-01", 1, 0),
        ("2020-02-29", "2021-02-28", 11, 0),  # no Feb 29: the year completes on March 1
        ("2020-02-29", "2021-03-01", 12, 1),
        ("2020-02-29", "2024-02-29", 48, 4),
        ("2025-11-26", "2026-11-26", 12, 1),  # birthday today: a year older from its start
        ("2026-11-26", "2026-11-26", 0, 0),  # born today
        ("2025-08-31", "2025-09-30", 0, 0),
        ("2025-08-31", "2025-10-01", 1, 0),
    ],
)
def test_ages_on_columns_follow_the_civil_code(
    birth: str, on: str, months: int, years: int
) -> None:
    born, day = date.fromisoformat(birth), date.fromisoformat(on)
    assert (age_months(born, day), age_years(born, day)) == (months, years)  # the reference
    ages = age_columns(np.array([born.toordinal()]), day.toordinal())
    assert ages["age_months"].tolist() == [months]
    assert ages["age"].tolist() == [years]


def test_class_age_april_first_belongs_to_the_earlier_grade() -> None:
    births = [date(2008, 4, 1), date(2008, 4, 2), date(2009, 4, 1)]
    ages = age_columns(np.array([b.toordinal() for b in births]), ON.toordinal())
    assert ages["class_age"].tolist() == [18, 17, 17]
    p = program("child.class_age <= 17", per_child=True)
    assert same_as_per_family(p, [context("2008-04-01", "2008-04-02", "2009-04-01")]) == [[1, 2]]


def test_born_after_the_evaluation_date_is_refused() -> None:
    with pytest.raises(ValueError, match="born after"):
        age_columns(np.array([ON.toordinal() + 1]), ON.toordinal())


def test_unknown_is_not_eligible_either_way() -> None:
    contexts = [context("2020-01-01"), context("2020-01-01", household_income=9_000_000)]
    assert same_as_per_family(program("household_income < 5000000"), contexts) == [False, False]
    assert same_as_per_family(program("not (household_income >= 5000000)"), contexts) == [
        False,
        False,
    ]
    assert same_as_per_family(program("(household_income ?? 0) < 5000000"), contexts) == [
        True,
        False,
    ]
    assert same_as_per_family(program("household_income == null"), contexts) == [True, False]


def test_comprehensions_are_grouped_per_family() -> None:
    contexts = [
        context(),
        context("2025-01-01"),
        context("2025-01-01", "2024-06-01", "2010-01-01"),
    ]
    p = program("[c for c in children if c.age < 3].length >= 2")
    assert same_as_per_family(p, contexts) == [False, False, True]
    # a filter unknown for one child (grade is null before school) makes the count unknown
    p = program("[c for c in children if c.grade >= 1].length >= 1")
    assert same_as_per_family(p, contexts) == [False, False, False]
    p = program("$any([c.age >= 10 for c in children]) and $max([c.age for c in children]) > 15")
    assert same_as_per_family(p, contexts) == [False, False, True]


def test_per_child_rules_broadcast_household_fields() -> None:
    contexts = [
        context("2025-01-01", "2010-01-01", single_parent=True),
        context("2025-01-01", single_parent=None),
        context(),
    ]
    p = program("single_parent == true and child.age < 3", per_child=True)
    assert same_as_per_family(p, contexts) == [[0], [], []]
    p = program("child.birth_order == children.length", per_child=True)
    assert same_as_per_family(p, contexts) == [[0], [0], []]


def test_dates_and_durations_are_day_numbers() -> None:
    contexts = [context("2026-11-12"), context("2026-11-11"), context(pregnant=True)]
    p = program("today - child.birth_date <= t'P14D'", per_child=True)
    assert same_as_per_family(p, contexts) == [[0], [], []]
    p = program("child.birth_date >= d'2026-11-12'", per_child=True)
    assert same_as_per_family(p, contexts) == [[0], [], []]


def test_unsupported_rules_fall_back_and_are_counted() -> None:
    p = program("household_income / 3 > 1000000")
    assert fallback_reason(p.rule) == "the operation tdiv (not exact in float64)"
    contexts = [context(household_income=3_000_003), context(household_income=3_000_000)]
    columns = build_columns(contexts)
    assert evaluate_columns(p, columns).tolist() == [True, False]
    assert columns.fallbacks == {"the operation tdiv (not exact in float64)": 1}
    assert same_as_per_family(p, contexts) == [True, False]
    assert fallback_reason(program("child_count >= 3").rule) is None


def test_numbers_beyond_float64_precision_fall_back_at_run_time() -> None:
    p = program("household_income * 100000000000 > 1")
    contexts = [context(household_income=9_000_000), context()]
    with pytest.raises(NotVectorised, match="2\\*\\*53"):
        compile_columns(p.rule).holds(build_columns(contexts))
    assert same_as_per_family(p, contexts) == [True, False]


def test_irregular_contexts_fall_back() -> None:
    regular = context("2020-01-01")
    irregular = {**regular, "household_income": 1.5}
    p = program("household_income > 1")
    columns = build_columns([regular, irregular])
    assert evaluate_columns(p, columns).tolist() == [False, True]
    assert list(columns.fallbacks) == ["irregular context: household_income holds float"]
    assert same_as_per_family(p, [regular, irregular]) == [False, True]


def test_derived_columns_are_the_derived_contexts() -> None:
    families = [
        FamilyInput.model_validate(f)
        for f in (
            {
                "municipality": "132012",
                "children": [
                    {"birth_date": "2024-02-29", "daycare": "enrolled"},
                    {"birth_date": "2010-04-01", "disability": True},
                    {"birth_date": "2024-02-29"},
                ],
                "pregnant": True,
                "due_date": "2027-01-10",
                "household_income": 4_000_000,
            },
            {"municipality": "131130", "single_parent": False, "language": "en"},
        )
    ]
    households = {
        name: [getattr(f, name) for f in families]
        for name in (
            "municipality",
            "pregnant",
            "due_date",
            "single_parent",
            "household_income",
            "resident_tax_exempt",
            "public_assistance",
            "language",
        )
    }
    kids = [(row, c) for row, f in enumerate(families) for c in f.children]
    children = {
        "family": [row for row, _ in kids],
        "birth_date": [c.birth_date.toordinal() for _, c in kids],
        "disability": [c.disability for _, c in kids],
        "daycare": [c.daycare for _, c in kids],
    }
    columns = derive_columns(ON, households, children)
    assert list(columns.contexts) == [derive(f, ON) for f in families]


def test_children_by_position() -> None:
    contexts = [context(), context("2025-01-01"), context("2025-01-01", "2015-06-01")]
    assert same_as_per_family(program("children[0].age < 3"), contexts) == [False, True, True]
    assert same_as_per_family(program("children[-1].age >= 10"), contexts) == [False, False, True]
    # out of range: UNKNOWN with children[k], null with children&[k]&.field
    p = program("children&[1]&.grade == null")
    assert same_as_per_family(p, contexts) == [True, True, False]
    p = program("children[1].grade == null")
    assert same_as_per_family(p, contexts) == [False, False, False]


def test_membership_in_a_list_over_children() -> None:
    contexts = [context(), context("2025-01-01"), context("2023-01-01", "2015-06-01")]
    p = program("3 in [c.age for c in children]")
    assert same_as_per_family(p, contexts) == [False, False, True]
    # a null item (grade before school) leaves a miss unknown, never false
    p = program("not (6 in [c.grade for c in children])")
    assert same_as_per_family(p, contexts) == [True, False, False]
    p = program("child.age in [c.age for c in children]", per_child=True)
    assert fallback_reason(p.rule) is not None
    assert same_as_per_family(p, contexts) == [[], [0], [0, 1]]
