"""Why a program fits, as reason codes a parent can read once rendered: never rule syntax.

A rule's top-level `and` conjuncts are each mapped from their AST to a reason code with its
values (``municipality == "131032"`` -> ``{"code": "lives_in", "place": "131032"}``,
``child.age_months < 6`` -> ``{"code": "child_age", "unit": "months", "below": 6}``). Bounds on
the same age field are merged into one reason. Parts that say nothing a parent needs to read
(``public_assistance``, ``today``) are left out; parts with no known shape become the generic
reason ``{"code": "generic"}``. Rendering in Japanese and English belongs to the notifier.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from rule_engine import ast as re_ast

from rules.language import CompiledRule, RuleError, compile_rule

Reason = dict[str, Any]

GENERIC: Reason = {"code": "generic"}
CODES = frozenset(
    {
        "lives_in",
        "lives_in_area",
        "child_age",
        "child_born_from",
        "child_born_before",
        "child",
        "daycare",
        "disability",
        "birth_order",
        "children_count",
        "pregnant",
        "single_parent",
        "tax_exempt",
        "income",
        "generic",
    }
)
"""Every code `reasons_of` may give (a renderer must know each)."""

AGE_UNITS = {"child.age_months": "months", "child.age": "years", "child.class_age": "class"}
AGE_UNITS.update({"child.grade": "grade", "youngest_age": "years", "oldest_age": "years"})
_SILENT = frozenset({"public_assistance", "language", "today", "fiscal_year", "prefecture"})
_FLIP = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq", "ne": "ne"}
_NOTHING = object()


def _field(node: Any) -> str | None:
    if isinstance(node, re_ast.CoalesceExpression):
        return _field(node.left)
    if isinstance(node, re_ast.SymbolExpression) and node.scope is None:
        return str(node.name)
    if isinstance(node, re_ast.GetAttributeExpression) and isinstance(
        node.object, re_ast.SymbolExpression
    ):
        owner = node.object.name
        if owner == "children" and node.name == "length":
            return "child_count"
        return f"{owner}.{node.name}" if owner == "child" else None
    return None


def _literal(node: Any) -> Any:
    if isinstance(node, re_ast.NullExpression):
        return None
    if isinstance(node, re_ast.StringExpression | re_ast.BooleanExpression):
        return node.value
    if isinstance(node, re_ast.FloatExpression):
        value = Decimal(node.value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(node, re_ast.DatetimeExpression):
        value = node.value
        return value.date() if isinstance(value, datetime) else value
    return _NOTHING


def _comparison(node: Any) -> tuple[str, str, Any] | None:
    """(field, operator, literal) for `field OP literal`, `literal OP field` or a bare flag."""
    if isinstance(node, re_ast.SymbolExpression | re_ast.GetAttributeExpression):
        name = _field(node)
        return (name, "eq", True) if name else None
    if isinstance(node, re_ast.UnaryExpression) and node.type == "not":
        name = _field(node.right)
        return (name, "eq", False) if name else None
    if isinstance(node, re_ast.ComparisonExpression) and node.type in _FLIP:
        name, value = _field(node.left), _literal(node.right)
        if name is not None and value is not _NOTHING:
            return name, node.type, value
        name, value = _field(node.right), _literal(node.left)
        if name is not None and value is not _NOTHING:
            return name, _FLIP[node.type], value
        # `household_income <= 3684000 + 380000 * child_count`: a bound we cannot state simply.
        name = _field(node.left) or _field(node.right)
        return (name, node.type, _NOTHING) if name else None
    return None


def _age_bounds(op: str, value: Any) -> tuple[int | None, int | None] | None:
    """A comparison on an integer age as [from, below)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return {
        "lt": (None, value),
        "le": (None, value + 1),
        "gt": (value + 1, None),
        "ge": (value, None),
        "eq": (value, value + 1),
    }.get(op)


