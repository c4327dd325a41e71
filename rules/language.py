"""The eligibility language: compile a rule once, evaluate it against many families.

Rules are rule-engine (v5) expressions over a typed vocabulary (`rules.profile.VOCABULARY`):

* Household fields are top-level names: ``child_count >= 3``, ``municipality == '131130'``,
  ``household_income < 5000000``, ``pregnant``.
* A per-child rule also sees ``child``, typed as an object, so fields read with a dot:
  ``child.class_age <= 17``, ``child.birth_order >= 3``, ``child.daycare == 'applying'``.
  ``child['age']`` is rejected (rule-engine allows item access only on mappings).
* ``children`` is an array of the same child objects: ``children.length >= 3``,
  ``[c for c in children if c.age < 3].length >= 2``, ``children[0].age``.
* Dates (``today``, ``due_date``, ``child.birth_date``) are DATETIME at midnight Asia/Tokyo, and
  date literals are written ``d'2026-04-01'`` (also midnight Asia/Tokyo), so
  ``today >= d'2026-04-01'`` and ``today - child.birth_date <= t'P14D'`` work.
* ``$today`` / ``$now`` (the real clock) are rejected: rules must depend only on the context, so
  that sweeps can evaluate "as of" any day.

NULL SEMANTICS. A null field means "unknown" (the family did not tell us), never "no":

* A comparison (``== != < <= > >= =~ in``) with a null operand is UNKNOWN; only an explicit
  ``field == null`` / ``field != null`` against the literal ``null`` is definite.
* Logic is Kleene three-valued: ``not UNKNOWN`` = UNKNOWN, ``false and UNKNOWN`` = false,
  ``true or UNKNOWN`` = true, otherwise an UNKNOWN operand makes the result UNKNOWN. A ternary
  with an UNKNOWN condition is UNKNOWN unless both branches give the same value.
* A comprehension whose filter is UNKNOWN for some element is UNKNOWN as a whole.
* ``field ?? default`` replaces a null value (``(household_income ?? 0) < 5000000``); it does not
  turn an UNKNOWN condition into a known one.
* Arithmetic or attribute access on null, a missing key, an index out of range or any other
  runtime error is UNKNOWN; evaluation never raises to the caller.
* A rule holds only when it is definitely TRUE. A family with unknown income is therefore
  eligible neither for ``household_income < 5000000`` nor for
  ``not (household_income >= 5000000)``.

Types are checked at compile time (``child.class_age == '3'`` is an error). Nullable fields are
declared with their plain type, because rule-engine refuses ordered comparisons on NULLABLE types;
nullness is handled at run time by the semantics above.
"""

from __future__ import annotations

import copy
import decimal
import difflib
import functools
import operator
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import rule_engine
import rule_engine.parser
from rule_engine import ast as re_ast
from rule_engine import errors as re_errors
from rule_engine.types import DataType

from rules.cost import (
    OPERANDS,
    SIMPLER_PATTERN,
    check_cost,
    costliest_clause,
    regex_problem,
    rule_work,
    safe_regex,
)
from rules.lgcode import check_digit, is_valid_lgcode
from rules.profile import VOCABULARY, Term

TOKYO = ZoneInfo("Asia/Tokyo")
MAX_EXPRESSION_LENGTH = 4000
LOCATION = "eligibility"

HOUSEHOLD_FIELDS: dict[str, Term] = {k: t for k, t in VOCABULARY.items() if "." not in k}
CHILD_FIELDS: dict[str, Term] = {
    k.removeprefix("child."): t for k, t in VOCABULARY.items() if k.startswith("child.")
}

_SCALARS = {
    "STRING": DataType.STRING,
    "FLOAT": DataType.FLOAT,
    "DATETIME": DataType.DATETIME,
    "BOOLEAN": DataType.BOOLEAN,
}


class _UnsafePattern(Exception):
    """A regular expression refused before anything runs it (see `rules.cost`)."""

    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(reason)
        self.pattern = pattern
        self.reason = reason


class _SafeFuzzyComparison(re_ast.FuzzyComparisonExpression):
    """`=~` and its kin matched by RE2 (linear time), never by Python's backtracking `re`.

    rule-engine compiles a literal pattern while parsing and even matches it there when both
    sides are literals, so the check must sit here, before any match can run.
    """

    def _compile_regex(self, regex: str) -> Any:
        problem = regex_problem(regex)
        if problem is not None:
            raise _UnsafePattern(regex, problem)
        return safe_regex(regex)


class _SafeParser(rule_engine.parser.Parser):
    start = "statement"  # PLY takes the first rule by line number, which is now ours

    def p_expression_fuzzy_comparison(self, p: Any) -> None:
        """
        expression : expression EQ_FZM expression
                           | expression EQ_FZS expression
                           | expression NE_FZM expression
                           | expression NE_FZS expression
        """
        left, op, right = p[1:4]
        p[0] = rule_engine.parser._DeferredAstNode(
            _SafeFuzzyComparison, args=(self.context, self.op_names[op], left, right)
        )


