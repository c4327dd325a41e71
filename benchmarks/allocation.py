"""Benchmark: the daycare allocation engine (利用調整) on a synthetic city-size intake round.

Builds a round of 10,000 applications over 400 facilities with classes 0-5: about 0.6 places
per application overall, scarce for the 0-2-year classes; 1-20 wishes skewed to popular and
near facilities; points mostly 18-22 with many ties and 4 tie-break items; 10% of the children
in sibling groups (both modes) and 3% transfers. Times `allocate` (blocking pairs and
explanations included) and prints the median of the runs and each run, the children placed, the
blocking pairs, whether the outcome is stable and whether the median is within 10 s (the goal).
The baseline in the same run: a naive loop by points where each child takes its best free wish,
without groups or transfers, and the ratio.
Usage: `python benchmarks/allocation.py [--applications 10000] [--facilities 400] [--runs 3]`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from integrations.daycare.allocation import (  # noqa: E402
    Applicant,
    RoundInput,
    allocate,
    lottery_number,
)

GOAL_S = 10.0
CLASS_SHARE = [0.22, 0.30, 0.22, 0.10, 0.08, 0.08]  # applications per class age
PLACE_RATIO = [0.40, 0.45, 0.55, 1.00, 1.20, 1.20]  # places per application, by class age
LABELS = (
    ("指数", "points"),
    ("基準指数", "base points"),
    ("ひとり親", "single parent"),
    ("きょうだい在園", "sibling enrolled"),
    ("住民税額の低さ", "lower resident tax"),
)


def synthetic_round(rng: random.Random, n_apps: int, n_fac: int) -> RoundInput:
    """A plausible round (see the module docstring)."""
    facs = [f"F{k:04d}" for k in range(n_fac)]
    pos = {f: (rng.random(), rng.random()) for f in facs}
    popularity = {f: rng.paretovariate(1.5) for f in facs}
    ages = rng.choices(range(6), weights=CLASS_SHARE, k=n_apps)
    per_class = [ages.count(c) for c in range(6)]
    places: dict[tuple[str, int], int] = {}
    for c in range(6):
        total = int(per_class[c] * PLACE_RATIO[c] * 0.6 / 0.636)
        offering = [f for f in facs if c >= 1 or rng.random() < 0.7]
        for _ in range(total):
            f = rng.choice(offering)
            places[(f, c)] = places.get((f, c), 0) + 1
    applicants: list[Applicant] = []
    k = 0
    while k < n_apps:
        home = (rng.random(), rng.random())
        near = sorted(facs, key=lambda f: (pos[f][0] - home[0]) ** 2 + (pos[f][1] - home[1]) ** 2)
        pool = near[:40]
        weights = [popularity[f] for f in pool]
        size = 1
        mode = None
        if rng.random() < 0.05 and k + 2 <= n_apps:  # ~10% of children in groups
            size = 2 if rng.random() < 0.85 else min(3, n_apps - k)
            mode = rng.choice(["same_facility", "both_or_neither"])
        base = rng.choices([18, 19, 20, 21, 22, 16, 24], weights=[8, 10, 30, 15, 25, 5, 7])[0]
        for m in range(size):
            n_w = min(len(pool), max(1, int(rng.triangular(1, 20, 5))))
            wishes: list[str] = []
            while len(wishes) < n_w:
                f = rng.choices(pool, weights=weights)[0]
                if f not in wishes:
                    wishes.append(f)
            current = None
            age = ages[k]
            if mode is None and age >= 1 and rng.random() < 0.03 / 0.8:
                current = rng.choice(pool)
                wishes = [w for w in wishes if w != current][: max(1, n_w - 1)]
            priority = (
                float(base + rng.choice([0, 0, 0, 1, 2])),
                float(rng.choice([0, 0, 1])),
                float(rng.random() < 0.1),
                float(rng.random() < 0.15),
                float(rng.randint(0, 5)),
            )
            applicants.append(
                Applicant(
                    id=f"{100000 + k}",
                    class_age=age,
                    wishes=tuple(wishes),
                    priority=priority,
                    group=f"g{k - m}" if size > 1 else None,
                    group_mode=mode,
                    current=current,
                )
            )
            k += 1
    return RoundInput(
        places=places, applicants=applicants, seed="2026-bench", priority_labels=LABELS
    )


def naive(round: RoundInput) -> int:
    """The baseline: by points (then the lottery), each child takes its best free wish."""
    left = dict(round.places)
    order = sorted(
        round.applicants,
        key=lambda a: tuple(a.priority) + (lottery_number(round.seed, a.id),),
        reverse=True,
    )
    placed = 0
    for a in order:
        for f in a.wishes:
            if left.get((f, a.class_age), 0) > 0:
                left[(f, a.class_age)] -= 1
                placed += 1
                break
    return placed


def main() -> int:
    """Build the round, time the engine and the baseline, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications", type=int, default=10_000)
    parser.add_argument("--facilities", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    round = synthetic_round(rng, args.applications, args.facilities)
    grouped = sum(1 for a in round.applicants if a.group)
    transfers = sum(1 for a in round.applicants if a.current)
    print(
        f"allocation benchmark: {len(round.applicants):,} applications, {args.facilities} "
        f"facilities, {sum(round.places.values()):,} places, {grouped:,} in sibling groups, "
        f"{transfers:,} transfers"
    )
    times = []
    outcome = None
    for _ in range(args.runs):
        started = time.perf_counter()
        outcome = allocate(round)
        times.append(time.perf_counter() - started)
    assert outcome is not None
    median = statistics.median(times)
    placed = sum(1 for f in outcome.assignment.values() if f is not None)
    print(
        f"allocate: median {median:.2f} s over {args.runs} runs "
        f"({', '.join(f'{t:.2f}' for t in times)} s); method {outcome.method}"
    )
    print(f"placed {placed:,}, blocking pairs {len(outcome.blocking)}, stable {outcome.stable}")
    started = time.perf_counter()
    naive_placed = naive(round)
    naive_s = time.perf_counter() - started
    print(f"naive by points (baseline, no groups): {naive_s:.2f} s, placed {naive_placed:,}")
    print(f"ratio allocate / naive: {median / naive_s:.1f}x")
    print(f"median <= {GOAL_S:.0f} s: {'yes' if median <= GOAL_S else 'NO'}")
    odds_s, sims = time_odds(round, rng)
    print(
        f"admission odds (one family of the 1-year class, {sims} simulations as the work "
        f"budget allows, 30 % more applications to come): {odds_s:.2f} s"
    )
    return 0 if median <= GOAL_S else 1


def time_odds(round: RoundInput, rng: random.Random) -> tuple[float, int]:
    """The odds' simulations for one family of the 1-year class (the fast serial allocation
    over its class, with the missing applications drawn from those in)."""
    from integrations.daycare.odds import serial, simulation_count  # before the clock starts

    me = next(a for a in round.applicants if a.class_age == 1 and not a.group)
    same = [a for a in round.applicants if a.class_age == 1 and a.id != me.id]
    places = {k: v for k, v in round.places.items() if k[1] == 1}
    plain = [
        Applicant(id=a.id, class_age=1, wishes=a.wishes, priority=a.priority, current=a.current)
        for a in same
    ]
    serial(places, plain[:10], "warm-up")
    missing = len(same) * 3 // 10
    sims = simulation_count(len(same), missing)
    started = time.perf_counter()
    for index in range(sims):
        drawn = [
            Applicant(id=f"s{index}-{n}", class_age=1, wishes=a.wishes, priority=a.priority)
            for n, a in enumerate(rng.choices(same, k=missing))
        ]
        serial(places, [*plain, *drawn, me], f"bench:{index}")
    return time.perf_counter() - started, sims


if __name__ == "__main__":
    sys.exit(main())
