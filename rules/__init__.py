"""Eligibility language: profile vocabulary, ages, compile, explain and evaluate. Pure, no I/O."""

from rules.ages import age_months, age_years, class_age, fiscal_year, grade
from rules.columns import Columns, NotVectorised, build_columns, derive_columns, fallback_reason
from rules.evaluate import (
    CompiledProgram,
    Match,
    evaluate_columns,
    evaluate_family,
    evaluate_population,
)
from rules.language import CompiledRule, Explanation, RuleError, RuleTooCostly, compile_rule
from rules.lgcode import check_digit, is_valid_lgcode
from rules.profile import VOCABULARY, ChildInput, FamilyInput, Term, derive

__all__ = [
    "VOCABULARY",
    "ChildInput",
    "Columns",
    "CompiledProgram",
    "CompiledRule",
    "Explanation",
    "FamilyInput",
    "Match",
    "NotVectorised",
    "RuleError",
    "RuleTooCostly",
    "Term",
    "age_months",
    "age_years",
    "build_columns",
    "check_digit",
    "class_age",
    "compile_rule",
    "derive",
    "derive_columns",
    "evaluate_columns",
    "evaluate_family",
    "evaluate_population",
    "fallback_reason",
    "fiscal_year",
    "grade",
    "is_valid_lgcode",
]