class _Rule(rule_engine.Rule):
    parser = _SafeParser()


class ChildView:
    """A child as rule-engine sees it: an OBJECT (not a mapping), so `child.age` is typed."""

    __slots__ = ("values",)

    def __init__(self, child: Mapping[str, Any]) -> None:
        self.values = {k: _to_engine(v) for k, v in child.items()}

    def __repr__(self) -> str:
        return f"ChildView({self.values!r})"


def _child_attribute(view: ChildView, name: str) -> Any:
    return view.values[name]


CHILD_TYPE = DataType.OBJECT(
    "Child",
    attributes={name: _SCALARS[term.type] for name, term in CHILD_FIELDS.items()},
    accessor=_child_attribute,
)
_HOUSEHOLD_TYPES = {
    name: DataType.ARRAY(CHILD_TYPE) if name == "children" else _SCALARS[term.type]
    for name, term in HOUSEHOLD_FIELDS.items()
}
_PER_CHILD_TYPES = {**_HOUSEHOLD_TYPES, "child": CHILD_TYPE}


def _to_engine(value: Any) -> Any:
    # People live by the Tokyo calendar: a date means midnight Asia/Tokyo, as d'' literals do.
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=TOKYO)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=TOKYO)
    return value


class Bound(dict[str, Any]):
    """A rule context converted for evaluation (dates as aware datetimes, children as objects)."""


def bind(context: Mapping[str, Any], child: Mapping[str, Any] | None = None) -> Bound:
    """Convert a `derive()` context (and optionally one of its children) for evaluation."""
    if isinstance(context, Bound):
        base = context
    else:
        base = Bound()
        for key, value in context.items():
            if key == "children":
                base[key] = tuple(ChildView(c) for c in value or ())
            elif key != "child":
                base[key] = _to_engine(value)
    if child is None:
        return base
    bound = Bound(base)
    bound["child"] = ChildView(child)
    return bound


class RuleError(Exception):
    """A rule that cannot be compiled; `details` lists {location, reason, suggestion}, and
    with them the facts a caller may word the problem from in another language: `kind`
    (`unknown_field`, `type_mismatch`, `syntax`, ...), `hint` (the kind of suggestion, when it
    varies) and the names and values the reason quotes (`field`, `nearest`, `line`, ...)."""

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or [_detail(message)]


class RuleTooCostly(RuleError):
    """A rule refused because evaluating it could hold the server too long; names the clause."""

    def __init__(self, clause: str, reason: str, suggestion: str | None = None) -> None:
        super().__init__(
            f"rule too costly: {clause}: {reason}",
            [_detail(reason, suggestion, kind="too_costly", clause=clause)],
        )
        self.clause = clause
        self.reason = reason
        self.suggestion = suggestion

    def __reduce__(self) -> Any:  # checks run in worker processes: keep every field
        return (RuleTooCostly, (self.clause, self.reason, self.suggestion))


def _detail(
    reason: str, suggestion: str | None = None, location: str = LOCATION, **facts: Any
) -> dict[str, Any]:
    return {"location": location, "reason": reason, "suggestion": suggestion, **facts}


def _error(
    reason: str, suggestion: str | None = None, location: str = LOCATION, **facts: Any
) -> RuleError:
    return RuleError(reason, [_detail(reason, suggestion, location, **facts)])


@dataclass(frozen=True)
class Explanation:
    """Why a rule held or not: its top-level `and` conjuncts, each classified."""

    result: bool | None
    held: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


def _truth(value: Any) -> bool | None:
    if value is UNKNOWN or value is None:
        return None
    return bool(value)


def _missing(value: Any) -> bool:
    return value is UNKNOWN or value is None


class _Value(re_ast.ExpressionBase):
    """An already evaluated operand standing in for a sub-expression."""

    def __init__(self, original: re_ast.ExpressionBase, value: Any) -> None:
        self.context = original.context
        self.result_type = original.result_type
        self.value = value

    def evaluate(self, thing: Any) -> Any:
        return self.value


_ORDER = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}


def _subexpressions(node: Any) -> list[re_ast.ExpressionBase]:
    subs = [s for s in (getattr(node, a, None) for a in OPERANDS) if _is_expr(s)]
    if isinstance(node, re_ast.FunctionCallExpression):
        subs.extend(node.arguments)
    elif isinstance(node, re_ast.ArrayExpression | re_ast.SetExpression):
        subs.extend(node.value)
    elif isinstance(node, re_ast.MappingExpression):
        for key, value in node.value:
            subs.extend((key, value))
    return subs


def _is_expr(value: Any) -> bool:
    return isinstance(value, re_ast.ExpressionBase)


def _walk(node: Any) -> Iterator[Any]:
    yield node
    for sub in _subexpressions(node):
        yield from _walk(sub)


