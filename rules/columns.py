"""Eligibility over whole populations: rules compiled to numpy operations on columns.

A population is held as `Columns`: one array per household field (one row per family) and a
child table (one row per child, sorted by family and then by input position) with the family
index of each child. `compile_columns` turns a compiled rule (`rules.language.CompiledRule`) into
a `ColumnRule` whose `holds(columns)` gives, for every family (household rules) or every child
row (per-child rules), whether the rule is definitely TRUE — exactly what the per-family path
(`CompiledRule.evaluate`) answers, including its null semantics:

* every value carries two masks, `null` (the value is None) and `unknown` (UNKNOWN); logic is
  Kleene three-valued over "true", "false" and "unknown" masks;
* comparisons with a null operand are unknown unless one side is the literal ``null``;
* ``??`` replaces null, never UNKNOWN; arithmetic on null is UNKNOWN;
* comprehensions over ``children`` are grouped reductions over the child table (a family's
  comprehension is UNKNOWN when the filter or the result is unknown for any of its children);
* dates are day numbers (midnight Asia/Tokyo, as the per-family path binds them), durations whole
  days; strings are codes into one table per population.

Covered: every vocabulary field (household fields broadcast to the child table by family
index); literals (integers, strings, booleans, null, dates at midnight Asia/Tokyo, durations in
whole days, lists of literals); ``and or not``, ``== != < <= > >=`` (numbers, dates, durations,
booleans, strings), ``=~ =~~ !~ !~~`` with a literal pattern (matched once per distinct string,
by RE2 as the per-family path does), ``in`` a literal list or a list over children, ``??``,
``? :``, ``+ -`` (numbers, dates and durations), ``*`` and unary ``-`` (numbers), date
``.year .month .day`` and duration ``.days`` (with ``&.``), ``children[k]`` / ``children&[k]``
with a literal k, comprehensions ``[r for c in children if f]`` with ``.length``,
``.is_empty``, ``$any``, ``$all``, ``$sum``, ``$min``, ``$max``, and ``$abs``.

Not covered (the rule falls back): ``/ // % **`` and non-integer number literals (float64 is not
rule-engine's Decimal there), nested comprehensions, a comprehension in a per-child rule that
reads the program's ``child`` (a cross product), string ``+`` and substring ``in``, other
attributes and builtins, slices. What the compiler does not cover raises `NotVectorised` with a
reason, at compile time (the construct) or at run time (numbers beyond 2**53, dates out of range,
irregular contexts); callers then use the per-family path for that rule
(`rules.evaluate.evaluate_columns` does, and counts it in `Columns.fallbacks`), so the answer is
never wrong.
"""

from __future__ import annotations

import functools
import operator
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import repeat
from typing import Any

import numpy as np
from rule_engine import ast as re_ast

from rules.cost import safe_regex
from rules.language import CHILD_FIELDS, HOUSEHOLD_FIELDS, TOKYO, CompiledRule
from rules.lgcode import prefecture_of

EXACT = 2**53
"""Integers up to this magnitude are exact in float64."""
_EPOCH = date(1970, 1, 1).toordinal()
_MAX_ORDINAL = date.max.toordinal()

_KIND_OF_TYPE = {"STRING": "str", "FLOAT": "num", "DATETIME": "date", "BOOLEAN": "bool"}
HOUSEHOLD_KINDS = {
    name: _KIND_OF_TYPE[term.type] for name, term in HOUSEHOLD_FIELDS.items() if name != "children"
}
CHILD_KINDS = {name: _KIND_OF_TYPE[term.type] for name, term in CHILD_FIELDS.items()}


