from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import FamilyInput, RuleError, compile_rule, derive
from rules.language import MAX_EXPRESSION_LENGTH

ON = date(2026, 5, 1)


def context(**family: Any) -> dict[str, Any]:
    payload = {"municipality": "131130", "children": [{"birth_date": "2024-04-02"}], **family}
    return derive(FamilyInput.model_validate(payload), ON)


def reject(expression: str, *, per_child: bool = False) -> dict[str, Any]:
    with pytest.raises(RuleError) as info:
        compile_rule(expression, per_child=per_child)
    error = info.value
    assert error.details and error.message == error.details[0]["reason"]
    return error.details[0]


# -- compile errors -------------------------------------------------------------------------


def test_syntax_error_says_where() -> None:
    detail = reject("child.age >= 3 and\n  child.age <= )", per_child=True)
    assert detail["location"] == "eligibility:2:16"
    assert "line 2, column 16" in detail["reason"]


def test_syntax_error_hints_at_common_mistakes() -> None:
    assert "'and'" in reject("child.age >= 3 && true", per_child=True)["suggestion"]
    assert "'=='" in reject("child.age = 3", per_child=True)["suggestion"]


def test_unknown_field_suggests_the_nearest_name() -> None:
    detail = reject("child.class_ag <= 18", per_child=True)
    assert detail["reason"] == "unknown field 'class_ag'; did you mean 'class_age'?"
    assert detail["suggestion"] == "class_age"
    detail = reject("houshold_income < 5000000")
    assert detail["reason"] == "unknown field 'houshold_income'; did you mean 'household_income'?"
    # a child field written without `child.` in a per-child rule
    assert reject("class_age <= 18", per_child=True)["suggestion"] == "child.class_age"
    assert "lower case" in reject("pregnant == True")["suggestion"]


def test_type_mismatch_names_field_and_types() -> None:
    detail = reject("child.class_age == '3'", per_child=True)
    assert detail["reason"] == (
        "type mismatch: child.class_age is a number (FLOAT) but '3' is a string (STRING)"
    )
    assert detail["suggestion"] == "write the number without quotes: 3"
    assert (
        "child.class_age is a number" in reject("child.class_age > '3'", per_child=True)["reason"]
    )
    assert "d'2026-04-01'" in reject("today >= '2026-04-01'")["suggestion"]
    assert "list of numbers" in reject("child.daycare in [1, 2]", per_child=True)["reason"]


def test_child_is_only_available_in_per_child_rules() -> None:
    detail = reject("child.age < 3")
    assert detail["reason"] == "'child' is only available in per-child rules"
    assert "per-child" in reject("class_age <= 18")["reason"]


def test_other_compile_errors() -> None:
    assert reject("   ")["reason"] == "the rule is empty"
    long_rule = " or ".join(["child_count >= 1"] * 300)
    assert len(long_rule) > MAX_EXPRESSION_LENGTH
    assert "at most 4000" in reject(long_rule)["reason"]
    assert "enrolled" in reject("child.daycare == 'enroled'", per_child=True)["suggestion"]
    assert reject("municipality == '13113'")["suggestion"] == "did you mean '131130'?"
    assert "condition" in reject("child_count + 1")["reason"]
    assert "real clock" in reject("$today >= d'2026-04-01'")["reason"]
    assert reject("child['age'] > 3", per_child=True)["suggestion"] == "child.age"
    assert "(field ?? default)" in reject("child.grade ?? 0 >= 1", per_child=True)["suggestion"]


def test_compiled_rules_are_cached() -> None:
    a = compile_rule("child_count >= 3", per_child=False)
    assert compile_rule("child_count >= 3", per_child=False) is a
    assert compile_rule("child_count >= 3", per_child=True) is not a


def test_fields_lists_what_the_rule_reads() -> None:
    rule = compile_rule(
        "child.age < 3 and household_income < 1 and [c for c in children if c.grade == 1]",
        per_child=True,
    )
    assert rule.fields == {"child.age", "household_income", "children", "child.grade"}


