"""Benchmark: the demo programs over a synthetic Tokyo population, three ways, in one run.

1. the per-family path (each program's rule evaluated family by family, as `evaluate_population`
   did before columns), on a sample, extrapolated;
2. the column engine (`rules.columns`) on columns derived in bulk (`derive_columns`);
3. hand-written numpy for the same 18 rules, on the same columns.

Prints families/s, the ratios, and checks that all three agree exactly on the eligible
(family, program, child) triples (the per-family path over its sample). Issue 13 asks for the
column engine at >= 300x the per-family path and within 3x of the hand-written numpy.
Usage: `python benchmarks/population.py [--families 100000] [--sample 2000] [--repeat 5]`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.eligibility import ON, synthetic_family  # noqa: E402
from hagukumi.demo import demo_programs  # noqa: E402
from hagukumi.seeddata import tokyo_codes  # noqa: E402
from rules.columns import Columns, derive_columns, fallback_reason  # noqa: E402
from rules.evaluate import CompiledProgram, evaluate_columns  # noqa: E402
from rules.language import compile_rule  # noqa: E402
from rules.lgcode import NATION  # noqa: E402
from rules.profile import FamilyInput, derive  # noqa: E402

Triple = tuple[int, int, int]
"""(family, program, child index); -1 for household programs."""


def raw_columns(families: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The inputs of `derive_columns` from synthetic family dicts."""
    names = (
        "municipality",
        "pregnant",
        "due_date",
        "single_parent",
        "household_income",
        "resident_tax_exempt",
        "public_assistance",
        "language",
    )
    households: dict[str, list[Any]] = {name: [f[name] for f in families] for name in names}
    households["due_date"] = [
        None if d is None else date.fromisoformat(d) for d in households["due_date"]
    ]
    children: dict[str, list[Any]] = {
        "family": [],
        "birth_date": [],
        "disability": [],
        "daycare": [],
    }
    for row, family in enumerate(families):
        for child in family["children"]:
            children["family"].append(row)
            children["birth_date"].append(date.fromisoformat(child["birth_date"]).toordinal())
            children["disability"].append(child["disability"])
            children["daycare"].append(child["daycare"])
    return households, children


def scope_masks(columns: Columns, issuers: list[str]) -> dict[str, np.ndarray]:
    """Families that see each issuer's programs: nation, their prefecture, their municipality."""
    municipality = columns.household("municipality")[0]
    prefecture = columns.household("prefecture")[0]
    masks = {}
    for issuer in set(issuers):
        if issuer == NATION:
            masks[issuer] = np.ones(columns.families, dtype=bool)
        else:
            code = columns.code(issuer)
            masks[issuer] = (municipality == code) | (prefecture == code)
    return masks


# -- the hand-written numpy reference -----------------------------------------------------------

Reference = Callable[[Columns], np.ndarray]


