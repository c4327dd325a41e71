"""Differential test: the column engine answers exactly what the per-family path answers.

Random rules over the whole vocabulary (every operator, null, `??`, comprehensions, dates and
durations, a few constructs that fall back) on random populations with the age edge cases
(February 29, the 31st, April 1 and 2, born today, birthdays today, unknown fields).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rules import CompiledProgram, FamilyInput, RuleError, compile_rule, derive
from rules.columns import build_columns, derive_columns
from rules.evaluate import _evaluate_one, _per_family, evaluate_columns, evaluate_population

DAYS = [
    date(2024, 2, 29),
    date(2025, 2, 28),
    date(2025, 3, 1),
    date(2025, 3, 31),
    date(2025, 4, 1),
    date(2025, 4, 2),
    date(2026, 1, 31),
    date(2026, 2, 28),
    date(2026, 3, 1),
    date(2026, 3, 31),
    date(2026, 4, 1),
    date(2026, 11, 26),
    date(2028, 2, 29),
]
"""Evaluation dates: month ends, leap days, the fiscal year's first days."""

MUNICIPALITIES = ["131130", "132012", "131016"]
FIELDS_NUM = [
    "child_count",
    "youngest_age",
    "oldest_age",
    "household_income",
    "fiscal_year",
]
CHILD_NUM = ["age", "age_months", "class_age", "grade", "birth_order", "index"]
FIELDS_BOOL = ["pregnant", "single_parent", "resident_tax_exempt", "public_assistance"]
STRINGS = {
    "municipality": MUNICIPALITIES,
    "prefecture": ["130001"],
    "language": ["ja", "en"],
}
DAYCARE = ["none", "applying", "enrolled"]


@st.composite
def birth_dates(draw: Any, on: date) -> date:
    """Birth dates around the edge cases: anniversaries of `on`, month ends, April 1/2."""
    choice = draw(st.integers(0, 4))
    if choice == 0:  # an anniversary of today, give or take a day
        years = draw(st.integers(0, 19))
        months = draw(st.integers(0, 11))
        y, m = divmod(on.month - 1 - months, 12)
        year, month = on.year - years + y, m + 1
        day = min(on.day, 28)
        born = date(year, month, day) + timedelta(days=draw(st.integers(-1, 1)))
    elif choice == 1:  # a month end or a leap day
        year = draw(st.integers(on.year - 19, on.year))
        month = draw(st.integers(1, 12))
        nxt = date(year + (month == 12), month % 12 + 1, 1)
        born = nxt - timedelta(days=draw(st.integers(1, 3)))
    elif choice == 2:  # April 1 / 2 (class age)
        born = date(draw(st.integers(on.year - 19, on.year)), 4, draw(st.integers(1, 2)))
    elif choice == 3:
        born = draw(st.sampled_from([date(2024, 2, 29), date(2020, 2, 29), date(2016, 2, 29)]))
    else:
        born = on - timedelta(days=draw(st.integers(0, 19 * 366)))
    return min(born, on)


@st.composite
def families(draw: Any, on: date) -> dict[str, Any]:
    children = [
        {
            "birth_date": draw(birth_dates(on)),
            "disability": draw(st.booleans()),
            "daycare": draw(st.sampled_from(DAYCARE)),
        }
        for _ in range(draw(st.integers(0, 4)))
    ]
    pregnant = draw(st.booleans())
    maybe = st.none() | st.booleans()
    return {
        "municipality": draw(st.sampled_from(MUNICIPALITIES)),
        "children": children,
        "pregnant": pregnant,
        "due_date": (
            draw(st.none() | st.just(on + timedelta(days=draw(st.integers(0, 280)))))
            if pregnant
            else None
        ),
        "single_parent": draw(maybe),
        "household_income": draw(st.none() | st.sampled_from([0, 3_684_000, 5_000_000])),
        "resident_tax_exempt": draw(maybe),
        "public_assistance": draw(maybe),
        "language": draw(st.sampled_from(["ja", "en"])),
    }


# -- random rules -------------------------------------------------------------------------------


def _child(scope: tuple[bool, bool]) -> str | None:
    """The name of a child in reach: the comprehension variable, or the program's child."""
    per_child, inside = scope
    if inside:
        return "c"
    return "child" if per_child else None


