"""Rules that could hold the server are refused when compiled, naming the clause."""

from __future__ import annotations

import pickle
from datetime import date

import pytest

from rules.cost import MAX_WORK, regex_problem
from rules.evaluate import CompiledProgram, evaluate_family
from rules.language import RuleError, RuleTooCostly, compile_rule
from rules.profile import FamilyInput, derive

# Python's backtracking `re` takes seconds on this (doubling per added "c"); the probe.
CATASTROPHIC = "'ccccccccccccccccccccccccccc!' =~ '(c+)+$'"
NESTED_3 = (
    "[a for a in children if [b for b in children if "
    "[c for c in children if c.age < b.age].length > 0].length > 0].length > 0"
)
NESTED_2 = "[a for a in children if [b for b in children if b.age < a.age].length > 0].length > 0"


def _family_of_20() -> dict[str, object]:
    children = [{"birth_date": date(2008 + i % 18, 1 + i % 12, 1)} for i in range(20)]
    return derive(FamilyInput(municipality="131130", children=children), date(2026, 11, 26))


def test_catastrophic_regex_is_refused_before_anything_matches_it() -> None:
    with pytest.raises(RuleTooCostly) as caught:
        compile_rule(CATASTROPHIC, per_child=False)
    assert caught.value.clause == CATASTROPHIC
    assert "(c+)+$" in caught.value.message and "rule too costly" in caught.value.message


def test_the_refused_pattern_names_its_own_clause() -> None:
    expression = f"municipality =~ '^13' and {CATASTROPHIC} and language =~ 'j'"
    with pytest.raises(RuleTooCostly) as caught:
        compile_rule(expression, per_child=False)
    assert caught.value.clause == CATASTROPHIC


def test_a_pattern_built_from_pieces_is_checked_too() -> None:
    expression = "pregnant and 'ccccccccccccccccccccccccccc!' =~ ('(c+)' + '+$')"
    with pytest.raises(RuleTooCostly) as caught:
        compile_rule(expression, per_child=False)
    assert caught.value.clause.startswith("'cccc")


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a)\1", "back-references"),
        (r"^(?=13)", "look-around"),
        (r"(\d+)*$", "repeats a repetition"),
        (r"(a|b+){2,}", "repeats a repetition"),
        (r"[", "not a valid regular expression"),
    ],
)
def test_patterns_that_need_backtracking_are_refused(pattern: str, why: str) -> None:
    assert why in (regex_problem(pattern) or "")
    with pytest.raises(RuleTooCostly):
        compile_rule(f"municipality =~ {pattern!r}", per_child=False)


def test_linear_patterns_still_match() -> None:
    rule = compile_rule("municipality =~ '^1311' and language !~ 'e'", per_child=False)
    assert rule.evaluate({"municipality": "131130", "language": "ja", "children": []})
    assert not rule.evaluate({"municipality": "132012", "language": "ja", "children": []})
    searching = compile_rule("municipality =~~ '30$'", per_child=False)
    assert searching.evaluate({"municipality": "131130", "children": []})


def test_a_pattern_must_be_written_in_the_rule() -> None:
    with pytest.raises(RuleTooCostly) as caught:
        compile_rule("municipality =~ language", per_child=False)
    assert "written in the rule" in caught.value.reason


def test_comprehensions_nest_at_most_two_deep() -> None:
    with pytest.raises(RuleTooCostly) as caught:
        compile_rule(NESTED_3, per_child=False)
    assert "nested more than 2 deep" in caught.value.reason
    assert caught.value.clause == NESTED_3
    compile_rule(NESTED_2, per_child=False)  # two levels over 20 children: allowed


def test_work_per_family_is_bounded_and_the_costly_clause_named() -> None:
    # Per child, the same pairwise comparison runs 20 x 20 x 20 times for a family of 20.
    expression = f"municipality == '131130' and {NESTED_2}"
    with pytest.raises(RuleTooCostly) as caught:
        compile_rule(expression, per_child=True)
    assert caught.value.clause == NESTED_2
    assert f"at most {MAX_WORK}" in caught.value.reason
    assert caught.value.details[0]["suggestion"]


@pytest.mark.parametrize("builtin", ["$range(100000)", "$split(municipality)"])
def test_builtins_that_build_lists_of_any_size_are_refused(builtin: str) -> None:
    with pytest.raises(RuleTooCostly, match="not available"):
        compile_rule(f"{builtin}.length > 1", per_child=False)


def test_accepted_rules_stay_within_the_bound_and_give_the_same_answers() -> None:
    rule = compile_rule(NESTED_2, per_child=False)
    assert 0 < rule.work <= MAX_WORK
    program = CompiledProgram(id="p", rule=rule, per_child=False)
    assert evaluate_family(_family_of_20(), [program])[0].eligible


def test_refusal_survives_a_trip_to_a_worker_process() -> None:
    with pytest.raises(RuleTooCostly) as caught:
        compile_rule(CATASTROPHIC, per_child=False)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert isinstance(copy, RuleError)
    assert (copy.clause, copy.reason, copy.details) == (
        caught.value.clause,
        caught.value.reason,
        caught.value.details,
    )


def test_everyday_rules_are_far_from_the_bound() -> None:
    codes = "'131130', '131016', '132012'"
    everyday = [
        (f"municipality in [{codes}] and child.age < 3 and '13' in prefecture", True),
        ("[c for c in children if c.grade != null and c.grade >= 1].length >= 1", True),
        ("$any([c.age < 3 for c in children]) and (household_income ?? 0) < 5000000", False),
    ]
    for expression, per_child in everyday:
        assert compile_rule(expression, per_child=per_child).work <= MAX_WORK, expression
