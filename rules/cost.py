"""What a rule may cost: checked once, when it is compiled, so that no published rule, example or
family can hold a server for long.

* Regular expressions (``=~``, ``=~~``, ``!~``, ``!~~``) are literals run by RE2, whose matching
  time is linear in the text. Patterns RE2 cannot run (back-references, look-around) and nested
  quantifiers such as ``(c+)+`` (exponential in backtracking engines, and never needed to describe
  a family) are refused.
* Comprehensions nest at most `MAX_COMPREHENSION_DEPTH` deep.
* The work of one evaluation is estimated from the rule's shape, taking every list at its largest
  (`MAX_CHILDREN` children); a rule needing more than `MAX_WORK` steps per family is refused.
* Builtin functions are limited to those whose cost the estimate knows (`ALLOWED_BUILTINS`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import re2
from rule_engine import ast as re_ast

from rules.profile import MAX_CHILDREN

MAX_COMPREHENSION_DEPTH = 2
MAX_WORK = 12_000
"""Evaluation steps per family (a step is about one AST node, 1-2 µs): the worst accepted rule
stays well below the 50 ms a request may hold the event loop (see benchmarks/rule_cost.py)."""
MAX_EXAMPLES = 50
REGEX_STEP = 10
"""A regex match counts as this many steps (RE2 is linear; texts of a profile are short)."""
ITEM_STEP = 10
"""Binding a comprehension's variable to one item costs about this many steps."""
ALLOWED_BUILTINS = frozenset({"abs", "all", "any", "max", "min", "sum", "e", "pi"})
"""`$range`, `$split`, `$map`, `$filter` build or walk lists of any size; `$random`, `$now` and
`$today` make a rule depend on something other than the family and the date."""


SIMPLER_PATTERN = "write a simpler pattern, e.g. '^13' or 'a+b'"


@dataclass(frozen=True)
class CostProblem:
    """Why a clause of a rule is refused, with a way out."""

    clause: str
    reason: str
    suggestion: str


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the caller's error, not a server log line
    return options


_RE2_OPTIONS = _options()