@st.composite
def num(draw: Any, scope: tuple[bool, bool], depth: int) -> str:
    child = _child(scope)
    options = ["field", "literal"]
    if child:
        options.append("child")
    if depth > 0:
        options += ["arith", "coalesce", "ternary", "date_part", "days", "neg", "abs"]
        if not scope[1]:
            options += ["length", "reduce"]
    pick = draw(st.sampled_from(options))
    if pick == "field":
        if not scope[1] and draw(st.integers(0, 5)) == 0:
            k = draw(st.sampled_from(["0", "1", "-1", "3"]))
            brackets = draw(st.sampled_from(["[", "&["]))
            dot = draw(st.sampled_from([".", "&."]))
            return f"children{brackets}{k}]{dot}{draw(st.sampled_from(CHILD_NUM))}"
        return draw(st.sampled_from(FIELDS_NUM))
    if pick == "child":
        return f"{child}.{draw(st.sampled_from(CHILD_NUM))}"
    if pick == "literal":
        return str(draw(st.sampled_from([0, 1, 2, 3, 5, 6, 12, 17, 18, 24, 3684000, 5000000])))
    if pick == "arith":
        op = draw(st.sampled_from(["+", "-", "*", "*", "/", "%"]))
        return f"({draw(num(scope, depth - 1))} {op} {draw(num(scope, depth - 1))})"
    if pick == "coalesce":
        return f"({draw(num(scope, depth - 1))} ?? {draw(num(scope, depth - 1))})"
    if pick == "ternary":
        return (
            f"({draw(boolean(scope, depth - 1))} ? {draw(num(scope, depth - 1))} "
            f": {draw(num(scope, depth - 1))})"
        )
    if pick == "date_part":
        part = draw(st.sampled_from(["year", "month", "day"]))
        dot = draw(st.sampled_from([".", "&."]))
        return f"{draw(dates(scope, depth - 1))}{dot}{part}"
    if pick == "days":
        return f"({draw(dates(scope, depth - 1))} - {draw(dates(scope, depth - 1))}).days"
    if pick == "neg":
        return f"-{draw(num(scope, depth - 1))}"
    if pick == "abs":
        return f"$abs({draw(num(scope, depth - 1))})"
    if pick == "length":
        return f"{draw(comprehension(scope, depth - 1, 'bool'))}.length"
    fn = draw(st.sampled_from(["sum", "min", "max"]))
    return f"${fn}({draw(comprehension(scope, depth - 1, 'num'))})"


@st.composite
def dates(draw: Any, scope: tuple[bool, bool], depth: int) -> str:
    child = _child(scope)
    options = ["today", "due_date", "literal"]
    if child:
        options.append("birth")
    if depth > 0:
        options.append("shift")
    pick = draw(st.sampled_from(options))
    if pick == "literal":
        return f"d'{draw(st.sampled_from(DAYS)).isoformat()}'"
    if pick == "birth":
        return f"{child}.birth_date"
    if pick == "shift":
        sign = draw(st.sampled_from(["+", "-"]))
        return f"({draw(dates(scope, depth - 1))} {sign} t'P{draw(st.integers(0, 400))}D')"
    return pick


@st.composite
def strings(draw: Any, scope: tuple[bool, bool]) -> tuple[str, list[str]]:
    child = _child(scope)
    names = list(STRINGS)
    if child:
        names.append("daycare")
    name = draw(st.sampled_from(names))
    if name == "daycare":
        return f"{child}.daycare", DAYCARE
    return name, STRINGS[name]


@st.composite
def boolean(draw: Any, scope: tuple[bool, bool], depth: int) -> str:
    child = _child(scope)
    options = ["field", "compare", "null_check", "string"]
    if child:
        options.append("disability")
    if depth > 0:
        options += ["and", "or", "not", "ternary", "coalesce", "in", "regex", "date_compare"]
        if not scope[1]:
            options += ["any_all", "is_empty"]
    pick = draw(st.sampled_from(options))
    if pick == "field":
        return draw(st.sampled_from([*FIELDS_BOOL, "true", "false", "null"]))
    if pick == "disability":
        return f"{child}.disability"
    if pick == "compare":
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return f"{draw(num(scope, max(depth - 1, 0)))} {op} {draw(num(scope, max(depth - 1, 0)))}"
    if pick == "date_compare":
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        if draw(st.booleans()):
            left = f"({draw(dates(scope, depth - 1))} - {draw(dates(scope, depth - 1))})"
            return f"{left} {op} t'P{draw(st.integers(0, 400))}D'"
        return f"{draw(dates(scope, depth - 1))} {op} {draw(dates(scope, depth - 1))}"
    if pick == "null_check":
        field = draw(
            st.sampled_from(
                ["household_income", "single_parent", "due_date", "youngest_age"]
                + ([f"{child}.grade"] if child else [])
            )
        )
        return f"{field} {draw(st.sampled_from(['==', '!=']))} null"
    if pick == "string":
        field, values = draw(strings(scope))
        op = draw(st.sampled_from(["==", "!=", "<", ">="]))
        return f"{field} {op} '{draw(st.sampled_from(values))}'"
    if pick == "regex":
        field, _ = draw(strings(scope))
        op = draw(st.sampled_from(["=~", "=~~", "!~", "!~~"]))
        return f"{field} {op} '{draw(st.sampled_from(['^13', 'e', 'n$', '1130']))}'"
    if pick == "in":
        if draw(st.booleans()):
            field, values = draw(strings(scope))
            members = draw(st.lists(st.sampled_from(values), max_size=3))
            items = [f"'{m}'" for m in members]
        else:
            field = draw(num(scope, depth - 1))
            items = [str(v) for v in draw(st.lists(st.integers(0, 6), max_size=3))]
        if draw(st.booleans()):
            items.append("null")
        if not scope[1] and draw(st.integers(0, 3)) == 0:
            listed = draw(comprehension(scope, depth - 1, "num"))
            member = draw(st.sampled_from(["null", "youngest_age", "3", "household_income"]))
            return f"{member} in {listed}"
        return f"{field} in [{', '.join(items)}]"
    if pick in ("and", "or"):
        return f"({draw(boolean(scope, depth - 1))} {pick} {draw(boolean(scope, depth - 1))})"
    if pick == "not":
        return f"not {draw(boolean(scope, depth - 1))}"
    if pick == "ternary":
        return (
            f"({draw(boolean(scope, depth - 1))} ? {draw(boolean(scope, depth - 1))} "
            f": {draw(boolean(scope, depth - 1))})"
        )
    if pick == "coalesce":
        return f"({draw(boolean(scope, depth - 1))} ?? {draw(boolean(scope, depth - 1))})"
    if pick == "is_empty":
        return f"{draw(comprehension(scope, depth - 1, 'bool'))}.is_empty"
    fn = draw(st.sampled_from(["any", "all"]))
    return f"${fn}({draw(comprehension(scope, depth - 1, 'bool'))})"