def references(columns: Columns) -> dict[str, Reference]:
    """The 18 demo rules by hand, with the same null semantics (true only where definite)."""

    def h(name: str) -> np.ndarray:
        return columns.household(name)[0]

    def hnull(name: str) -> np.ndarray:
        return np.broadcast_to(columns.household(name)[1], (columns.families,))

    def c(name: str) -> np.ndarray:
        return columns.child(name)[0]

    fam = columns.family
    assert fam is not None
    tokyo, shibuya, hachioji = (columns.code(x) for x in ("130001", "131130", "132012"))
    enrolled = columns.code("enrolled")
    april = date(2025, 4, 1).toordinal()

    def pref_is_tokyo_child() -> np.ndarray:
        return (h("prefecture") == tokyo)[fam]

    def muni(code: int) -> np.ndarray:
        return (h("municipality") == code)[fam]

    def no_assistance() -> np.ndarray:
        # (public_assistance ?? false) == false
        return (hnull("public_assistance") | ~h("public_assistance"))[fam]

    def single_parent() -> np.ndarray:
        return h("single_parent") & ~hnull("single_parent")

    def shibuya_allowance(cols: Columns) -> np.ndarray:
        income, unknown = h("household_income"), hnull("household_income")
        within = unknown | (income <= 3684000 + 380000 * h("child_count"))
        return muni(shibuya) & single_parent()[fam] & (c("class_age") <= 17) & within[fam]

    def gakudo(cols: Columns) -> np.ndarray:
        grade, unknown = cols.child("grade")
        grade_null = np.broadcast_to(unknown, grade.shape)
        known = ~grade_null & (grade >= 1)
        return (
            muni(hachioji) & known & ((grade <= 3) | (c("disability") & (grade <= 6)))
        )  # fmt: skip

    am = c
    return {
        "child.class_age <= 17": lambda _: c("class_age") <= 17,
        "pregnant == true": lambda _: h("pregnant").copy(),
        "pregnant == true or youngest_age < 2": lambda _: (
            h("pregnant") | (~hnull("youngest_age") & (h("youngest_age") < 2))
        ),
        "child.age_months >= 18 and child.age_months < 24": lambda _: (
            (am("age_months") >= 18) & (am("age_months") < 24)
        ),
        "child.age_months >= 36 and child.age_months < 48": lambda _: (
            (am("age_months") >= 36) & (am("age_months") < 48)
        ),
        "child.age_months < 12": lambda _: am("age_months") < 12,
        "child.age_months >= 12 and child.age_months < 24": lambda _: (
            (am("age_months") >= 12) & (am("age_months") < 24)
        ),
        "child.class_age == 5": lambda _: c("class_age") == 5,
        'prefecture == "130001" and child.class_age <= 17': lambda _: (
            pref_is_tokyo_child() & (c("class_age") <= 17)
        ),
        'prefecture == "130001" and child.birth_date >= d"2025-04-01" and child.age_months < 12': (
            lambda _: pref_is_tokyo_child() & (c("birth_date") >= april) & (am("age_months") < 12)
        ),
        'prefecture == "130001" and child.class_age <= 2 and child.daycare == "enrolled"': (
            lambda _: pref_is_tokyo_child() & (c("class_age") <= 2) & (c("daycare") == enrolled)
        ),
        'prefecture == "130001" and single_parent == true': lambda _: (
            (h("prefecture") == tokyo) & single_parent()
        ),
        'municipality == "131130" and child.class_age <= 17 and (public_assistance ?? false) '
        "== false": lambda _: muni(shibuya) & (c("class_age") <= 17) & no_assistance(),
        'municipality == "131130" and child.age_months >= 3 and child.age_months < 5': lambda _: (
            muni(shibuya) & (am("age_months") >= 3) & (am("age_months") < 5)
        ),
        'municipality == "131130" and single_parent == true and child.class_age <= 17 and '
        "(household_income == null or household_income <= 3684000 + 380000 * child_count)": (
            shibuya_allowance
        ),
        'municipality == "132012" and child.class_age <= 17 and (public_assistance ?? false) '
        "== false": lambda _: muni(hachioji) & (c("class_age") <= 17) & no_assistance(),
        'municipality == "132012" and child.age_months < 4': lambda _: (
            muni(hachioji) & (am("age_months") < 4)
        ),
        'municipality == "132012" and child.grade >= 1 and (child.grade <= 3 or '
        "(child.disability == true and child.grade <= 6))": gakudo,
    }


# -- the three paths ----------------------------------------------------------------------------

Program = tuple[int, str, CompiledProgram]
"""(index, issuer, compiled program)."""


def per_family(contexts: list[dict[str, Any]], programs: list[Program]) -> set[Triple]:
    """Each program's rule family by family (the path `evaluate_population` used to take)."""
    from rules.language import bind

    triples: set[Triple] = set()
    for row, context in enumerate(contexts):
        issuers = {context["municipality"], context["prefecture"], NATION}
        bound = bind(context)
        for index, issuer, program in programs:
            if issuer not in issuers:
                continue
            if not program.per_child:
                if program.rule.evaluate(bound):
                    triples.add((row, index, -1))
                continue
            for child in context["children"]:
                if program.rule.evaluate(bound, child):
                    triples.add((row, index, child["index"]))
    return triples


def masks_to_triples(
    columns: Columns, programs: list[Program], masks: list[np.ndarray]
) -> np.ndarray:
    """Eligible triples as a sorted (n, 3) array."""
    assert columns.family is not None and columns.starts is not None
    position = np.arange(len(columns.family)) - columns.starts[columns.family]
    parts = []
    for (index, _, program), mask in zip(programs, masks, strict=True):
        rows = np.flatnonzero(mask)
        if program.per_child:
            part = np.stack(
                [columns.family[rows], np.full(len(rows), index), position[rows]], axis=1
            )
        else:
            part = np.stack([rows, np.full(len(rows), index), np.full(len(rows), -1)], axis=1)
        parts.append(part)
    triples = np.concatenate(parts) if parts else np.empty((0, 3), dtype=np.int64)
    return triples[np.lexsort(triples.T[::-1])]