# -- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("today >= d'2026-05-01'", True),  # midnight Tokyo on both sides
        ("today > d'2026-05-01'", False),
        ("today == d'2026-05-01'", True),
        ("today - child.birth_date >= t'P759D'", True),  # 2024-04-02 → 2026-05-01
        ("child.birth_date < d'2024-04-02 00:00:01'", True),
    ],
)
def test_dates_are_midnight_in_tokyo(expression: str, expected: bool) -> None:
    ctx = context()
    assert compile_rule(expression, per_child=True).evaluate(ctx, ctx["children"][0]) is expected


# -- null semantics -------------------------------------------------------------------------

NULL_TABLE = [
    # (rule, income, single_parent, expected three-valued result)
    ("household_income < 5000000", None, None, None),
    ("household_income >= 5000000", None, None, None),
    ("not (household_income >= 5000000)", None, None, None),
    ("household_income == 4000000", None, None, None),
    ("household_income != 4000000", None, None, None),
    ("household_income == null", None, None, True),
    ("household_income != null", None, None, False),
    ("household_income != null", 1, None, True),
    ("(household_income ?? 0) < 5000000", None, None, True),
    ("household_income < 5000000", 4_000_000, None, True),
    ("single_parent", None, None, None),
    ("not single_parent", None, None, None),
    ("single_parent == false", None, None, None),
    # Kleene: false and unknown = false, true or unknown = true
    ("child_count == 0 and household_income < 5000000", None, None, False),
    ("child_count == 1 and household_income < 5000000", None, None, None),
    ("child_count == 1 or household_income < 5000000", None, None, True),
    ("child_count == 0 or household_income < 5000000", None, None, None),
    ("not (child_count == 0 and single_parent)", None, None, True),
    ("not (child_count == 1 and single_parent)", None, None, None),
    ("(single_parent or household_income < 3000000) and child_count >= 1", None, True, True),
    ("(single_parent or household_income < 3000000) and child_count >= 1", None, False, None),
    ("(single_parent or household_income < 3000000) and child_count >= 1", 1, False, True),
    # ternaries: an unknown condition is unknown unless both branches agree
    ("(single_parent ? 1 : 2) == 1", None, None, None),
    ("(single_parent ? 1 : 1) == 1", None, None, True),
    ("single_parent ? true : household_income < 5", None, None, None),
    ("single_parent ? true : household_income < 5", None, True, True),
    # Kleene, not case analysis: the ternary's value is unknown, so is the comparison
    ("(household_income > 3000000 ? 10000 : 20000) >= 10000", None, None, None),
    # membership, regex and arithmetic on null
    ("language in ['ja', 'en']", None, None, True),
    ("resident_tax_exempt in [true]", None, None, None),
    ("household_income + 1 > 0", None, None, None),
    ("household_income / 12 <= 100000", 1_200_000, None, True),
]


@pytest.mark.parametrize(("expression", "income", "single", "expected"), NULL_TABLE)
def test_null_semantics(expression: str, income: Any, single: Any, expected: Any) -> None:
    rule = compile_rule(expression, per_child=False)
    ctx = context(household_income=income, single_parent=single)
    assert rule.truth(ctx) is expected
    assert rule.evaluate(ctx) is (expected is True)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # grade is null before school: comparing it is unknown, guarding it is definite
        ("[c for c in children if c.grade >= 1].length >= 1", None),
        ("[c for c in children if c.grade != null and c.grade >= 1].length >= 1", False),
        ("[c for c in children if c.age < 3].length == 1", True),
        ("children.length == 1 and children[0].grade == null", True),
        ("child.grade <= 6", None),
        ("(child.grade ?? 0) <= 6", True),
        ("child.grade == null or child.grade <= 6", True),
    ],
)
def test_nulls_inside_child_fields_and_comprehensions(expression: str, expected: Any) -> None:
    ctx = context()
    assert compile_rule(expression, per_child=True).truth(ctx, ctx["children"][0]) is expected


def test_runtime_errors_are_unknown_not_exceptions() -> None:
    ctx = context()
    rule = compile_rule("children[3].age > 1", per_child=False)
    assert rule.truth(ctx) is None
    assert rule.evaluate(ctx) is False
    assert compile_rule("child_count >= 1", per_child=False).truth({"language": "ja"}) is None


def test_per_child_rule_needs_a_child() -> None:
    with pytest.raises(ValueError, match="needs a child"):
        compile_rule("child.age < 3", per_child=True).evaluate(context())