@st.composite
def comprehension(draw: Any, scope: tuple[bool, bool], depth: int, kind: str) -> str:
    inner = (scope[0], True)
    result = draw(num(inner, depth)) if kind == "num" else draw(boolean(inner, depth))
    condition = draw(st.none() | boolean(inner, depth))
    where = f" if {condition}" if condition is not None else ""
    return f"[{result} for c in children{where}]"


@st.composite
def rules(draw: Any) -> tuple[str, bool]:
    per_child = draw(st.booleans())
    return draw(boolean((per_child, False), 3)), per_child


# -- the test -----------------------------------------------------------------------------------


def _raw(population: list[FamilyInput]) -> tuple[dict[str, Any], dict[str, Any]]:
    households: dict[str, list[Any]] = {
        name: [getattr(f, name) for f in population]
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
    children: dict[str, list[Any]] = {
        "family": [],
        "birth_date": [],
        "disability": [],
        "daycare": [],
    }
    for row, family in enumerate(population):
        for child in family.children:
            children["family"].append(row)
            children["birth_date"].append(child.birth_date.toordinal())
            children["disability"].append(child.disability)
            children["daycare"].append(child.daycare)
    return households, children


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), rule=rules())
def test_columns_answer_what_the_per_family_path_answers(
    data: Any, rule: tuple[str, bool]
) -> None:
    expression, per_child = rule
    try:
        compiled = compile_rule(expression, per_child=per_child)
    except RuleError:
        assume(False)
        return
    program = CompiledProgram("p", compiled, per_child)
    on = data.draw(st.sampled_from(DAYS))
    population = [
        FamilyInput.model_validate(f) for f in data.draw(st.lists(families(on), max_size=6))
    ]
    contexts = [derive(f, on) for f in population]
    expected = [_evaluate_one(program, c) for c in contexts]
    assert evaluate_population(program, contexts) == expected, expression
    columns = build_columns(contexts)
    holds = evaluate_columns(program, columns)
    assert _per_family(program, columns, holds) == expected, expression
    # the columns derived from raw inputs (vectorised ages) answer the same
    derived = derive_columns(on, *_raw(population))
    derived_holds = evaluate_columns(program, derived)  # a fallback rebuilds the contexts
    assert _per_family(program, derived, derived_holds) == expected, expression


def test_vectorised_ages_match_rules_ages() -> None:
    from rules.ages import age_months, age_years, class_age, fiscal_year
    from rules.columns import age_columns

    births = [date(2020, 2, 29) + timedelta(days=i) for i in range(0, 2300, 7)]
    births += [date(2024, 1, 31), date(2020, 2, 29), date(2008, 4, 1), date(2008, 4, 2)]
    for on in [*DAYS, date(2024, 2, 29), date(2021, 2, 28), date(2021, 3, 1)]:
        born = [b for b in births if b <= on]
        ages = age_columns(np.array([b.toordinal() for b in born]), on.toordinal())
        assert ages["age"].tolist() == [age_years(b, on) for b in born]
        assert ages["age_months"].tolist() == [age_months(b, on) for b in born]
        fy = fiscal_year(on)
        assert ages["class_age"].tolist() == [class_age(b, fy) for b in born]


@settings(max_examples=300, deadline=None)
@given(
    births=st.lists(st.dates(date(1990, 1, 1), date(2030, 12, 31)), min_size=1, max_size=20),
    on=st.dates(date(1990, 1, 1), date(2030, 12, 31)),
)
def test_vectorised_ages_on_random_dates(births: list[date], on: date) -> None:
    from rules.ages import age_months, age_years, class_age, fiscal_year
    from rules.columns import age_columns

    born = [b for b in births if b <= on]
    ages = age_columns(np.array([b.toordinal() for b in born], dtype=np.int64), on.toordinal())
    assert ages["age"].tolist() == [age_years(b, on) for b in born]
    assert ages["age_months"].tolist() == [age_months(b, on) for b in born]
    assert ages["class_age"].tolist() == [class_age(b, fiscal_year(on)) for b in born]