def engine(columns: Columns, programs: list[Program], scopes: dict[str, np.ndarray]) -> list[Any]:
    """The column engine: every program over the whole population, within its issuer's scope."""
    assert columns.family is not None
    out = []
    for _, issuer, program in programs:
        mask = evaluate_columns(program, columns)
        scope = scopes[issuer]
        out.append(mask & (scope[columns.family] if program.per_child else scope))
    return out


def numpy_reference(
    columns: Columns, programs: list[Program], scopes: dict[str, np.ndarray]
) -> list[Any]:
    """The hand-written numpy rules, within the same scopes."""
    assert columns.family is not None
    table = references(columns)
    out = []
    for _, issuer, program in programs:
        mask = table[" ".join(program.rule.expression.split())](columns)
        scope = scopes[issuer]
        out.append(mask & (scope[columns.family] if program.per_child else scope))
    return out


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> int:
    """Generate the population, run the three paths, print the figures and the agreement."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--families", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    codes = tokyo_codes()
    raw = [synthetic_family(rng, codes) for _ in range(args.families)]
    programs: list[Program] = []
    for index, data in enumerate(demo_programs()):
        rule = compile_rule(data.eligibility, per_child=data.per_child)
        programs.append((index, data.issuer, CompiledProgram(str(index), rule, data.per_child)))
    print(
        f"population benchmark: {args.families:,} synthetic Tokyo families, "
        f"{len(programs)} demo programs, date {ON}",
        flush=True,
    )
    fallbacks = [r for _, _, p in programs if (r := fallback_reason(p.rule)) is not None]
    print(f"  rules evaluated per family instead of on columns: {len(fallbacks)} {fallbacks}")

    started = time.perf_counter()
    columns = derive_columns(ON, *raw_columns(raw))
    build = time.perf_counter() - started
    scopes = scope_masks(columns, [issuer for _, issuer, _ in programs])
    print(f"  columns derived in bulk: {build:.2f} s ({columns.children:,} children)")

    sample = min(args.sample, args.families)
    contexts = [derive(FamilyInput.model_validate(f), ON) for f in raw[:sample]]
    started = time.perf_counter()
    expected = per_family(contexts, programs)
    per_family_s = (time.perf_counter() - started) * args.families / sample

    engine(columns, programs, scopes)  # warm up (compilation is cached per rule)
    engine_s = median_seconds(lambda: engine(columns, programs, scopes), args.repeat)
    reference_s = median_seconds(lambda: numpy_reference(columns, programs, scopes), args.repeat)

    got = masks_to_triples(columns, programs, engine(columns, programs, scopes))
    ref = masks_to_triples(columns, programs, numpy_reference(columns, programs, scopes))
    same_full = got.shape == ref.shape and bool(np.all(got == ref))
    in_sample = {tuple(t) for t in got[got[:, 0] < sample].tolist()}
    same_sample = in_sample == expected

    def rate(seconds: float) -> str:
        return f"{args.families / seconds:>12,.0f} families/s"

    print(
        f"  per-family path (sample of {sample:,}, extrapolated): "
        f"{per_family_s:8.3f} s {rate(per_family_s)}"
    )
    print(f"  column engine (median of {args.repeat}):      {engine_s:8.3f} s {rate(engine_s)}")
    numpy_line = f"{reference_s:8.3f} s {rate(reference_s)}"
    print(f"  hand-written numpy (median of {args.repeat}):  {numpy_line}")
    print(f"  column engine vs per-family path: {per_family_s / engine_s:,.0f}x   (goal >= 300x)")
    whole = build + engine_s
    print(
        f"  with the columns derived from raw inputs (once per sweep): {whole:.3f} s "
        f"{rate(whole)}, {per_family_s / whole:,.0f}x the per-family path"
    )
    print(
        f"  column engine vs hand-written numpy: {engine_s / reference_s:.2f}x slower (goal <= 3x)"
    )
    print(
        f"  eligible triples: {len(got):,} (engine) / {len(ref):,} (numpy): "
        f"{'identical' if same_full else 'DIFFERENT'}; per-family sample {len(expected):,}: "
        f"{'identical' if same_sample else 'DIFFERENT'}"
    )
    return 0 if same_full and same_sample else 1


if __name__ == "__main__":
    raise SystemExit(main())