def _is_special(node: Any) -> bool:
    """Nodes whose null handling differs from rule-engine's own and that we evaluate ourselves."""
    if isinstance(node, re_ast.UnaryExpression):
        return node.type == "not"
    return isinstance(
        node,
        re_ast.LogicExpression
        | re_ast.ComparisonExpression
        | re_ast.TernaryExpression
        | re_ast.ContainsExpression
        | re_ast.ComprehensionExpression,
    )


def _plain_nodes(node: Any, out: set[int]) -> bool:
    plain = not _is_special(node)
    for sub in _subexpressions(node):
        plain = _plain_nodes(sub, out) and plain
    if plain:
        out.add(id(node))
    return plain


class CompiledRule:
    """A compiled rule; evaluate it with three-valued logic (see the module docstring)."""

    __slots__ = ("expression", "per_child", "fields", "_rule", "_root", "_plain", "_conjuncts")

    def __init__(self, expression: str, per_child: bool, rule: rule_engine.Rule) -> None:
        self.expression = expression
        self.per_child = per_child
        self._rule = rule
        self._root = rule.statement.expression
        plain: set[int] = set()
        _plain_nodes(self._root, plain)
        self._plain = frozenset(plain)
        self._conjuncts = _conjuncts(expression, self._root)
        self.fields: frozenset[str] = frozenset(
            f for f in map(_field_name, _walk(self._root)) if f is not None
        )

    def __repr__(self) -> str:
        kind = "per-child" if self.per_child else "household"
        return f"CompiledRule({self.expression!r}, {kind})"

    @property
    def conjuncts(self) -> list[str]:
        """The top-level `and` conjuncts as text, in order."""
        return [text for text, _ in self._conjuncts]

    @property
    def work(self) -> int:
        """Estimated evaluation steps for one family (bounded by `rules.cost.MAX_WORK`)."""
        return rule_work(self._conjuncts, self.per_child)

    @property
    def costliest_clause(self) -> str:
        """The top-level conjunct expected to take the longest."""
        return costliest_clause(self._conjuncts)

    @property
    def conjunct_nodes(self) -> list[Any]:
        """The top-level `and` conjuncts as rule-engine ASTs (for `rules.explain`)."""
        return [node for _, node in self._conjuncts]

    def _bind(self, context: Mapping[str, Any], child: Mapping[str, Any] | None) -> Bound:
        if self.per_child and child is None and "child" not in context:
            raise ValueError(f"per-child rule needs a child: {self.expression!r}")
        return bind(context, child)

    def truth(
        self, context: Mapping[str, Any], child: Mapping[str, Any] | None = None
    ) -> bool | None:
        """Three-valued result: True, False or None (unknown)."""
        thing = self._bind(context, child)
        try:
            with decimal.localcontext(self._rule.context.decimal_context):
                return _truth(self._eval(self._root, thing))
        except Exception:  # evaluation must never fail the caller: unknown instead
            return None

    def evaluate(self, context: Mapping[str, Any], child: Mapping[str, Any] | None = None) -> bool:
        """Whether the rule is definitely TRUE for this family (and child, for per-child rules)."""
        return self.truth(context, child) is True

    def explain(
        self, context: Mapping[str, Any], child: Mapping[str, Any] | None = None
    ) -> Explanation:
        """Classify each top-level conjunct as held, failed or unknown."""
        thing = self._bind(context, child)
        held: list[str] = []
        failed: list[str] = []
        unknown: list[str] = []
        with decimal.localcontext(self._rule.context.decimal_context):
            for text, node in self._conjuncts:
                try:
                    value = _truth(self._eval(node, thing))
                except Exception:  # as in truth(): an error means unknown
                    value = None
                {True: held, False: failed, None: unknown}[value].append(text)
        result = False if failed else (None if unknown else True)
        return Explanation(result=result, held=held, failed=failed, unknown=unknown)

    # -- three-valued evaluation over rule-engine's AST -------------------------------------

    def _eval(self, node: Any, thing: Bound) -> Any:
        if id(node) in self._plain:
            return _delegate(node, thing)
        if isinstance(node, re_ast.LogicExpression):
            return self._logic(node, thing)
        if isinstance(node, re_ast.UnaryExpression) and node.type == "not":
            value = _truth(self._eval(node.right, thing))
            return UNKNOWN if value is None else not value
        if isinstance(node, re_ast.TernaryExpression):
            return self._ternary(node, thing)
        if isinstance(node, re_ast.ComparisonExpression):
            return self._compare(node, thing)
        if isinstance(node, re_ast.ContainsExpression):
            return self._contains(node, thing)
        if isinstance(node, re_ast.ComprehensionExpression):
            return self._comprehension(node, thing)
        if isinstance(node, re_ast.CoalesceExpression):
            left = self._eval(node.left, thing)
            if left is None:
                return self._eval(node.right, thing)
            return left
        return self._substitute(node, thing)

    def _logic(self, node: Any, thing: Bound) -> Any:
        left = _truth(self._eval(node.left, thing))
        if node.type == "and":
            if left is False:
                return False
            right = _truth(self._eval(node.right, thing))
            if right is False:
                return False
            return True if (left and right) else UNKNOWN
        if left is True:
            return True
        right = _truth(self._eval(node.right, thing))
        if right is True:
            return True
        return False if (left is False and right is False) else UNKNOWN

    def _ternary(self, node: Any, thing: Bound) -> Any:
        condition = _truth(self._eval(node.condition, thing))
        if condition is True:
            return self._eval(node.case_true, thing)
        if condition is False:
            return self._eval(node.case_false, thing)
        a = self._eval(node.case_true, thing)
        b = self._eval(node.case_false, thing)
        # Unknown condition: the result is known only if it does not depend on the condition.
        if a is not UNKNOWN and b is not UNKNOWN and type(a) is type(b) and a == b:
            return a
        return UNKNOWN

    def _compare(self, node: Any, thing: Bound) -> Any:
        left = self._eval(node.left, thing)
        right = self._eval(node.right, thing)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        if isinstance(node, re_ast.FuzzyComparisonExpression):
            if not (isinstance(left, str) and isinstance(right, str)):
                return UNKNOWN
            pattern = safe_regex(right)
            if pattern is None:
                return UNKNOWN
            found = (pattern.match if node.type.endswith("fzm") else pattern.search)(left)
            return (found is not None) == node.type.startswith("eq")
        if isinstance(node, re_ast.ArithmeticComparisonExpression):
            if left is None or right is None or type(left) is not type(right):
                return UNKNOWN
            return bool(_ORDER[node.type](left, right))
        explicit = isinstance(node.left, re_ast.NullExpression) or isinstance(
            node.right, re_ast.NullExpression
        )
        if left is None or right is None:
            if not explicit:
                return UNKNOWN
            equal = left is None and right is None
        else:
            equal = type(left) is type(right) and left == right
        return equal if node.type == "eq" else not equal

    def _contains(self, node: Any, thing: Bound) -> Any:
        container = self._eval(node.container, thing)
        member = self._eval(node.member, thing)
        if _missing(container) or member is UNKNOWN:
            return UNKNOWN
        if member is None and not isinstance(node.member, re_ast.NullExpression):
            return UNKNOWN
        if isinstance(container, str):
            return (member in container) if isinstance(member, str) else UNKNOWN
        if member in container:
            return True
        if isinstance(container, tuple | frozenset | set) and any(v is None for v in container):
            return UNKNOWN
        return False

    def _comprehension(self, node: Any, thing: Bound) -> Any:
        iterable = self._eval(node.iterable, thing)
        if _missing(iterable):
            return UNKNOWN
        out = []
        for item in iterable:
            with node.context.assignments(re_ast.Assignment(node.variable, value=item)):
                if node.condition is not None:
                    keep = _truth(self._eval(node.condition, thing))
                    if keep is None:
                        return UNKNOWN
                    if not keep:
                        continue
                value = self._eval(node.result, thing)
                if value is UNKNOWN:
                    return UNKNOWN
                out.append(value)
        return tuple(out)

    def _substitute(self, node: Any, thing: Bound) -> Any:
        """Evaluate operands our way, then let rule-engine apply the node's own operation."""
        clone = copy.copy(node)
        for attr in OPERANDS:
            sub = getattr(node, attr, None)
            if _is_expr(sub):
                value = self._eval(sub, thing)
                if value is UNKNOWN:
                    return UNKNOWN
                setattr(clone, attr, _Value(sub, value))
        if isinstance(node, re_ast.FunctionCallExpression):
            args = [self._eval(a, thing) for a in node.arguments]
            if any(a is UNKNOWN for a in args):
                return UNKNOWN
            clone.arguments = tuple(
                _Value(a, v) for a, v in zip(node.arguments, args, strict=True)
            )
        elif isinstance(node, re_ast.ArrayExpression | re_ast.SetExpression):
            items = [self._eval(m, thing) for m in node.value]
            if any(v is UNKNOWN for v in items):
                return UNKNOWN
            clone.value = tuple(_Value(m, v) for m, v in zip(node.value, items, strict=True))
        elif isinstance(node, re_ast.MappingExpression):
            pairs = [(self._eval(k, thing), self._eval(v, thing)) for k, v in node.value]
            if any(k is UNKNOWN or v is UNKNOWN for k, v in pairs):
                return UNKNOWN
            clone.value = tuple(
                (_Value(k, kv), _Value(v, vv))
                for (k, v), (kv, vv) in zip(node.value, pairs, strict=True)
            )
        if hasattr(clone, "_evaluator"):
            # Binary and unary nodes keep a bound method; rebind it to the clone's operands.
            clone._evaluator = getattr(clone, "_op_" + clone.type)
        return _delegate(clone, thing)