def _reason(node: Any, ages: dict[str, list[int | None]]) -> Reason | None:
    """The reason of one part; None to say nothing; GENERIC when its shape is unknown.

    Age bounds are collected into `ages` (field -> [from, below]) and rendered as one reason.
    """
    if isinstance(node, re_ast.LogicExpression):
        if node.type == "and":
            left = _reason(node.left, ages)
            right = _reason(node.right, ages)
            return _merge_and(left, right)
        # An `or` says one thing only when both sides say the same thing.
        scratch: dict[str, list[int | None]] = {}
        left, right = _reason(node.left, scratch), _reason(node.right, scratch)
        if scratch:
            return GENERIC
        return left if left == right else GENERIC
    if isinstance(node, re_ast.ContainsExpression):
        if _field(node.member) == "municipality":
            return {"code": "lives_in_area"}
        return GENERIC
    if isinstance(node, re_ast.ArithmeticComparisonExpression | re_ast.ComparisonExpression):
        pass
    elif not isinstance(
        node, re_ast.SymbolExpression | re_ast.GetAttributeExpression | re_ast.UnaryExpression
    ):
        return GENERIC
    found = _comparison(node)
    if found is None:
        return GENERIC
    name, op, value = found
    if name in ("municipality", "prefecture") and op == "eq" and isinstance(value, str):
        return {"code": "lives_in", "place": value}
    if name in _SILENT or name == "child.language":
        return None
    if name in AGE_UNITS:
        bounds = _age_bounds(op, value)
        if bounds is None:
            return GENERIC
        current = ages.setdefault(name, [None, None])
        low, below = bounds
        if low is not None:
            current[0] = low if current[0] is None else max(current[0], low)
        if below is not None:
            current[1] = below if current[1] is None else min(current[1], below)
        return None
    if name == "child.birth_date" and isinstance(value, date):
        if op in ("ge", "gt"):
            return {"code": "child_born_from", "date": value.isoformat()}
        if op in ("le", "lt"):
            first_out = value + timedelta(days=1) if op == "le" else value
            return {"code": "child_born_before", "date": first_out.isoformat()}
        return {"code": "child"}
    if name == "child.daycare":
        if op == "eq" and value in ("enrolled", "applying", "none"):
            return {"code": "daycare", "status": value}
        return {"code": "daycare"}
    if name == "child.disability":
        return {"code": "disability"} if (op, value) == ("eq", True) else GENERIC
    if name == "child.birth_order":
        bounds = _age_bounds(op, value)
        if bounds and bounds[0] is not None and bounds[1] is None and bounds[0] >= 2:
            return {"code": "birth_order", "from": bounds[0]}
        return {"code": "children_count"}
    if name == "child_count":
        return {"code": "children_count"}
    if name in ("pregnant", "due_date"):
        return {"code": "pregnant"} if (op, value) != ("eq", False) else GENERIC
    if name == "single_parent":
        return {"code": "single_parent"} if (op, value) == ("eq", True) else GENERIC
    if name == "resident_tax_exempt":
        return {"code": "tax_exempt"} if (op, value) == ("eq", True) else GENERIC
    if name == "household_income":
        return {"code": "income"}
    if name.startswith("child."):
        return {"code": "child"}
    return GENERIC


def _merge_and(left: Reason | None, right: Reason | None) -> Reason | None:
    if left is None:
        return right
    if right is None or left == right:
        return left
    return GENERIC if GENERIC in (left, right) else left


def _age_reasons(ages: dict[str, list[int | None]]) -> list[Reason]:
    out = []
    for name, (low, below) in ages.items():
        reason: Reason = {"code": "child_age", "unit": AGE_UNITS[name]}
        if low is not None and low > 0:
            reason["from"] = low
        if below is not None:
            reason["below"] = below
        out.append(reason)
    return out


def reasons_of_nodes(nodes: Iterable[Any]) -> list[Reason]:
    """Reason codes for a rule's top-level conjuncts (ASTs), generic when nothing is known."""
    ages: dict[str, list[int | None]] = {}
    out: list[Reason] = []
    generic = False
    for node in nodes:
        reason = _reason(node, ages)
        if reason == GENERIC:
            generic = True
        elif reason is not None and reason not in out:
            out.append(reason)
    # Place first (as the chat says it), then the child's age, then the rest.
    places = [r for r in out if r["code"] in ("lives_in", "lives_in_area")]
    rest = [r for r in out if r not in places]
    out = places + _age_reasons(ages) + rest
    if generic or not out:
        out.append(dict(GENERIC))
    return out


def reasons_of(rule: CompiledRule) -> list[Reason]:
    """Reason codes for a compiled rule (what a definite match of it tells about a family)."""
    return reasons_of_nodes(rule.conjunct_nodes)


@functools.lru_cache(maxsize=1024)
def _clause_reasons(clause: str) -> tuple[tuple[tuple[str, Any], ...], ...]:
    try:
        rule = compile_rule(clause, per_child=True)
    except (RuleError, ValueError, TypeError):
        return ((("code", "generic"),),)
    return tuple(tuple(r.items()) for r in reasons_of(rule))


def reasons_of_clauses(clauses: Iterable[str]) -> list[Reason]:
    """Reason codes for rule clauses kept as text (payloads stored before reasons existed).

    A clause that does not compile (cut short, or already prose) gives the generic reason.
    """
    texts = [c.strip() for c in clauses if isinstance(c, str) and c.strip()]
    if not texts:
        return [dict(GENERIC)]
    # Together first, so that bounds on one age merge; one by one when a clause is broken.
    whole = _clause_reasons(" and ".join(f"({text})" for text in texts))
    if len(texts) == 1 or whole != ((("code", "generic"),),):
        return [dict(items) for items in whole]
    out: list[Reason] = []
    for text in texts:
        for items in _clause_reasons(text):
            reason = dict(items)
            if reason not in out:
                out.append(reason)
    generic = [r for r in out if r == GENERIC]
    out = [r for r in out if r != GENERIC] + generic[:1]
    return out or [dict(GENERIC)]
