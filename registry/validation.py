"""Checking a program before it is saved or published: its rule compiles, its examples hold."""

from __future__ import annotations

from typing import Any

from registry.schemas import ExampleResult, ProgramIn, ValidationReport
from rules.evaluate import CompiledProgram, evaluate_family
from rules.language import RuleError, RuleTooCostly, compile_rule
from rules.profile import derive


def rule_errors(program: ProgramIn) -> list[dict[str, Any]]:
    """The problems of the program's rule, as error details (empty when it compiles).

    A rule too costly to run is not a detail: RuleTooCostly propagates (the API answers 422).
    """
    try:
        compile_rule(program.eligibility, per_child=program.per_child)
    except RuleTooCostly:
        raise
    except RuleError as exc:
        return [
            {**detail, "location": _field_location(detail.get("location"))}
            for detail in (exc.details or [{"reason": exc.message}])
        ]
    return []


def _field_location(location: Any) -> str:
    text = str(location or "eligibility")
    return text if text.startswith("eligibility") else f"eligibility:{text}"


def run_examples(program: ProgramIn) -> list[ExampleResult]:
    """Evaluate every example family on its date against the program's rule."""
    rule = compile_rule(program.eligibility, per_child=program.per_child)
    compiled = CompiledProgram(id="example", rule=rule, per_child=program.per_child)
    results = []
    for index, example in enumerate(program.examples):
        try:
            context = derive(example.family, example.date)
        except ValueError:
            actual, children = False, []
        else:
            match = evaluate_family(context, [compiled])[0]
            actual, children = match.eligible, list(match.children)
        results.append(
            ExampleResult(
                index=index,
                date=example.date,
                expected=example.eligible,
                actual=actual,
                children=children,
                passed=actual == example.eligible,
            )
        )
    return results


def validate_program(program: ProgramIn) -> ValidationReport:
    """Compile the rule and run the examples, saving nothing."""
    errors = rule_errors(program)
    if errors:
        return ValidationReport(valid=False, errors=errors)
    examples = run_examples(program)
    failing = [
        {
            "location": f"examples[{r.index}]",
            "reason": f"expected eligible={r.expected} on {r.date}, the rule gives {r.actual}",
            "kind": "example_failed",
            "index": r.index,
            "date": r.date.isoformat(),
            "expected": r.expected,
            "actual": r.actual,
        }
        for r in examples
        if not r.passed
    ]
    return ValidationReport(valid=not failing, errors=failing, examples=examples)