def _delegate(node: Any, thing: Bound) -> Any:
    try:
        return node.evaluate(thing)
    except Exception:  # a runtime error inside a rule means "unknown", never a crash
        return UNKNOWN


# -- splitting a rule into its top-level conjuncts ---------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<str>[bdtrs]?(?P<q>["'])(?:[^\\\n]|\\.)*?(?P=q))
  | (?P<comment>\#[^\n]*)
  | (?P<word>\$?[A-Za-z_][A-Za-z0-9_]*)
  | (?P<open>[(\[{])
  | (?P<close>[)\]}])
    """,
    re.X,
)


def _clean(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text).strip()


def _split_top_level_and(expression: str) -> list[str]:
    depth, start, end = 0, 0, len(expression)
    pieces: list[str] = []
    for m in _TOKEN.finditer(expression):
        if m.group("comment") is not None:
            end = m.start()  # rule-engine allows a comment only at the very end
            break
        if m.group("open") is not None:
            depth += 1
        elif m.group("close") is not None:
            depth -= 1
        elif depth == 0 and m.group("word") == "and":
            pieces.append(expression[start : m.start()])
            start = m.end()
    pieces.append(expression[start:end])
    return [_clean(p) for p in pieces]


def _conjuncts(expression: str, root: Any) -> list[tuple[str, Any]]:
    pieces = _split_top_level_and(expression)
    # `and` is left-associative, so "p1 and p2 and p3" parses as ((p1 and p2) and p3): peel the
    # right operands off k-1 times. If the top is not such a chain (a top-level `or` or ternary),
    # the whole rule is one conjunct.
    nodes = []
    node = root
    for _ in range(len(pieces) - 1):
        if not (isinstance(node, re_ast.LogicExpression) and node.type == "and"):
            return [(_clean(_strip_comment(expression)), root)]
        nodes.append(node.right)
        node = node.left
    nodes.append(node)
    nodes.reverse()
    return list(zip(pieces, nodes, strict=True))


def _strip_comment(expression: str) -> str:
    for m in _TOKEN.finditer(expression):
        if m.group("comment") is not None:
            return expression[: m.start()]
    return expression


# -- compiling ------------------------------------------------------------------------------

_KIND = {
    "FLOAT": "number",
    "STRING": "string",
    "DATETIME": "date",
    "BOOLEAN": "boolean",
    "NULL": "null",
    "ARRAY": "list",
    "SET": "set",
    "MAPPING": "mapping",
    "TIMEDELTA": "duration",
    "BYTES": "bytes",
    "FUNCTION": "function",
    "Child": "child",
}


def _type_code(data_type: Any) -> str:
    """A type as a short code for callers that word it themselves: FLOAT, ARRAY/STRING, ..."""
    data_type = DataType.NULLABLE.unwrap(data_type)
    if DataType.is_type(data_type, DataType.ARRAY) and _defined(data_type.value_type):
        return f"ARRAY/{DataType.NULLABLE.unwrap(data_type.value_type).name}"
    return str(data_type.name)


def _kind(data_type: Any) -> str:
    data_type = DataType.NULLABLE.unwrap(data_type)
    if DataType.is_type(data_type, DataType.ARRAY) and _defined(data_type.value_type):
        member = DataType.NULLABLE.unwrap(data_type.value_type)
        return f"list of {_KIND.get(member.name, member.name.lower())}s (ARRAY)"
    return f"{_KIND.get(data_type.name, data_type.name.lower())} ({data_type.name})"


def _new_context(per_child: bool) -> rule_engine.Context:
    types = _PER_CHILD_TYPES if per_child else _HOUSEHOLD_TYPES
    return rule_engine.Context(
        type_resolver=rule_engine.type_resolver_from_dict(types),
        default_timezone=TOKYO,
        mapping_attribute_lookup=False,
    )


@functools.lru_cache(maxsize=4096)
def compile_rule(expression: str, *, per_child: bool) -> CompiledRule:
    """Compile a rule (cached); raises RuleError with a located reason and a suggestion."""
    if not expression.strip():
        raise _error(
            "the rule is empty",
            "write a condition, e.g. child.class_age <= 17" if per_child else "write a condition",
            kind="empty",
            per_child=per_child,
        )
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise _error(
            f"the rule is {len(expression)} characters long; at most "
            f"{MAX_EXPRESSION_LENGTH} are allowed",
            "split the program or simplify the condition",
            kind="too_long",
            length=len(expression),
            limit=MAX_EXPRESSION_LENGTH,
        )
    try:
        rule = _Rule(expression, context=_new_context(per_child))
    except _UnsafePattern as exc:
        clause = _regex_clause(expression, exc.pattern)
        raise RuleTooCostly(clause, exc.reason, SIMPLER_PATTERN) from None
    except re_errors.RuleSyntaxError as exc:
        raise _syntax_error(expression, exc) from None
    except re_errors.SymbolResolutionError as exc:
        raise _unknown_symbol(exc.symbol_name, per_child) from None
    except re_errors.ObjectAttributeError as exc:
        raise _unknown_child_field(exc.attribute_name) from None
    except re_errors.AttributeResolutionError as exc:
        hint = f"did you mean {exc.suggestion!r}?" if exc.suggestion else None
        raise _error(
            f"unknown attribute {exc.attribute_name!r}",
            hint,
            kind="unknown_attribute",
            field=exc.attribute_name,
            nearest=exc.suggestion or None,
        ) from None
    except re_errors.SyntaxError as exc:
        value = getattr(exc, "value", None)
        raise _error(
            f"invalid literal {value!r}: {exc.message}" if value is not None else exc.message,
            "write dates as d'2026-04-01' and durations as t'P14D'",
            kind="invalid_literal",
            value=None if value is None else str(value),
        ) from None
    except re_errors.EngineError as exc:
        raise _type_error(expression, per_child, exc) from None
    except RecursionError:
        raise _error("the rule is nested too deeply", kind="too_deep") from None
    problems = _problems(rule.statement.expression)
    if problems:
        raise RuleError(problems[0]["reason"], problems)
    compiled = CompiledRule(expression, per_child, rule)
    costly = check_cost(compiled._conjuncts, per_child)
    if costly is not None:
        raise RuleTooCostly(costly.clause, costly.reason, costly.suggestion)
    return compiled


def _regex_clause(expression: str, pattern: str) -> str:
    """The top-level conjunct matching `pattern` (for naming a refused one)."""
    pieces = [p for p in _split_top_level_and(expression) if "=~" in p or "!~" in p]
    return next((p for p in pieces if pattern in p), pieces[0] if pieces else _clean(expression))


def _position(expression: str, offset: int) -> tuple[int, int]:
    line = expression.count("\n", 0, offset) + 1
    column = offset - (expression.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _syntax_error(expression: str, exc: re_errors.RuleSyntaxError) -> RuleError:
    token = exc.token
    # rule-engine's shared lexer never resets its line counter, so locate by offset ourselves.
    offset = token.lexpos if token is not None else len(expression.rstrip())
    line, column = _position(expression, offset)
    facts: dict[str, Any] = {"line": line, "column": column}
    if token is None:
        reason = f"the rule ends too early (line {line}, column {column})"
        facts["kind"] = "syntax_end"
    elif "illegal character" in exc.message:
        reason = f"illegal character {expression[offset]!r} at line {line}, column {column}"
        facts.update(kind="illegal_character", char=expression[offset])
    else:
        near = str(token.value)[:20]
        reason = f"syntax error at line {line}, column {column} near {near!r}"
        facts.update(kind="syntax", near=near)
    suggestion = None
    if "&&" in expression or "||" in expression:
        suggestion = "write 'and' / 'or' instead of '&&' / '||'"
        facts["hint"] = "and_or"
    elif re.search(r"(?<![=!<>])=(?![=~])", expression):
        suggestion = "compare with '==' (a single '=' is not an operator)"
        facts["hint"] = "double_equals"
    return _error(reason, suggestion, f"{LOCATION}:{line}:{column}", **facts)


def _nearest(name: str, candidates: Mapping[str, str]) -> str | None:
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return candidates[match[0]] if match else None


def _unknown_symbol(name: str, per_child: bool) -> RuleError:
    if name == "child" and not per_child:
        return _error(
            "'child' is only available in per-child rules",
            "make the program per-child, or use children, e.g. "
            "[c for c in children if c.age < 3].length >= 1",
            kind="child_not_per_child",
        )
    if name in ("True", "False", "None", "TRUE", "FALSE", "NULL", "Null"):
        return _error(
            f"unknown field {name!r}",
            "write true, false and null in lower case",
            kind="literal_case",
            field=name,
        )
    if name in CHILD_FIELDS:
        if per_child:
            return _error(
                f"unknown field {name!r}; did you mean 'child.{name}'?",
                f"child.{name}",
                kind="unknown_field",
                field=name,
                nearest=f"child.{name}",
            )
        return _error(
            f"{name!r} is a child field and is only available in per-child rules "
            f"(as child.{name})",
            f"make the program per-child, or use [c for c in children if c.{name} ...]",
            kind="child_field_not_per_child",
            field=name,
        )
    candidates = {n: n for n in HOUSEHOLD_FIELDS}
    if per_child:
        candidates.update({n: f"child.{n}" for n in CHILD_FIELDS})
        candidates["child"] = "child"
    nearest = _nearest(name, candidates)
    if nearest:
        return _error(
            f"unknown field {name!r}; did you mean {nearest!r}?",
            nearest,
            kind="unknown_field",
            field=name,
            nearest=nearest,
        )
    return _error(
        f"unknown field {name!r}",
        "see the vocabulary for the fields rules can use",
        kind="unknown_field",
        field=name,
    )


def _unknown_child_field(name: str) -> RuleError:
    nearest = _nearest(name, {n: n for n in CHILD_FIELDS})
    if nearest:
        return _error(
            f"unknown field {name!r}; did you mean {nearest!r}?",
            nearest,
            kind="unknown_field",
            field=name,
            nearest=nearest,
        )
    return _error(
        f"unknown child field {name!r}",
        "child fields are: " + ", ".join(CHILD_FIELDS),
        kind="unknown_child_field",
        field=name,
        fields=list(CHILD_FIELDS),
    )


def _type_error(expression: str, per_child: bool, exc: re_errors.EngineError) -> RuleError:
    """Name the fields and types behind rule-engine's terse 'data type mismatch'."""
    try:
        untyped = _Rule(expression, context=rule_engine.Context(default_timezone=TOKYO))
        problems = _problems(untyped.statement.expression, values=False)
    except Exception:  # the untyped parse is only a diagnosis aid
        problems = []
    if problems:
        return RuleError(problems[0]["reason"], problems)
    if "item access on OBJECT" in exc.message:
        key = re.search(r"\[\s*['\"](\w+)['\"]\s*\]", expression)
        name = key.group(1) if key else "age"
        return _error(
            f"child fields are read with a dot: write child.{name}, not child['{name}']",
            f"child.{name}",
            kind="item_access",
            field=name,
        )
    return _error(
        f"type mismatch: {exc.message}",
        "check that both sides have the same type",
        kind="type_error",
        message=exc.message,
    )


def _static_type(node: Any) -> Any:
    if isinstance(node, re_ast.SymbolExpression) and node.scope is None:
        if node.name in _PER_CHILD_TYPES:
            return _PER_CHILD_TYPES[node.name]
    elif isinstance(node, re_ast.GetAttributeExpression):
        owner = DataType.NULLABLE.unwrap(_static_type(node.object))
        if _is_child_type(owner) and node.name in CHILD_FIELDS:
            return CHILD_TYPE.attributes[node.name]
        if DataType.is_type(owner, DataType.ARRAY) and node.name == "length":
            return DataType.FLOAT
    return node.result_type


def _is_child_type(data_type: Any) -> bool:
    return DataType.is_type(data_type, DataType.OBJECT) and data_type.name == "Child"


def _field_name(node: Any) -> str | None:
    """The vocabulary key a node reads (`household_income`, `child.age`), if it reads one."""
    if isinstance(node, re_ast.SymbolExpression) and node.scope is None:
        return node.name if node.name in HOUSEHOLD_FIELDS else None
    if isinstance(node, re_ast.GetAttributeExpression):
        owner = DataType.NULLABLE.unwrap(_static_type(node.object))
        if _is_child_type(owner) and node.name in CHILD_FIELDS:
            return f"child.{node.name}"
    return None


def _describe(node: Any) -> str:
    if isinstance(node, re_ast.SymbolExpression):
        return node.name
    if isinstance(node, re_ast.GetAttributeExpression):
        return f"{_describe(node.object)}.{node.name}"
    if isinstance(node, re_ast.StringExpression):
        return repr(node.value)
    if isinstance(node, re_ast.FloatExpression):
        value = node.value
        return str(int(value)) if value == value.to_integral_value() else str(value)
    if isinstance(node, re_ast.DatetimeExpression):
        return f"d'{node.value.isoformat()}'"
    if isinstance(node, re_ast.NullExpression):
        return "null"
    if isinstance(node, re_ast.BooleanExpression):
        return "true" if node.value else "false"
    if isinstance(node, re_ast.ArrayExpression) and len(node.value) <= 5:
        return "[" + ", ".join(_describe(m) for m in node.value) + "]"
    return "the expression"


def _defined(data_type: Any) -> bool:
    data_type = DataType.NULLABLE.unwrap(data_type)
    return data_type != DataType.UNDEFINED and data_type != DataType.NULL


def _mismatch(left: Any, right: Any, lt: Any, rt: Any) -> dict[str, Any]:
    reason = (
        f"type mismatch: {_describe(left)} is a {_kind(lt)} but {_describe(right)} "
        f"is a {_kind(rt)}"
    )
    facts: dict[str, Any] = {
        "kind": "type_mismatch",
        "left": _describe(left),
        "left_type": _type_code(lt),
        "right": _describe(right),
        "right_type": _type_code(rt),
    }
    suggestion = None
    for literal, field_type in ((right, lt), (left, rt)):
        if isinstance(literal, re_ast.StringExpression):
            if DataType.NULLABLE.unwrap(field_type) == DataType.FLOAT and re.fullmatch(
                r"-?\d+(\.\d+)?", literal.value.strip()
            ):
                suggestion = f"write the number without quotes: {literal.value.strip()}"
                facts.update(hint="unquote_number", value=literal.value.strip())
            elif DataType.NULLABLE.unwrap(field_type) == DataType.DATETIME:
                suggestion = f"write dates as date literals: d{literal.value!r}"
                facts.update(hint="date_literal", value=f"d{literal.value!r}")
    if suggestion is None:
        suggestion = f"compare {_describe(left)} with a {_kind(lt).split(' ')[0]}"
        facts["hint"] = "same_type"
    return _detail(reason, suggestion, **facts)


def _problems(root: Any, *, values: bool = True) -> list[dict[str, Any]]:
    """Compile-time checks rule-engine does not do: types of ==/!=/in, values, clock, result."""
    problems: list[dict[str, Any]] = []
    result_type = DataType.NULLABLE.unwrap(root.result_type)
    if values and result_type != DataType.UNDEFINED and result_type != DataType.BOOLEAN:
        problems.append(
            _detail(
                f"a rule must be a condition (true or false), but this one gives a "
                f"{_kind(result_type)}",
                "compare it, e.g. child_count >= 3",
                kind="not_a_condition",
                type=_type_code(result_type),
            )
        )
    for node in _walk(root):
        if isinstance(node, re_ast.SymbolExpression) and node.scope is not None:
            if node.name in ("now", "today"):
                problems.append(
                    _detail(
                        f"${node.name} is the real clock; rules must use the evaluation date",
                        "use today (midnight Asia/Tokyo on the evaluation date)",
                        kind="real_clock",
                        name=node.name,
                    )
                )
        elif isinstance(node, re_ast.ComparisonExpression):
            lt, rt = _static_type(node.left), _static_type(node.right)
            if _defined(lt) and _defined(rt):
                same = (
                    DataType.NULLABLE.unwrap(lt) == DataType.NULLABLE.unwrap(rt)
                    if isinstance(node, re_ast.ArithmeticComparisonExpression)
                    else DataType.is_compatible(lt, rt)
                )
                if not same:
                    problems.append(_mismatch(node.left, node.right, lt, rt))
                    continue
            if values and node.type in ("eq", "ne"):
                problems.extend(_value_problems(node.left, [node.right]))
                problems.extend(_value_problems(node.right, [node.left]))
        elif isinstance(node, re_ast.CoalesceExpression):
            lt, rt = _static_type(node.left), _static_type(node.right)
            if _defined(lt) and _defined(rt) and not DataType.is_compatible(lt, rt):
                detail = _mismatch(node.left, node.right, lt, rt)
                detail["suggestion"] = (
                    "'??' binds more loosely than comparisons: write (field ?? default) >= value"
                )
                detail["hint"] = "coalesce"
                problems.append(detail)
        elif isinstance(node, re_ast.ContainsExpression):
            ct, mt = _static_type(node.container), _static_type(node.member)
            ct = DataType.NULLABLE.unwrap(ct)
            is_collection = DataType.is_type(ct, DataType.ARRAY) or DataType.is_type(
                ct, DataType.SET
            )
            if (
                is_collection
                and _defined(ct.value_type)
                and _defined(mt)
                and not DataType.is_compatible(ct.value_type, mt)
            ):
                problems.append(_mismatch(node.member, node.container, mt, ct))
                continue
            literal_list = re_ast.ArrayExpression | re_ast.SetExpression
            if values and isinstance(node.container, literal_list):
                problems.extend(_value_problems(node.member, list(node.container.value)))
    return problems


_LGCODE_FIELDS = ("municipality", "prefecture")


def _value_problems(field_node: Any, literals: list[Any]) -> list[dict[str, Any]]:
    """Catch string literals that can never match: misspelt enum values and bad lgcodes."""
    name = _field_name(field_node)
    if name is None:
        return []
    term = VOCABULARY[name]
    problems = []
    for literal in literals:
        if not isinstance(literal, re_ast.StringExpression):
            continue
        value = literal.value
        if term.values is not None and value not in term.values:
            nearest = _nearest(value, {v: v for v in term.values})
            problems.append(
                _detail(
                    f"{value!r} is never a value of {_describe(field_node)} "
                    f"(one of {', '.join(term.values)})",
                    f"did you mean {nearest!r}?" if nearest else None,
                    kind="unknown_value",
                    field=_describe(field_node),
                    value=value,
                    values=list(term.values),
                    nearest=nearest,
                )
            )
        elif name in _LGCODE_FIELDS and not is_valid_lgcode(value):
            suggestion: str | None = None
            code: str | None = None
            if len(value) == 5 and value.isdigit():
                code = value + str(check_digit(value))
                suggestion = f"did you mean {code!r}?"
            problems.append(
                _detail(
                    f"{value!r} is not a valid local government code "
                    "(six digits including the check digit)",
                    suggestion,
                    kind="invalid_code",
                    field=_describe(field_node),
                    value=value,
                    nearest=code,
                )
            )
    return problems


__all__ = [
    "CHILD_FIELDS",
    "HOUSEHOLD_FIELDS",
    "LOCATION",
    "MAX_EXPRESSION_LENGTH",
    "TOKYO",
    "UNKNOWN",
    "Bound",
    "ChildView",
    "CompiledRule",
    "Explanation",
    "RuleError",
    "RuleTooCostly",
    "bind",
    "compile_rule",
]