# -- explanations ---------------------------------------------------------------------------


def test_explain_classifies_each_top_level_conjunct() -> None:
    rule = compile_rule(
        "child.age < 3 and\n  (single_parent or resident_tax_exempt)\n"
        "  and child.daycare == 'enrolled'  # 保育料無償化",
        per_child=True,
    )
    ctx = context()
    explanation = rule.explain(ctx, ctx["children"][0])
    assert explanation.result is False
    assert explanation.held == ["child.age < 3"]
    assert explanation.unknown == ["(single_parent or resident_tax_exempt)"]
    assert explanation.failed == ["child.daycare == 'enrolled'"]


@pytest.mark.parametrize(
    ("expression", "conjuncts"),
    [
        ("child_count >= 1 or pregnant and language == 'ja'", 1),  # top level is `or`
        ("(child_count >= 1 and pregnant) and language == 'ja'", 2),
        ("language =~ 'band and more' or pregnant", 1),
        ("language =~ 'and (and)' and pregnant", 2),
        ("[c for c in children if c.age < 3 and c.disability].length > 0 and pregnant", 2),
        ("pregnant ? child_count > 0 : child_count > 1 and language == 'ja'", 1),
    ],
)
def test_conjuncts_follow_the_parse_tree(expression: str, conjuncts: int) -> None:
    assert len(compile_rule(expression, per_child=False).conjuncts) == conjuncts


def test_explanation_agrees_with_evaluation() -> None:
    ctx = context(household_income=None)
    for expression, *_ in NULL_TABLE:
        rule = compile_rule(expression, per_child=False)
        assert rule.explain(ctx).result is rule.truth(ctx), expression


# -- property: the evaluator is Kleene logic over unknown atoms -----------------------------

ATOMS = {
    # rule text → how to read its three-valued truth from the family
    "single_parent": lambda f: f["single_parent"],
    "resident_tax_exempt": lambda f: f["resident_tax_exempt"],
    "household_income < 5000000": lambda f: (
        None if f["household_income"] is None else f["household_income"] < 5_000_000
    ),
    "public_assistance == false": lambda f: (
        None if f["public_assistance"] is None else not f["public_assistance"]
    ),
}


def _kleene(tree: Any, fam: dict[str, Any]) -> bool | None:
    op = tree[0]
    if op == "atom":
        return ATOMS[tree[1]](fam)
    if op == "not":
        v = _kleene(tree[1], fam)
        return None if v is None else not v
    if op == "if":
        c, a, b = (_kleene(t, fam) for t in tree[1:])
        return a if c is True else b if c is False else (a if a == b and a is not None else None)
    a, b = _kleene(tree[1], fam), _kleene(tree[2], fam)
    if op == "and":
        return False if False in (a, b) else None if None in (a, b) else True
    return True if True in (a, b) else None if None in (a, b) else False


def _text(tree: Any) -> str:
    op = tree[0]
    if op == "atom":
        return f"({tree[1]})"
    if op == "not":
        return f"(not {_text(tree[1])})"
    if op == "if":
        return f"({_text(tree[1])} ? {_text(tree[2])} : {_text(tree[3])})"
    return f"({_text(tree[1])} {op} {_text(tree[2])})"


formulas = st.recursive(
    st.sampled_from(sorted(ATOMS)).map(lambda a: ("atom", a)),
    lambda sub: st.one_of(
        st.tuples(st.just("not"), sub),
        st.tuples(st.sampled_from(["and", "or"]), sub, sub),
        st.tuples(st.just("if"), sub, sub, sub),
    ),
    max_leaves=6,
)
tri = st.sampled_from([True, False, None])


@settings(max_examples=300)
@given(
    formulas,
    tri,
    tri,
    st.sampled_from([None, 1_000_000, 9_000_000]),
    tri,
)
def test_nested_logic_is_kleene(
    tree: Any, single: Any, exempt: Any, income: Any, assistance: Any
) -> None:
    fam = {
        "single_parent": single,
        "resident_tax_exempt": exempt,
        "household_income": income,
        "public_assistance": assistance,
    }
    rule = compile_rule(_text(tree), per_child=False)
    assert rule.truth(context(**fam)) is _kleene(tree, fam)