@functools.lru_cache(maxsize=256)
def safe_regex(pattern: str) -> Any | None:
    """The pattern compiled by RE2 (linear-time matching), or None when RE2 cannot run it."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error:
        return None


def regex_problem(pattern: str) -> str | None:
    """Why a pattern is refused, or None when it is linear-time and free of nested quantifiers."""
    if safe_regex(pattern) is None:
        try:
            re.compile(pattern)
        except re.error as exc:
            return f"the pattern {pattern!r} is not a valid regular expression ({exc.msg})"
        return (
            f"the pattern {pattern!r} needs back-references or look-around, which cannot be "
            "matched in linear time"
        )
    if _nested_quantifier(pattern):
        return (
            f"the pattern {pattern!r} repeats a repetition (like (c+)+), which can take "
            "exponential time"
        )
    return None


def _nested_quantifier(pattern: str) -> bool:
    import re._parser as sre_parse  # the stdlib's own parser: the same reading as `re`

    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return False
    return _has_nested_repeat(parsed, inside_repeat=False)


_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


def _has_nested_repeat(items: Iterable[Any], *, inside_repeat: bool) -> bool:
    for op, arg in items:
        name = str(op)
        if name in _REPEATS:
            low, high, body = arg
            repeats = high is None or high > 1 or str(high) == "MAXREPEAT"
            if repeats and inside_repeat:
                return True
            if _has_nested_repeat(body, inside_repeat=inside_repeat or repeats):
                return True
        elif name == "SUBPATTERN":
            if _has_nested_repeat(arg[-1], inside_repeat=inside_repeat):
                return True
        elif name == "BRANCH":
            if any(_has_nested_repeat(b, inside_repeat=inside_repeat) for b in arg[1]):
                return True
        elif name in ("ASSERT", "ASSERT_NOT") and _has_nested_repeat(
            arg[1], inside_repeat=inside_repeat
        ):
            return True
    return False


OPERANDS = (
    "left",
    "right",
    "object",
    "container",
    "item",
    "member",
    "start",
    "stop",
    "condition",
    "case_true",
    "case_false",
    "iterable",
    "result",
    "function",
)
"""Attributes of rule-engine AST nodes that hold sub-expressions (`rules.language` too)."""


def _subexpressions(node: Any) -> list[Any]:
    subs = [
        s
        for s in (getattr(node, a, None) for a in OPERANDS)
        if isinstance(s, re_ast.ExpressionBase)
    ]
    if isinstance(node, re_ast.FunctionCallExpression):
        subs.extend(node.arguments)
    elif isinstance(node, re_ast.ArrayExpression | re_ast.SetExpression):
        subs.extend(node.value)
    elif isinstance(node, re_ast.MappingExpression):
        for key, value in node.value:
            subs.extend((key, value))
    return subs


@dataclass
class _Estimate:
    work: int
    size: int  # the most items the node's value can hold, when it is a list


class _TooCostly(Exception):
    def __init__(self, reason: str, suggestion: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.suggestion = suggestion


def _estimate(node: Any, depth: int) -> _Estimate:
    if isinstance(node, re_ast.SymbolExpression):
        if node.scope is not None and node.name not in ALLOWED_BUILTINS:
            raise _TooCostly(
                f"${node.name} is not available in rules",
                "use comprehensions over children, e.g. [c for c in children if c.age < 3]",
            )
        # profile fields are scalars or short strings, except the list of children
        size = MAX_CHILDREN if node.name == "children" and node.scope is None else 1
        return _Estimate(1, size)
    if isinstance(node, re_ast.ComprehensionExpression):
        if depth >= MAX_COMPREHENSION_DEPTH:
            raise _TooCostly(
                f"comprehensions are nested more than {MAX_COMPREHENSION_DEPTH} deep",
                "count with one comprehension, e.g. [c for c in children if c.age < 3].length",
            )
        iterable = _estimate(node.iterable, depth)
        per_item = ITEM_STEP
        for part in (node.condition, node.result):
            if part is not None:
                per_item += _estimate(part, depth + 1).work
        return _Estimate(1 + iterable.work + iterable.size * per_item, iterable.size)
    if isinstance(node, re_ast.FuzzyComparisonExpression):
        if not isinstance(node.right, re_ast.StringExpression):
            raise _TooCostly(
                "the pattern of a regular expression match must be written in the rule",
                "write the pattern as a string literal, e.g. municipality =~ '^1311'",
            )
        problem = regex_problem(node.right.value)
        if problem is not None:
            raise _TooCostly(problem, SIMPLER_PATTERN)
    subs = [_estimate(sub, depth) for sub in _subexpressions(node)]
    work = 1 + sum(s.work for s in subs)
    if isinstance(node, re_ast.FuzzyComparisonExpression):
        work += REGEX_STEP
    elif isinstance(node, re_ast.ContainsExpression):
        work += _estimate(node.container, depth).size  # `in` walks its container
    elif isinstance(node, re_ast.FunctionCallExpression):
        work += sum(_estimate(a, depth).size for a in node.arguments)  # $any, $sum, ... walk
    if isinstance(node, re_ast.ArrayExpression | re_ast.SetExpression):
        return _Estimate(work, len(node.value))
    if isinstance(node, re_ast.StringExpression):
        return _Estimate(work, len(node.value))
    if isinstance(node, re_ast.GetAttributeExpression | re_ast.GetSliceExpression):
        # `.to_ary` of a string and slices of a list are at most as long as what they come from
        return _Estimate(work, subs[0].size if subs else 1)
    return _Estimate(work, max(1, sum(s.size for s in subs)))


def work_of(node: Any) -> int:
    """Estimated evaluation steps of one expression node (raises nothing; 0 if refused)."""
    try:
        return _estimate(node, 0).work
    except _TooCostly:
        return 0


def check_cost(conjuncts: list[tuple[str, Any]], per_child: bool) -> CostProblem | None:
    """The first problem of a rule given as its top-level (clause text, node) conjuncts."""
    total = 0
    costliest = ("", 0)
    for clause, node in conjuncts:
        try:
            work = _estimate(node, 0).work
        except _TooCostly as exc:
            return CostProblem(clause, exc.reason, exc.suggestion)
        work *= MAX_CHILDREN if per_child else 1  # a per-child rule runs once per child
        total += work
        if work > costliest[1]:
            costliest = (clause, work)
    if total > MAX_WORK:
        return CostProblem(
            costliest[0],
            f"it needs about {total} evaluation steps per family (at most {MAX_WORK})",
            "avoid comparing every child with every other child; count with one "
            "comprehension, e.g. [c for c in children if c.age < 3].length >= 2",
        )
    return None


def rule_work(conjuncts: list[tuple[str, Any]], per_child: bool) -> int:
    """The estimated steps of one family's evaluation (what `check_cost` bounds)."""
    total = sum(work_of(node) for _, node in conjuncts)
    return total * (MAX_CHILDREN if per_child else 1)


def costliest_clause(conjuncts: list[tuple[str, Any]]) -> str:
    """The clause with the largest estimated work (named when a check runs out of time)."""
    if not conjuncts:
        return ""
    return max(conjuncts, key=lambda pair: work_of(pair[1]))[0]


__all__ = [
    "ALLOWED_BUILTINS",
    "MAX_COMPREHENSION_DEPTH",
    "MAX_EXAMPLES",
    "MAX_WORK",
    "CostProblem",
    "check_cost",
    "costliest_clause",
    "regex_problem",
    "rule_work",
    "safe_regex",
    "work_of",
]
