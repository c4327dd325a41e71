"""Match compiled programs against families: one family at a time, or a whole population."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rules.columns import Columns, NotVectorised, build_columns, compile_columns
from rules.language import Bound, CompiledRule, Explanation, bind

NO_CHILDREN = "children.length >= 1"
"""The condition a family without children fails for every per-child program."""


@dataclass
class CompiledProgram:
    """A program's compiled eligibility rule; `payload` is the caller's own data."""

    id: str
    rule: CompiledRule
    per_child: bool
    payload: Any = None

    def __post_init__(self) -> None:
        if self.rule.per_child != self.per_child:
            raise ValueError(
                f"program {self.id!r}: per_child={self.per_child} but its rule was compiled "
                f"with per_child={self.rule.per_child}"
            )


@dataclass
class Match:
    """The result of one program for one family."""

    program: CompiledProgram
    eligible: bool
    children: list[int] = field(default_factory=list)
    explanation: Explanation = field(default_factory=lambda: Explanation(result=None))
    near_miss: bool = False


def _is_near_miss(explanation: Explanation) -> bool:
    # "Nearly eligible": exactly one condition is definitely false and nothing is unknown, so a
    # single change (a birthday, a new child) would make the family eligible.
    return len(explanation.failed) == 1 and not explanation.unknown


def _children(context: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(context.get("children") or [])


def _child_index(child: Mapping[str, Any], position: int) -> int:
    index = child.get("index", position)
    return index if isinstance(index, int) else position


def _match_household(program: CompiledProgram, bound: Bound) -> Match:
    explanation = program.rule.explain(bound)
    eligible = explanation.result is True
    return Match(
        program=program,
        eligible=eligible,
        explanation=explanation,
        near_miss=not eligible and _is_near_miss(explanation),
    )


def _match_per_child(
    program: CompiledProgram, bound: Bound, children: list[Mapping[str, Any]]
) -> Match:
    if not children:
        explanation = Explanation(result=False, failed=[NO_CHILDREN])
        return Match(program=program, eligible=False, explanation=explanation, near_miss=False)
    qualifying: list[int] = []
    first: Explanation | None = None
    nearest: Explanation | None = None
    near_miss = False
    for position, child in enumerate(children):
        explanation = program.rule.explain(bind(bound, child))
        if explanation.result is True:
            qualifying.append(_child_index(child, position))
            first = first or explanation
            continue
        near_miss = near_miss or _is_near_miss(explanation)
        if nearest is None or _distance(explanation) < _distance(nearest):
            nearest = explanation
    eligible = bool(qualifying)
    chosen = first if first is not None else nearest
    assert chosen is not None
    return Match(
        program=program,
        eligible=eligible,
        children=qualifying,
        explanation=chosen,
        near_miss=not eligible and near_miss,
    )


def _distance(explanation: Explanation) -> tuple[int, int]:
    return (len(explanation.failed) + len(explanation.unknown), len(explanation.unknown))


def evaluate_family(
    context: Mapping[str, Any], programs: Iterable[CompiledProgram]
) -> list[Match]:
    """Evaluate every program for one family context (from `derive`); one Match per program."""
    bound = bind(context)
    children = _children(context)
    return [
        _match_per_child(p, bound, children) if p.per_child else _match_household(p, bound)
        for p in programs
    ]


def _evaluate_one(program: CompiledProgram, context: Mapping[str, Any]) -> list[int] | bool:
    bound = bind(context)
    if not program.per_child:
        return program.rule.evaluate(bound)
    return [
        _child_index(child, position)
        for position, child in enumerate(_children(context))
        if program.rule.evaluate(bound, child)
    ]


def evaluate_columns(program: CompiledProgram, columns: Columns) -> np.ndarray:
    """Where `program` holds over a population: a bool per family (household programs) or per
    child row of `columns` (per-child programs), computed on columns.

    Rules or populations the column engine does not cover are evaluated per family instead (the
    same answer, slower); each such evaluation is counted in `columns.fallbacks` by reason.
    """
    try:
        return compile_columns(program.rule).holds(columns)
    except NotVectorised as exc:
        columns.fallbacks[exc.reason] += 1
    contexts = columns.contexts
    if not program.per_child:
        return np.fromiter(
            (program.rule.evaluate(bind(c)) for c in contexts), dtype=bool, count=len(contexts)
        )
    out: list[bool] = []
    for context in contexts:
        bound = bind(context)
        out.extend(program.rule.evaluate(bound, child) for child in _children(context))
    return np.array(out, dtype=bool)


def _per_family(
    program: CompiledProgram, columns: Columns, holds: np.ndarray
) -> list[list[int] | bool]:
    if not program.per_child:
        return list(holds.tolist())
    index = columns.child_indexes()
    assert columns.starts is not None
    rows = np.flatnonzero(holds)
    bounds = np.searchsorted(rows, columns.starts).tolist()
    chosen = [index[r] for r in rows.tolist()]
    out: list[list[int] | bool] = [chosen[a:b] for a, b in zip(bounds, bounds[1:])]  # noqa: B905
    return out


def evaluate_population(
    program: CompiledProgram, contexts: Sequence[Mapping[str, Any]]
) -> list[list[int] | bool]:
    """Evaluate one program over many families: child indexes (per-child) or a bool each.

    Computed on columns (`rules.columns`); rules the column engine does not cover, and irregular
    contexts, are evaluated per family: the answer is the same either way.
    """
    columns = build_columns(contexts)
    try:
        holds = compile_columns(program.rule).holds(columns)
        return _per_family(program, columns, holds)
    except NotVectorised:
        return [_evaluate_one(program, context) for context in contexts]