class NotVectorised(Exception):
    """A rule (or a population) the column engine does not evaluate; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- columns ------------------------------------------------------------------------------------

Column = tuple[np.ndarray, np.ndarray]
"""(values, null mask) of one field; values are float64 (num), int64 (date: day ordinal; str:
code into `Columns.strings`) or bool."""

_FALSE = np.zeros((), dtype=bool)
_ALLOWED: dict[str, set[type]] = {"num": {int}, "bool": {bool}, "str": {str}, "date": {date}}
"""Python types a context may hold per kind (besides None); bool is not a number here."""


class Columns:
    """A population as columns: household fields, a child table and a family index.

    Built from rule contexts (`build_columns`, lazily: a column is read from the contexts the
    first time a rule needs it) or from raw arrays (`derive_columns`). `fallbacks` counts the
    reasons for which rules were evaluated per family instead.
    """

    def __init__(self, families: int, contexts: Sequence[Mapping[str, Any]] | None = None) -> None:
        self.families = families
        self._contexts = contexts
        self._household: dict[str, Column] = {}
        self._child: dict[str, Column] = {}
        self._child_dicts: list[Mapping[str, Any]] | None = None
        self.family: np.ndarray | None = None
        """Family index (row of the household columns) of every child row."""
        self.starts: np.ndarray | None = None
        """Offsets: the children of family f are rows starts[f]:starts[f+1]."""
        self.output_index: list[Any] | None = None
        """Child index reported for each child row (`evaluate_population`'s per-child lists)."""
        self._index_array: np.ndarray | None = None
        self.strings: dict[str, int] = {}
        self.fallbacks: Counter[str] = Counter()

    # strings
    def code(self, text: str) -> int:
        """The code of a string (added to the table when new)."""
        return self.strings.setdefault(text, len(self.strings))

    def string_table(self) -> list[str]:
        """Strings by code."""
        table = [""] * len(self.strings)
        for text, code in self.strings.items():
            table[code] = text
        return table

    # structure
    @property
    def children(self) -> int:
        """Number of child rows."""
        self._structure()
        assert self.family is not None
        return len(self.family)

    def _structure(self) -> None:
        if self.family is not None:
            return
        if self._contexts is None:
            raise NotVectorised("the child table is missing")
        lists = []
        for context in self._contexts:
            kids = context.get("children")
            if not isinstance(kids, list | tuple):
                raise NotVectorised("irregular context: children is not a list")
            lists.append(kids)
        counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        self.starts = np.concatenate(([0], np.cumsum(counts)))
        self.family = np.repeat(np.arange(len(lists), dtype=np.int64), counts)
        flat = [child for kids in lists for child in kids]
        types = set(map(type, flat))
        if not (types <= {dict} or all(isinstance(child, Mapping) for child in flat)):
            raise NotVectorised("irregular context: a child is not a mapping")
        self._child_dicts = flat

    def child_indexes(self) -> list[Any]:
        """The index `evaluate_population` reports for each child row (its `index` field, or
        its position in the family's list when it has none)."""
        if self.output_index is None:
            self._structure()
            assert self.family is not None and self.starts is not None
            flat = self._child_dicts or []
            positions = (np.arange(len(self.family)) - self.starts[self.family]).tolist()
            indexes = [child.get("index", p) for child, p in zip(flat, positions, strict=True)]
            if not set(map(type, indexes)) <= {int}:
                indexes = [
                    i if isinstance(i, int) else p for i, p in zip(indexes, positions, strict=True)
                ]
            self.output_index = indexes
        return self.output_index

    def child_index_array(self) -> np.ndarray:
        """`child_indexes` as an integer array (kept)."""
        if self._index_array is None:
            self._index_array = np.asarray(self.child_indexes(), dtype=np.int64)
        return self._index_array

    def set_structure(self, family: np.ndarray) -> None:
        """Install the family index of a child table sorted by family (for `derive_columns`)."""
        counts = np.bincount(family, minlength=self.families)
        self.family = family.astype(np.int64)
        self.starts = np.concatenate(([0], np.cumsum(counts)))
        self.output_index = (np.arange(len(family)) - self.starts[self.family]).tolist()

    # columns
    def household(self, name: str) -> Column:
        """The column of a household field."""
        column = self._household.get(name)
        if column is None:
            if self._contexts is None:
                raise NotVectorised(f"no column {name!r}")
            try:
                values = [context[name] for context in self._contexts]
            except KeyError:
                raise NotVectorised(f"irregular context: {name!r} missing") from None
            column = self._household[name] = self._convert(name, HOUSEHOLD_KINDS[name], values)
        return column

    def child(self, name: str) -> Column:
        """The column of a child field (rows of the child table)."""
        column = self._child.get(name)
        if column is None:
            self._structure()
            if self._child_dicts is None:
                raise NotVectorised(f"no child column {name!r}")
            try:
                values = [child[name] for child in self._child_dicts]
            except KeyError:
                raise NotVectorised(f"irregular context: child field {name!r} missing") from None
            column = self._child[name] = self._convert(name, CHILD_KINDS[name], values)
        return column

    def put(self, name: str, kind: str, values: Any, *, child: bool = False) -> None:
        """Install a column from an array (no nulls) or a sequence with None for null."""
        store = self._child if child else self._household
        if isinstance(values, np.ndarray) and kind != "str":
            store[name] = (values, _FALSE)
        else:
            store[name] = self._convert(name, kind, list(values))

    def _convert(self, name: str, kind: str, values: list[Any]) -> Column:
        n = len(values)
        types = set(map(type, values))
        null: np.ndarray = _FALSE
        has_null = type(None) in types
        if has_null:
            null = np.fromiter(map(operator.is_, values, repeat(None)), dtype=bool, count=n)
            types.discard(type(None))
        allowed = _ALLOWED[kind]
        if not types <= allowed:
            found = ", ".join(sorted(t.__name__ for t in types - allowed))
            raise NotVectorised(f"irregular context: {name} holds {found}")
        data: np.ndarray
        # map() over C-level callables: no Python frame per value (columns of a million rows)
        if kind == "str":
            for text in set(values) - {None}:
                self.code(text)
            lookup: dict[Any, int] = {**self.strings, None: -1}
            data = np.fromiter(map(lookup.__getitem__, values), dtype=np.int64, count=n)
            return data, null
        present = [v for v in values if v is not None] if has_null else values
        if kind == "num":
            try:
                known = np.fromiter(present, dtype=np.float64, count=len(present))
            except OverflowError:
                raise NotVectorised(f"irregular context: {name} beyond 2**53") from None
            if np.any(np.abs(known) >= EXACT):
                raise NotVectorised(f"irregular context: {name} beyond 2**53")
        elif kind == "bool":
            known = np.fromiter(present, dtype=bool, count=len(present))
        else:
            known = np.fromiter(map(date.toordinal, present), dtype=np.int64, count=len(present))
        if not has_null:
            return known, null
        data = np.zeros(n, dtype=known.dtype)
        data[~null] = known
        return data, null

    # the per-family view
    @property
    def contexts(self) -> Sequence[Mapping[str, Any]]:
        """The rule contexts of the families (rebuilt from the columns when not given)."""
        if self._contexts is None:
            self._contexts = _materialise(self)
        return self._contexts


def build_columns(contexts: Sequence[Mapping[str, Any]]) -> Columns:
    """Columns over `derive()` contexts; each column is read the first time a rule needs it."""
    return Columns(len(contexts), contexts)


def _value(kind: str, data: np.ndarray, null: np.ndarray, row: int, table: list[str]) -> Any:
    if null.ndim and null[row]:
        return None
    value = data[row]
    if kind == "num":
        return int(value)
    if kind == "bool":
        return bool(value)
    if kind == "date":
        return date.fromordinal(int(value))
    return table[int(value)]


def _materialise(columns: Columns) -> list[dict[str, Any]]:
    table = columns.string_table()
    household = {name: columns.household(name) for name in HOUSEHOLD_KINDS}
    child = {name: columns.child(name) for name in CHILD_KINDS}
    assert columns.starts is not None
    starts = columns.starts.tolist()
    contexts: list[dict[str, Any]] = []
    for f in range(columns.families):
        context = {
            name: _value(HOUSEHOLD_KINDS[name], *household[name], f, table)
            for name in HOUSEHOLD_KINDS
        }
        context["children"] = [
            {name: _value(CHILD_KINDS[name], *child[name], row, table) for name in CHILD_KINDS}
            for row in range(starts[f], starts[f + 1])
        ]
        contexts.append(context)
    table.clear()
    return contexts


# -- ages on columns (rules.ages, vectorised) ---------------------------------------------------


def _ymd(ordinals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    days = (np.asarray(ordinals, dtype=np.int64) - _EPOCH).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def _anniversary(by: np.ndarray, bm: np.ndarray, bd: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Day ordinal on which `months` full months since the birth are complete (民法143条2項):
    the corresponding day, or the 1st of the next month where that month has no such day."""
    index = (by - 1970) * 12 + (bm - 1) + months
    start = index.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    length = (index + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - start
    return start + np.minimum(bd - 1, length) + _EPOCH


def age_columns(birth: np.ndarray, on: np.ndarray | int) -> dict[str, np.ndarray]:
    """Ages of children born on day ordinals `birth`, on day ordinals `on` (scalar or per row):
    age (full years), age_months (full months), class_age and the fiscal year, as in
    `rules.ages` (age rises at the start of the day; no corresponding day → the 1st of the
    next month; class age by April 1/2). Raises ValueError for a birth after `on`."""
    birth = np.asarray(birth, dtype=np.int64)
    on_arr = np.broadcast_to(np.asarray(on, dtype=np.int64), birth.shape)
    if np.any(birth > on_arr):
        raise ValueError("a child is born after the evaluation date")
    by, bm, bd = _ymd(birth)
    oy, om, _ = _ymd(on_arr)
    months = (oy - by) * 12 + (om - bm)
    age_months = np.where(on_arr >= _anniversary(by, bm, bd, months), months, months - 1)
    years = oy - by
    age = np.where(on_arr >= _anniversary(by, bm, bd, 12 * years), years, years - 1)
    fiscal = np.where(om >= 4, oy, oy - 1)
    after_april_1 = (bm > 4) | ((bm == 4) & (bd > 1))
    class_age = fiscal - by - after_april_1
    return {"age": age, "age_months": age_months, "class_age": class_age, "fiscal_year": fiscal}


def derive_columns(
    on: date,
    households: Mapping[str, Any],
    children: Mapping[str, Any],
) -> Columns:
    """Columns of a population from raw inputs, derived as `rules.profile.derive` does.

    `households`: municipality (strings), pregnant, due_date (day ordinals or dates, None for
    unknown), single_parent, household_income, resident_tax_exempt, public_assistance, language;
    sequences with None for null, or numpy arrays without nulls. `children`: family (row of its
    household), birth_date (day ordinals), disability, daycare; in input order within a family.
    """
    municipality = list(households["municipality"])
    n = len(municipality)
    columns = Columns(n)
    family = np.asarray(children["family"], dtype=np.int64)
    order = np.argsort(family, kind="stable")
    family = family[order]
    columns.set_structure(family)
    assert columns.starts is not None
    today = on.toordinal()
    columns.put("municipality", "str", municipality)
    codes = columns.household("municipality")[0]
    table = columns.string_table()
    prefecture = np.array([columns.code(prefecture_of(c)) for c in table], dtype=np.int64)
    columns._household["prefecture"] = (prefecture[codes], _FALSE)
    columns.put("language", "str", households["language"])
    for name in ("pregnant", "single_parent", "resident_tax_exempt", "public_assistance"):
        columns.put(name, "bool", households[name])
    columns.put("household_income", "num", households["household_income"])
    due = households["due_date"]
    if isinstance(due, np.ndarray):
        columns.put("due_date", "date", due.astype(np.int64))
    else:
        columns.put("due_date", "date", [_as_date(d) for d in due])
    columns._household["today"] = (np.full(n, today, dtype=np.int64), _FALSE)
    birth = np.asarray(children["birth_date"], dtype=np.int64)[order]
    ages = age_columns(birth, today)
    fiscal = int(ages["fiscal_year"][0]) if len(birth) else (on.year - (on.month < 4))
    columns._household["fiscal_year"] = (np.full(n, fiscal, dtype=np.float64), _FALSE)
    counts = np.diff(columns.starts)
    columns._household["child_count"] = (counts.astype(np.float64), _FALSE)
    age = ages["age"].astype(np.float64)
    empty = counts == 0
    youngest = np.full(n, np.inf)
    oldest = np.full(n, -np.inf)
    np.minimum.at(youngest, family, age)
    np.maximum.at(oldest, family, age)
    youngest[empty] = 0
    oldest[empty] = 0
    null = empty if empty.any() else _FALSE
    columns._household["youngest_age"] = (youngest, null)
    columns._household["oldest_age"] = (oldest, null)
    positions = np.arange(len(birth)) - columns.starts[family]
    # Birth order by birth date within the family; twins keep their input order (stable).
    by_birth = np.lexsort((positions, birth, family))
    rank = np.empty(len(birth), dtype=np.int64)
    rank[by_birth] = np.arange(len(birth)) - columns.starts[family[by_birth]] + 1
    class_age = ages["class_age"]
    grade = class_age - 5
    no_grade = (grade < 1) | (grade > 12)
    child = columns._child
    child["index"] = (positions.astype(np.float64), _FALSE)
    child["birth_date"] = (birth, _FALSE)
    child["age"] = (age, _FALSE)
    child["age_months"] = (ages["age_months"].astype(np.float64), _FALSE)
    child["class_age"] = (class_age.astype(np.float64), _FALSE)
    child["grade"] = (np.where(no_grade, 0, grade).astype(np.float64), no_grade)
    child["birth_order"] = (rank.astype(np.float64), _FALSE)
    disability = np.asarray(children["disability"], dtype=bool)[order]
    child["disability"] = (disability, _FALSE)
    daycare = list(children["daycare"])
    columns.put("daycare", "str", [daycare[i] for i in order.tolist()], child=True)
    return columns


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromordinal(int(value))


# -- values -------------------------------------------------------------------------------------


@dataclass
class _Vec:
    """A value per row: data, null mask (None), unknown mask (UNKNOWN); disjoint masks.

    0-d arrays stand for the same value on every row. Lists (comprehensions) keep the family
    unknown mask in `unknown`, and `keep` / `items` on the child table.
    """

    data: Any
    null: np.ndarray
    unknown: np.ndarray
    keep: np.ndarray | None = None
    items: _Vec | None = None


@dataclass(frozen=True)
class _Node:
    kind: str  # bool num str date delta null list child
    level: str  # "s" (same on every row), "h" (family rows), "c" (child rows)
    run: Callable[[_Run], _Vec]
    item_kind: str | None = None  # lists: the kind of their items


class _Run:
    """One evaluation of a compiled rule over one population."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns
        self._family: np.ndarray | None = None

    @property
    def family(self) -> np.ndarray:
        if self._family is None:
            self.columns._structure()
            assert self.columns.family is not None
            self._family = self.columns.family
        return self._family

    def down(self, v: _Vec, level: str) -> _Vec:
        """Bring a family-level value to the child table (0-d values stay as they are)."""
        if level != "h":
            return v
        f = self.family
        return _Vec(
            _take(v.data, f), _take(v.null, f), _take(v.unknown, f), keep=v.keep, items=v.items
        )

    def group_any(self, mask: np.ndarray) -> np.ndarray:
        """Per family: whether `mask` (child rows) holds for any of its children."""
        n = self.columns.families
        if mask.ndim == 0:
            counts = np.diff(self._starts())
            return (counts > 0) & bool(mask)
        return np.bincount(self.family[mask], minlength=n) > 0

    def group_count(self, mask: np.ndarray) -> np.ndarray:
        n = self.columns.families
        if mask.ndim == 0:
            return np.diff(self._starts()) * int(bool(mask))
        return np.bincount(self.family[mask], minlength=n)

    def _starts(self) -> np.ndarray:
        self.columns._structure()
        assert self.columns.starts is not None
        return self.columns.starts


def _take(a: Any, index: np.ndarray) -> Any:
    return a[index] if isinstance(a, np.ndarray) and a.ndim else a


def _truth(v: _Vec, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(true, unknown) masks of a value used as a condition."""
    if kind == "null":
        return _FALSE, np.ones((), dtype=bool)
    unknown = _or(v.null, v.unknown)
    return _but(v.data, unknown), unknown


def _bool(true: np.ndarray, unknown: np.ndarray) -> _Vec:
    return _Vec(_but(true, unknown), _FALSE, unknown)


def _or(*masks: np.ndarray) -> np.ndarray:
    """Union of masks, skipping the all-false 0-d ones (most columns have no nulls)."""
    out: np.ndarray = _FALSE
    for mask in masks:
        if mask.ndim == 0 and not mask:
            continue
        out = mask if (out.ndim == 0 and not out) else out | mask
    return out


def _but(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`values & ~mask`, without work when the mask is all false."""
    if mask.ndim == 0 and not mask:
        return values
    return values & ~mask


def _level(*levels: str) -> str:
    if "c" in levels:
        return "c"
    if "h" in levels:
        return "h"
    return "s"


def _check_exact(data: np.ndarray, valid: np.ndarray) -> None:
    big = np.abs(data) >= EXACT
    if np.any(big & valid):
        raise NotVectorised("a number beyond 2**53 (float64 would round it)")


# -- the compiler -------------------------------------------------------------------------------


@dataclass
class _Scope:
    per_child: bool
    variable: str | None = None  # the comprehension variable, inside a comprehension


class ColumnRule:
    """A rule compiled to column operations; `holds` evaluates it over a population."""

    def __init__(self, rule: CompiledRule, root: _Node) -> None:
        self.rule = rule
        self._root = root

    def holds(self, columns: Columns) -> np.ndarray:
        """Where the rule is definitely TRUE: per family (household) or per child row."""
        run = _Run(columns)
        value = self._root.run(run)
        true, _ = _truth(value, self._root.kind)
        level = "c" if self.rule.per_child else "h"
        if self._root.level == "h" and level == "c":
            true = _take(true, run.family)
        size = columns.children if level == "c" else columns.families
        return np.broadcast_to(true, (size,)).copy() if true.ndim == 0 else true


@functools.lru_cache(maxsize=4096)
def _compile_cached(expression: str, per_child: bool, rule: CompiledRule) -> ColumnRule | str:
    try:
        root = _compile(rule._root, _Scope(per_child))
    except NotVectorised as exc:
        return exc.reason
    if root.kind not in ("bool", "null"):
        return f"the rule gives a {root.kind}, not a condition"
    return ColumnRule(rule, root)


def compile_columns(rule: CompiledRule) -> ColumnRule:
    """The column version of `rule`; raises NotVectorised naming what it does not cover."""
    compiled = _compile_cached(rule.expression, rule.per_child, rule)
    if isinstance(compiled, str):
        raise NotVectorised(compiled)
    return compiled


def fallback_reason(rule: CompiledRule) -> str | None:
    """Why `rule` is evaluated per family rather than on columns, or None when it vectorises."""
    try:
        compile_columns(rule)
    except NotVectorised as exc:
        return exc.reason
    return None


def _compile(node: Any, scope: _Scope) -> _Node:
    compiler = _COMPILERS.get(type(node))
    if compiler is None:
        for cls, candidate in _COMPILERS.items():
            if isinstance(node, cls):
                compiler = candidate
                break
    if compiler is None:
        raise NotVectorised(f"{type(node).__name__} is not vectorised")
    return compiler(node, scope)


def _literal(kind: str, value: Any) -> _Node:
    data = np.asarray(value)
    null = np.ones((), dtype=bool) if kind == "null" else _FALSE
    vec = _Vec(data, null, _FALSE)
    return _Node(kind, "s", lambda run: vec)


def _c_float(node: Any, scope: _Scope) -> _Node:
    value = node.value
    if not value.is_finite() or value != value.to_integral_value() or abs(value) >= EXACT:
        raise NotVectorised(f"the number {value} is not an integer below 2**53")
    return _literal("num", float(value))


def _c_bool(node: Any, scope: _Scope) -> _Node:
    return _literal("bool", bool(node.value))


def _c_null(node: Any, scope: _Scope) -> _Node:
    return _literal("null", False)


def _c_datetime(node: Any, scope: _Scope) -> _Node:
    value: datetime = node.value
    if value.tzinfo is not TOKYO or value.timetz().replace(tzinfo=None) != datetime.min.time():
        raise NotVectorised("a date literal that is not midnight Asia/Tokyo")
    return _literal("date", value.date().toordinal())


def _c_timedelta(node: Any, scope: _Scope) -> _Node:
    value: timedelta = node.value
    if value.seconds or value.microseconds:
        raise NotVectorised("a duration that is not whole days")
    return _literal("delta", value.days)


def _c_string(node: Any, scope: _Scope) -> _Node:
    text = node.value

    def run(r: _Run) -> _Vec:
        return _Vec(np.asarray(r.columns.code(text)), _FALSE, _FALSE)

    return _Node("str", "s", run)


def _c_symbol(node: Any, scope: _Scope) -> _Node:
    name = node.name
    if node.scope is not None:
        raise NotVectorised(f"${name} outside a function call")
    if scope.variable is not None and name == scope.variable:
        return _Node("child", "c", lambda run: _Vec(None, _FALSE, _FALSE))
    if name == "child" and scope.per_child:
        if scope.variable is not None:
            raise NotVectorised("the program's child inside a comprehension (a cross product)")
        return _Node("child", "c", lambda run: _Vec(None, _FALSE, _FALSE))
    if name == "children":
        if scope.variable is not None:
            raise NotVectorised("children inside a comprehension")

        def every(run: _Run) -> _Vec:
            return _Vec(None, _FALSE, _FALSE, keep=np.ones((), dtype=bool))

        return _Node("list", "h", every, item_kind="child")
    kind = HOUSEHOLD_KINDS.get(name)
    if kind is None:
        raise NotVectorised(f"the symbol {name!r}")

    def read(run: _Run) -> _Vec:
        data, null = run.columns.household(name)
        return _Vec(data, null, _FALSE)

    return _Node(kind, "h", read)


_DATE_PARTS = {"year": 0, "month": 1, "day": 2}


def _c_attribute(node: Any, scope: _Scope) -> _Node:
    owner = _compile(node.object, scope)
    name = node.name
    if owner.kind == "child":
        kind = CHILD_KINDS.get(name)
        if kind is None:
            raise NotVectorised(f"the child attribute {name!r}")

        def read(run: _Run) -> _Vec:
            data, null = run.columns.child(name)
            return _Vec(data, null, _FALSE)

        return _Node(kind, "c", read)
    if owner.kind == "childref":
        kind = CHILD_KINDS.get(name)
        if kind is None:
            raise NotVectorised(f"the child attribute {name!r}")

        def read_item(run: _Run) -> _Vec:
            ref = owner.run(run)
            data, null = run.columns.child(name)
            missing = ref.null | ref.unknown
            if len(data) == 0:
                values, nulls = np.zeros(run.columns.families, dtype=data.dtype), _FALSE
            else:
                rows = np.where(missing, 0, ref.data)
                values, nulls = data[rows], _take(null, rows) & ~missing
            # a missing child (children&[k] out of range) gives null with &. and UNKNOWN without
            if node.safe:
                return _Vec(values, _or(nulls, ref.null), ref.unknown)
            return _Vec(values, nulls, _or(ref.unknown, ref.null))

        return _Node(kind, "h", read_item)
    if owner.kind == "list" and name in ("length", "is_empty"):

        def length(run: _Run) -> _Vec:
            v = owner.run(run)
            assert v.keep is not None
            count = run.group_count(v.keep)
            if name == "length":
                return _Vec(count.astype(np.float64), _FALSE, v.unknown)
            return _Vec((count == 0) & ~v.unknown, _FALSE, v.unknown)

        return _Node("num" if name == "length" else "bool", "h", length)
    if owner.kind == "date" and name in _DATE_PARTS:
        part = _DATE_PARTS[name]

        def date_part(run: _Run) -> _Vec:
            v = owner.run(run)
            value = _ymd(np.where(v.null, _EPOCH, v.data))[part].astype(np.float64)
            return _attribute_of(v, value, node.safe)

        return _Node("num", owner.level, date_part)
    if owner.kind == "delta" and name == "days":

        def days(run: _Run) -> _Vec:
            v = owner.run(run)
            return _attribute_of(v, np.asarray(v.data, dtype=np.float64), node.safe)

        return _Node("num", owner.level, days)
    raise NotVectorised(f"the attribute {name!r} of a {owner.kind}")


def _attribute_of(v: _Vec, value: np.ndarray, safe: bool) -> _Vec:
    # `x&.attr` on null is null; `x.attr` on null is a runtime error, i.e. UNKNOWN.
    if safe:
        return _Vec(value, v.null, v.unknown)
    return _Vec(value, _FALSE, v.unknown | v.null)


def _c_unary(node: Any, scope: _Scope) -> _Node:
    operand = _compile(node.right, scope)
    if node.type == "not":
        if operand.kind not in ("bool", "null"):
            raise NotVectorised(f"not on a {operand.kind}")

        def negate(run: _Run) -> _Vec:
            true, unknown = _truth(operand.run(run), operand.kind)
            return _bool(~true, unknown)

        return _Node("bool", operand.level, negate)
    if node.type == "uminus" and operand.kind in ("num", "null"):

        def minus(run: _Run) -> _Vec:
            v = operand.run(run)
            return _Vec(-np.asarray(v.data, dtype=np.float64), _FALSE, v.unknown | v.null)

        return _Node("num", operand.level, minus)
    raise NotVectorised(f"the unary {node.type} on a {operand.kind}")


def _binary_levels(run: _Run, left: _Node, right: _Node) -> tuple[_Vec, _Vec, str]:
    level = _level(left.level, right.level)
    a = run.down(left.run(run), left.level) if level == "c" else left.run(run)
    b = run.down(right.run(run), right.level) if level == "c" else right.run(run)
    return a, b, level


def _c_logic(node: Any, scope: _Scope) -> _Node:
    left, right = _compile(node.left, scope), _compile(node.right, scope)
    for side in (left, right):
        if side.kind not in ("bool", "null"):
            raise NotVectorised(f"{node.type} on a {side.kind}")
    is_and = node.type == "and"

    def logic(run: _Run) -> _Vec:
        a, b, _ = _binary_levels(run, left, right)
        ta, ua = _truth(a, left.kind)
        tb, ub = _truth(b, right.kind)
        if is_and:
            # true where both are; unknown where neither is false and not both true
            true = ta & tb
            unknown = _or(ua & (tb | ub), ub & ta) if ua.ndim or ub.ndim or ua or ub else _FALSE
        else:
            true = ta | tb
            unknown = _but(_or(ua, ub), true)
        return _Vec(true, _FALSE, unknown)

    return _Node("bool", _level(left.level, right.level), logic)


_ORDERED = ("num", "date", "delta", "bool", "str")


def _same_kind(op: str, left: _Node, right: _Node) -> str:
    if left.kind == "null":
        return right.kind
    if right.kind == "null" or left.kind == right.kind:
        return left.kind
    raise NotVectorised(f"{op} between a {left.kind} and a {right.kind}")


def _c_comparison(node: Any, scope: _Scope) -> _Node:
    left, right = _compile(node.left, scope), _compile(node.right, scope)
    if isinstance(node, re_ast.FuzzyComparisonExpression):
        return _regex(node, left, right)
    kind = _same_kind(node.type, left, right)
    if kind not in (*_ORDERED, "null"):
        raise NotVectorised(f"{node.type} on a {kind}")
    level = _level(left.level, right.level)
    if isinstance(node, re_ast.ArithmeticComparisonExpression):
        order = {"gt": np.greater, "ge": np.greater_equal, "lt": np.less, "le": np.less_equal}[
            node.type
        ]

        def ordered(run: _Run) -> _Vec:
            a, b, _ = _binary_levels(run, left, right)
            unknown = _or(a.null, a.unknown, b.null, b.unknown)
            if kind == "null" or left.kind == "null" or right.kind == "null":
                return _bool(_FALSE, unknown | True)
            x, y = a.data, b.data
            if kind == "str":
                ranks = _string_ranks(run.columns)
                x, y = ranks[x], ranks[y]
            return _bool(order(x, y), unknown)

        return _Node("bool", level, ordered)
    if node.type not in ("eq", "ne"):
        raise NotVectorised(f"the comparison {node.type}")
    explicit = isinstance(node.left, re_ast.NullExpression) or isinstance(
        node.right, re_ast.NullExpression
    )
    is_eq = node.type == "eq"

    def equality(run: _Run) -> _Vec:
        a, b, _ = _binary_levels(run, left, right)
        unknown = _or(a.unknown, b.unknown)
        if left.kind == "null" or right.kind == "null":
            values = _FALSE
        else:
            values = np.asarray(a.data == b.data)
        if explicit:
            equal = (a.null & b.null) | (values & ~a.null & ~b.null)
        else:
            unknown = _or(unknown, a.null, b.null)
            equal = values
        return _bool(equal if is_eq else ~equal, unknown)

    return _Node("bool", level, equality)


def _string_ranks(columns: Columns) -> np.ndarray:
    table = columns.string_table()
    ranks = np.empty(len(table), dtype=np.int64)
    ranks[sorted(range(len(table)), key=table.__getitem__)] = np.arange(len(table))
    return ranks


def _regex(node: Any, left: _Node, right: _Node) -> _Node:
    if not isinstance(node.right, re_ast.StringExpression) or left.kind not in ("str", "null"):
        raise NotVectorised("a regular expression that is not a literal matched on a string")
    pattern = safe_regex(node.right.value)
    wanted = node.type.startswith("eq")
    method = "match" if node.type.endswith("fzm") else "search"

    def regex(run: _Run) -> _Vec:
        a = left.run(run)
        unknown = _or(a.null, a.unknown)
        if left.kind == "null" or pattern is None:
            return _bool(_FALSE, unknown | True)
        table = run.columns.string_table()
        find = getattr(pattern, method)
        hits = np.array([(find(t) is not None) == wanted for t in table] + [False], dtype=bool)
        return _bool(hits[a.data], unknown)

    return _Node("bool", left.level, regex)


def _c_contains(node: Any, scope: _Scope) -> _Node:
    container = node.container
    if isinstance(container, re_ast.ComprehensionExpression):
        return _in_comprehension(node, scope)
    if not isinstance(container, re_ast.ArrayExpression | re_ast.SetExpression):
        raise NotVectorised("'in' on something other than a literal list")
    member = _compile(node.member, scope)
    items = list(container.value)
    if not all(isinstance(i, re_ast.LiteralExpressionBase) for i in items):
        raise NotVectorised("a list literal with computed members")
    has_null = any(isinstance(i, re_ast.NullExpression) for i in items)
    values = [i for i in items if not isinstance(i, re_ast.NullExpression)]
    kinds = {_compile(i, scope).kind for i in values}
    if member.kind == "null":
        kinds.add("null")
    elif kinds - {member.kind} or member.kind not in _ORDERED:
        raise NotVectorised(f"'in' of a {member.kind} in a list of {sorted(kinds)}")
    literal_null = isinstance(node.member, re_ast.NullExpression)
    compiled = [_compile(i, scope) for i in values]

    def contains(run: _Run) -> _Vec:
        m = member.run(run)
        unknown = m.unknown if literal_null else m.unknown | m.null
        if member.kind == "null":
            found = np.asarray(has_null)
        else:
            candidates = np.array([c.run(run).data for c in compiled])
            found = np.isin(m.data, candidates) & ~m.null
            if literal_null and has_null:
                found = found | m.null
        if has_null:
            unknown = unknown | ~found
        return _bool(found, unknown)

    return _Node("bool", member.level, contains)


def _in_comprehension(node: Any, scope: _Scope) -> _Node:
    """`member in [... for c in children ...]`: a grouped equality test per family."""
    listed = _compile(node.container, scope)
    member = _compile(node.member, scope)
    items = listed.item_kind
    if member.level == "c":
        raise NotVectorised("'in' of a child value in a list over children (a cross product)")
    if items not in (*_ORDERED, "null") or (
        member.kind != "null" and items != "null" and member.kind != items
    ):
        raise NotVectorised(f"'in' of a {member.kind} in a list of {items}")
    literal_null = isinstance(node.member, re_ast.NullExpression)

    def contains(run: _Run) -> _Vec:
        v = listed.run(run)
        assert v.keep is not None and v.items is not None
        member_value = member.run(run)
        m = run.down(member_value, member.level)
        kept_null = v.keep & v.items.null
        has_null = run.group_any(kept_null)
        if literal_null:
            found = has_null
        elif member.kind == "null" or items == "null":
            found = np.zeros(run.columns.families, dtype=bool)
        else:
            equal = np.asarray(v.items.data == m.data) & ~v.items.null & ~m.null
            found = run.group_any(v.keep & equal)
        unknown = _or(
            v.unknown,
            member_value.unknown,
            _FALSE if literal_null else member_value.null,
            has_null & ~found,
        )
        return _bool(found, unknown)

    return _Node("bool", "h", contains)


def _c_coalesce(node: Any, scope: _Scope) -> _Node:
    left, right = _compile(node.left, scope), _compile(node.right, scope)
    kind = _same_kind("??", left, right)
    if kind in ("list", "child"):
        raise NotVectorised(f"?? on a {kind}")
    level = _level(left.level, right.level)

    def coalesce(run: _Run) -> _Vec:
        a, b, _ = _binary_levels(run, left, right)
        if left.kind == "null":
            return b
        if right.kind == "null":
            return _Vec(a.data, a.null, a.unknown)
        return _Vec(
            np.where(a.null, b.data, a.data),
            a.null & b.null,
            np.where(a.null, b.unknown, a.unknown),
        )

    return _Node(kind, level, coalesce)


_ARITHMETIC = {
    ("add", "num", "num"): "num",
    ("add", "date", "delta"): "date",
    ("add", "delta", "date"): "date",
    ("add", "delta", "delta"): "delta",
    ("sub", "num", "num"): "num",
    ("sub", "date", "date"): "delta",
    ("sub", "date", "delta"): "date",
    ("sub", "delta", "delta"): "delta",
    ("mul", "num", "num"): "num",
}


def _c_arithmetic(node: Any, scope: _Scope) -> _Node:
    left, right = _compile(node.left, scope), _compile(node.right, scope)
    op = node.type
    if left.kind == "null" or right.kind == "null":
        other = right if left.kind == "null" else left
        kind = other.kind if other.kind in ("num", "date", "delta") else "num"
    else:
        kind = _ARITHMETIC.get((op, left.kind, right.kind), "")
    if not kind:
        raise NotVectorised(f"the operation {op} on a {left.kind} and a {right.kind}")
    ufunc = {"add": np.add, "sub": np.subtract, "mul": np.multiply}[op]

    def arithmetic(run: _Run) -> _Vec:
        a, b, _ = _binary_levels(run, left, right)
        # arithmetic on null raises in rule-engine: UNKNOWN
        unknown = _or(a.unknown, b.unknown, a.null, b.null)
        if left.kind == "null" or right.kind == "null":
            return _Vec(np.zeros(()), _FALSE, unknown | True)
        data = ufunc(a.data, b.data)
        valid = ~unknown
        if kind == "num":
            _check_exact(data, valid)
        elif kind == "date" and np.any(((data < 1) | (data > _MAX_ORDINAL)) & valid):
            raise NotVectorised("a date out of range")
        return _Vec(data, _FALSE, unknown)

    return _Node(kind, _level(left.level, right.level), arithmetic)


def _c_ternary(node: Any, scope: _Scope) -> _Node:
    condition = _compile(node.condition, scope)
    yes, no = _compile(node.case_true, scope), _compile(node.case_false, scope)
    if condition.kind not in ("bool", "null"):
        raise NotVectorised(f"a ternary on a {condition.kind}")
    kind = _same_kind("?:", yes, no)
    if kind in ("list", "child"):
        raise NotVectorised(f"a ternary giving a {kind}")
    level = _level(condition.level, yes.level, no.level)

    def ternary(run: _Run) -> _Vec:
        c = condition.run(run)
        a, b = yes.run(run), no.run(run)
        if level == "c":
            c, a, b = run.down(c, condition.level), run.down(a, yes.level), run.down(b, no.level)
        true, unknown = _truth(c, condition.kind)
        false = ~true & ~unknown
        if yes.kind == "null" or no.kind == "null":
            same_value = _FALSE
        else:
            same_value = np.asarray(a.data == b.data)
        # Unknown condition: known only when both branches give the same value (or both null).
        agree = ~a.unknown & ~b.unknown & ((a.null & b.null) | (~a.null & ~b.null & same_value))
        data = np.where(false, b.data, a.data)
        null = np.where(false, b.null, a.null)
        unk = np.where(true, a.unknown, np.where(false, b.unknown, ~agree))
        null = null & ~unk
        return _Vec(data, null, unk)

    return _Node(kind, level, ternary)


def _c_comprehension(node: Any, scope: _Scope) -> _Node:
    if scope.variable is not None:
        raise NotVectorised("a comprehension inside a comprehension")
    iterable = node.iterable
    if not (
        isinstance(iterable, re_ast.SymbolExpression)
        and iterable.scope is None
        and iterable.name == "children"
    ):
        raise NotVectorised("a comprehension over something other than children")
    inner = _Scope(scope.per_child, variable=node.variable)
    condition = _compile(node.condition, inner) if node.condition is not None else None
    result = _compile(node.result, inner)
    if condition is not None and condition.kind not in ("bool", "null"):
        raise NotVectorised(f"a comprehension filter giving a {condition.kind}")
    if result.kind in ("list",):
        raise NotVectorised("a comprehension giving lists")

    def comprehension(run: _Run) -> _Vec:
        if condition is None:
            keep: np.ndarray = np.ones((), dtype=bool)
            doubt: np.ndarray = _FALSE
        else:
            keep, doubt = _truth(run.down(condition.run(run), condition.level), condition.kind)
        items = run.down(result.run(run), result.level)
        # UNKNOWN anywhere in a family's filter, or in a kept result, makes the list UNKNOWN.
        unknown = run.group_any(doubt | (keep & items.unknown))
        return _Vec(None, _FALSE, unknown, keep=keep, items=items)

    return _Node("list", "h", comprehension, item_kind=result.kind)


def _c_call(node: Any, scope: _Scope) -> _Node:
    function = node.function
    if not (isinstance(function, re_ast.SymbolExpression) and function.scope is not None):
        raise NotVectorised("a call of something other than a builtin")
    name = function.name
    if len(node.arguments) != 1:
        raise NotVectorised(f"${name} with {len(node.arguments)} arguments")
    argument = _compile(node.arguments[0], scope)
    if name == "abs" and argument.kind == "num":

        def absolute(run: _Run) -> _Vec:
            v = argument.run(run)
            return _Vec(np.abs(v.data), _FALSE, v.unknown | v.null)

        return _Node("num", argument.level, absolute)
    if argument.kind != "list":
        raise NotVectorised(f"${name} of a {argument.kind}")
    items = argument.item_kind
    if name in ("any", "all") and items in ("bool", "null"):
        is_any = name == "any"

        def any_all(run: _Run) -> _Vec:
            v = argument.run(run)
            assert v.keep is not None and v.items is not None
            truthy = (
                _FALSE if items == "null" else np.asarray(v.items.data & ~v.items.null, dtype=bool)
            )
            if is_any:
                return _bool(run.group_any(v.keep & truthy), v.unknown)
            return _bool(~run.group_any(v.keep & ~truthy), v.unknown)

        return _Node("bool", "h", any_all)
    if name in ("sum", "min", "max") and items == "num":

        def reduce(run: _Run) -> _Vec:
            v = argument.run(run)
            assert v.keep is not None and v.items is not None
            keep = np.broadcast_to(v.keep, (run.columns.children,))
            data = np.broadcast_to(np.asarray(v.items.data, dtype=np.float64), keep.shape)
            # a null item makes the builtin fail (None + 1, None < 1): UNKNOWN
            unknown = v.unknown | run.group_any(keep & v.items.null)
            rows = run.family[keep]
            n = run.columns.families
            if name == "sum":
                total = np.bincount(rows, weights=np.abs(data[keep]), minlength=n)
                _check_exact(total, ~unknown)
                value = np.bincount(rows, weights=data[keep], minlength=n)
            else:
                # min() / max() of no items raise: UNKNOWN
                unknown = unknown | (np.bincount(rows, minlength=n) == 0)
                fill, ufunc = (np.inf, np.minimum) if name == "min" else (-np.inf, np.maximum)
                value = np.full(n, fill)
                ufunc.at(value, rows, data[keep])
                value = np.where(unknown, 0.0, value)
            return _Vec(value, _FALSE, unknown)

        return _Node("num", "h", reduce)
    raise NotVectorised(f"${name} of a list of {items}")


def _c_item(node: Any, scope: _Scope) -> _Node:
    container, item = node.container, node.item
    if not (
        isinstance(container, re_ast.SymbolExpression)
        and container.scope is None
        and container.name == "children"
        and container.name != scope.variable
        and isinstance(item, re_ast.FloatExpression)
        and item.value == item.value.to_integral_value()
        and abs(item.value) <= 1000
    ):
        raise NotVectorised("item access other than children[k] with a literal k")
    _compile(container, scope)  # children inside a comprehension is refused there
    k = int(item.value)

    def child_at(run: _Run) -> _Vec:
        starts = run._starts()
        counts = np.diff(starts)
        missing = (k >= counts) if k >= 0 else (-k > counts)
        rows = (starts[:-1] + k) if k >= 0 else (starts[1:] + k)
        # out of range: children&[k] is null, children[k] a runtime error (UNKNOWN)
        if node.safe:
            return _Vec(rows, missing, _FALSE)
        return _Vec(rows, _FALSE, missing)

    return _Node("childref", "h", child_at)


_COMPILERS: dict[type, Callable[[Any, _Scope], _Node]] = {
    re_ast.GetItemExpression: _c_item,
    re_ast.FloatExpression: _c_float,
    re_ast.BooleanExpression: _c_bool,
    re_ast.NullExpression: _c_null,
    re_ast.DatetimeExpression: _c_datetime,
    re_ast.TimedeltaExpression: _c_timedelta,
    re_ast.StringExpression: _c_string,
    re_ast.SymbolExpression: _c_symbol,
    re_ast.GetAttributeExpression: _c_attribute,
    re_ast.UnaryExpression: _c_unary,
    re_ast.LogicExpression: _c_logic,
    re_ast.ComparisonExpression: _c_comparison,
    re_ast.ContainsExpression: _c_contains,
    re_ast.CoalesceExpression: _c_coalesce,
    re_ast.AddExpression: _c_arithmetic,
    re_ast.SubtractExpression: _c_arithmetic,
    re_ast.TernaryExpression: _c_ternary,
    re_ast.ComprehensionExpression: _c_comprehension,
    re_ast.FunctionCallExpression: _c_call,
}


def _c_arithmetic_checked(node: Any, scope: _Scope) -> _Node:
    if node.type != "mul":
        raise NotVectorised(f"the operation {node.type} (not exact in float64)")
    return _c_arithmetic(node, scope)


_COMPILERS[re_ast.ArithmeticExpression] = _c_arithmetic_checked
_COMPILERS[re_ast.ArithmeticComparisonExpression] = _c_comparison
_COMPILERS[re_ast.FuzzyComparisonExpression] = _c_comparison


__all__ = [
    "CHILD_KINDS",
    "EXACT",
    "HOUSEHOLD_KINDS",
    "ColumnRule",
    "Columns",
    "NotVectorised",
    "age_columns",
    "build_columns",
    "compile_columns",
    "derive_columns",
    "fallback_reason",
]
