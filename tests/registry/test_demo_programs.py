"""The hand-written demo programs: schema, rules that compile, and every example holding.

OpenFisca-style: each program in `hagukumi/demo/programs.yaml` carries example families with the
expected eligibility on a date; this test evaluates them through the real rule engine
(`rules.profile.derive` + `rules.evaluate.evaluate_family`). For a per-child program "eligible"
means that at least one child qualifies.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from registry.schemas import ProgramIn
from rules.evaluate import CompiledProgram, evaluate_family
from rules.language import compile_rule
from rules.lgcode import NATION, is_prefecture_code, is_valid_lgcode
from rules.profile import FamilyInput, derive

PROGRAMS_YAML = Path(__file__).resolve().parents[2] / "hagukumi" / "demo" / "programs.yaml"
TOKYO = "130001"
KEYS = {
    "issuer",
    "name",
    "summary",
    "category",
    "eligibility",
    "per_child",
    "benefit",
    "reference_url",
    "application",
    "valid_from",
    "valid_to",
    "examples",
}
CATEGORIES = {
    "allowance",
    "medical",
    "health-checkup",
    "vaccination",
    "pregnancy",
    "birth",
    "daycare",
    "after-school",
    "single-parent",
    "gift",
    "consultation",
}


def _load() -> list[dict[str, Any]]:
    items = yaml.safe_load(PROGRAMS_YAML.read_text(encoding="utf-8"))
    assert isinstance(items, list), "programs.yaml must be a YAML list"
    return items


PROGRAMS = _load()
EXAMPLES = [
    (program, index, example)
    for program in PROGRAMS
    for index, example in enumerate(program.get("examples") or [])
]


def _pid(program: dict[str, Any]) -> str:
    return f"{program['issuer']}:{program['name']['ja']}"


def _exid(case: tuple[dict[str, Any], int, dict[str, Any]]) -> str:
    program, index, _ = case
    return f"{_pid(program)}#{index}"


def _as_date(value: Any) -> date:
    # PyYAML reads an unquoted 2026-11-26 as a date and a quoted one as a string.
    return value if isinstance(value, date) else date.fromisoformat(value)


def test_enough_programs_with_unique_names() -> None:
    assert len(PROGRAMS) >= 16
    names = [p["name"]["ja"] for p in PROGRAMS]
    assert len(names) == len(set(names)), "program names (ja) must be unique"


def test_every_level_is_covered() -> None:
    issuers = {p["issuer"] for p in PROGRAMS}
    assert {NATION, TOKYO, "131130", "132012"} <= issuers


@pytest.mark.parametrize("program", PROGRAMS, ids=_pid)
def test_program_has_exactly_the_input_keys(program: dict[str, Any]) -> None:
    assert set(program) == KEYS
    assert set(program["name"]) == {"ja", "en"} and program["name"]["en"]
    assert set(program["summary"]) == {"ja", "en"} and program["summary"]["en"]
    assert set(program["application"]) == {"url", "deadline", "deadline_days_after_birth"}
    assert set(program["category"]) <= CATEGORIES, program["category"]
    assert program["category"], "at least one category"


@pytest.mark.parametrize("program", PROGRAMS, ids=_pid)
def test_program_is_a_valid_api_input(program: dict[str, Any]) -> None:
    parsed = ProgramIn.model_validate(program)
    assert is_valid_lgcode(parsed.issuer)
    assert parsed.reference_url and parsed.reference_url.startswith("https://")
    if parsed.application.url is not None:
        assert parsed.application.url.startswith("https://")


@pytest.mark.parametrize("program", PROGRAMS, ids=_pid)
def test_rule_compiles(program: dict[str, Any]) -> None:
    rule = compile_rule(program["eligibility"], per_child=program["per_child"])
    assert rule.per_child is program["per_child"]
    uses_child = re.search(r"\bchild\.", program["eligibility"]) is not None
    assert uses_child == program["per_child"], "per-child programs, and only they, use child."


@pytest.mark.parametrize("program", PROGRAMS, ids=_pid)
def test_rule_is_restricted_to_the_issuer(program: dict[str, Any]) -> None:
    rule = program["eligibility"]
    issuer = program["issuer"]
    municipal = re.findall(r'municipality\s*==\s*["\'](\d{6})["\']', rule)
    prefectural = re.findall(r'prefecture\s*==\s*["\'](\d{6})["\']', rule)
    if issuer == NATION:
        assert not municipal and not prefectural, "national programs apply everywhere"
        return
    field = "prefecture" if is_prefecture_code(issuer) else "municipality"
    assert (prefectural, municipal) == (
        ([issuer], []) if field == "prefecture" else ([], [issuer])
    )
    # The restriction is a top-level conjunct, so no `or` can bypass it.
    conjuncts = compile_rule(rule, per_child=program["per_child"]).conjuncts
    assert any(re.fullmatch(rf'{field}\s*==\s*"{issuer}"', c) for c in conjuncts), conjuncts


@pytest.mark.parametrize("program", PROGRAMS, ids=_pid)
def test_examples_cover_both_outcomes(program: dict[str, Any]) -> None:
    outcomes = [example["eligible"] for example in program["examples"]]
    assert len(outcomes) >= 2
    assert True in outcomes and False in outcomes


@pytest.mark.parametrize("program", [p for p in PROGRAMS if p["issuer"] != NATION], ids=_pid)
def test_a_family_elsewhere_is_not_eligible(program: dict[str, Any]) -> None:
    """Local programs: an otherwise eligible example family moved out of the area fails."""
    rule = compile_rule(program["eligibility"], per_child=program["per_child"])
    compiled = CompiledProgram(id="p", rule=rule, per_child=program["per_child"])
    # Yokohama (141003) is outside Tokyo; Chiyoda (131016) is in Tokyo but none of our cities.
    elsewhere = "141003" if program["issuer"] == TOKYO else "131016"
    positives = [e for e in program["examples"] if e["eligible"]]
    for example in positives:
        family = FamilyInput.model_validate({**example["family"], "municipality": elsewhere})
        context = derive(family, _as_date(example["date"]))
        assert not evaluate_family(context, [compiled])[0].eligible


@pytest.mark.parametrize("case", EXAMPLES, ids=_exid)
def test_example(case: tuple[dict[str, Any], int, dict[str, Any]]) -> None:
    program, _, example = case
    rule = compile_rule(program["eligibility"], per_child=program["per_child"])
    compiled = CompiledProgram(id=_pid(program), rule=rule, per_child=program["per_child"])
    family = FamilyInput.model_validate(example["family"])
    context = derive(family, _as_date(example["date"]))
    match = evaluate_family(context, [compiled])[0]
    assert match.eligible is example["eligible"], (
        f"expected eligible={example['eligible']} on {example['date']} "
        f"({example.get('note') or 'no note'}); explanation: {match.explanation}"
    )
    if program["per_child"]:
        assert bool(match.children) is example["eligible"]
