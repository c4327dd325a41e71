"""Admission odds: how likely a place is, from this year's applications so far.

For a family (its class age, wishes and points) in an open round, the rest of the round is
uncertain: more applications will come before the deadline. We take last year's volume (the
applications of the same municipality's round for the same month a year earlier) as the
expected total, draw the missing applications from the ones already in (their wishes and
priorities, a bootstrap), run the same allocation as the real round over the family's class, and
count how often the family gets each wish. The volume itself is uncertain: each simulation draws
it between 80 % and 120 % of last year's, and the answer gives the chance at both ends as its
range. Never shown where too few data exist (no round a year earlier, or fewer than
`MIN_APPLICATIONS` applications in the class so far): the answer says why instead.

Simplifications, said plainly: siblings are simulated as independent applicants; transfers keep
their seats as in the real round; places are the vacancies published now.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare import allocation as alloc
from integrations.daycare.classes import month_start
from integrations.daycare.models import Application, IntakeRound
from integrations.daycare.rounds import RoundError, RoundRun, build_run
from rules.points import ApplicationFacts, PointsRuleError, score

MIN_APPLICATIONS = 10
"""Fewer applications than this in the family's class so far: too few data to say anything."""
SIMULATIONS = 200
MIN_SIMULATIONS = 60
WORK_BUDGET = 150_000
"""Applicants allocated over all simulations at most (about 2 s here): a large class gets fewer
simulations (never under MIN_SIMULATIONS), so an answer comes in seconds, not minutes."""
LOW, HIGH = 0.8, 1.2
"""The range of the remaining volume relative to last year's."""


@dataclass(frozen=True)
class WishOdds:
    """The chance of a place at one wished facility (and of any place at all)."""

    facility: str
    chance: float  # 0..1, volume drawn between LOW and HIGH
    low: float  # with HIGH × last year's volume (more competition)
    high: float  # with LOW × last year's volume


@dataclass(frozen=True)
class Odds:
    """The odds of a family's application, or why none are shown (`reason`)."""

    shown: bool
    reason: str = ""  # no_last_year, too_few, no_wishes, no_class
    applications_so_far: int = 0
    expected_total: int = 0
    any_place: WishOdds | None = None
    wishes: list[WishOdds] = field(default_factory=list)
    simulations: int = 0

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for the API."""

        def one(w: WishOdds | None) -> dict[str, Any] | None:
            if w is None:
                return None
            return {
                "facility": w.facility,
                "chance": round(w.chance, 3),
                "low": round(w.low, 3),
                "high": round(w.high, 3),
            }

        return {
            "shown": self.shown,
            "reason": self.reason,
            "applications_so_far": self.applications_so_far,
            "expected_total": self.expected_total,
            "any_place": one(self.any_place),
            "wishes": [one(w) for w in self.wishes],
            "simulations": self.simulations,
        }


async def last_year_volume(session: AsyncSession, round_: IntakeRound) -> int | None:
    """Applications (withdrawn ones aside) of the municipality's round(s) for the same month a
    year earlier, or None when there was no such round."""
    start = month_start(round_.entry_month)
    earlier = date(start.year - 1, start.month, 1)
    rounds = (
        await session.exec(
            select(IntakeRound.id).where(
                IntakeRound.municipality == round_.municipality,
                IntakeRound.entry_month == earlier,
            )
        )
    ).all()
    if not rounds:
        return None
    counted = await session.exec(
        select(func.count())
        .select_from(Application)
        .where(col(Application.round_id).in_(list(rounds)), Application.status != "withdrawn")
    )
    return int(counted.one())


def _seed(run: RoundRun, me: alloc.Applicant) -> int:
    digest = hashlib.sha256(
        f"{run.round.seed}:{len(run.input.applicants)}:{me.id}:odds".encode()
    ).digest()
    return int.from_bytes(digest[:8], "big")


def simulate(
    run: RoundRun,
    me: alloc.Applicant,
    expected_total: int,
    *,
    simulations: int = SIMULATIONS,
) -> Odds:
    """The odds of `me` (already among the run's applicants or not) in `run`'s round."""
    same_class = [a for a in run.input.applicants if a.class_age == me.class_age and a.id != me.id]
    so_far = len(run.input.applicants)
    if not me.wishes:
        return Odds(False, "no_wishes", so_far, expected_total)
    if len(same_class) < MIN_APPLICATIONS:
        return Odds(False, "too_few", so_far, expected_total)
    share = len(same_class) / max(so_far, 1)  # this class's part of the round so far
    missing = max(expected_total - so_far, 0) * share
    places = {k: v for k, v in run.input.places.items() if k[1] == me.class_age}
    simulations = simulation_count(len(same_class), missing, simulations)
    rng = random.Random(_seed(run, me))
    counts = {"all": _zero(me), "low": _zero(me), "high": _zero(me)}
    runs = {"all": 0, "low": 0, "high": 0}
    for index in range(simulations):
        # A third of the runs at each end of the volume's range, the rest drawn inside it.
        if index % 3 == 0:
            scenario, factor = "low", HIGH  # more applications: the low end of the chance
        elif index % 3 == 1:
            scenario, factor = "high", LOW
        else:
            scenario, factor = "", rng.uniform(LOW, HIGH)
        extra = round(missing * factor)
        drawn = [_copy(rng.choice(same_class), f"sim{index}-{n}") for n in range(extra)]
        got = serial(places, [*same_class, *drawn, _plain(me)], f"{run.round.seed}:{index}").get(
            me.id
        )
        for bucket in ("all", scenario) if scenario else ("all",):
            runs[bucket] += 1
            if got is not None:
                counts[bucket]["*"] += 1
                counts[bucket][got] = counts[bucket].get(got, 0) + 1

    def rate(bucket: str, key: str) -> float:
        return counts[bucket].get(key, 0) / runs[bucket] if runs[bucket] else 0.0

    def wish(key: str, name: str) -> WishOdds:
        return WishOdds(name, rate("all", key), rate("low", key), rate("high", key))

    return Odds(
        True,
        "",
        so_far,
        expected_total,
        any_place=wish("*", "*"),
        wishes=[wish(f, f) for f in me.wishes],
        simulations=simulations,
    )


def simulation_count(class_size: int, missing: float, wanted: int = SIMULATIONS) -> int:
    """How many simulations fit the work budget for a class of this size (see WORK_BUDGET)."""
    per_run = class_size + missing * HIGH + 1
    return max(min(wanted, int(WORK_BUDGET // per_run)), MIN_SIMULATIONS)


def serial(
    places: dict[tuple[str, int], int], applicants: Sequence[alloc.Applicant], seed: str
) -> dict[str, str | None]:
    """The allocation of one class without sibling groups, fast: with one common priority,
    deferred acceptance is a serial dictatorship (best priority first, each takes its best wish
    with a place). A transfer's own seat is kept for it until its turn (then given back if it
    moved), an approximation of the engine's vacancy chain that is good enough for odds."""
    free = dict(places)
    for a in applicants:
        if a.current is not None:
            seat = (a.current, a.class_age)
            free[seat] = free.get(seat, 0) + 1
    # Ties are drawn per simulation (a cheap draw: these lotteries are not the published one).
    draw = random.Random(seed).random
    order = [
        a
        for _, _, a in sorted(
            ((a.priority, draw(), a) for a in applicants), key=lambda t: (t[0], t[1]), reverse=True
        )
    ]
    got: dict[str, str | None] = {}
    for a in order:
        own = (a.current, a.class_age) if a.current is not None else None
        if own is not None:
            free[own] -= 1  # its own seat, held until now
        choice = a.current
        for wish in a.wishes:
            if wish == a.current:
                break
            seat = (wish, a.class_age)
            if free.get(seat, 0) > 0:
                choice = wish
                break
        if own is not None and choice != a.current:
            free[own] += 1  # moved: its seat goes to those after it
        if choice is not None and choice != a.current:
            free[(choice, a.class_age)] -= 1
        got[a.id] = choice
    return got


def _zero(me: alloc.Applicant) -> dict[str, int]:
    return {"*": 0, **{f: 0 for f in me.wishes}}


def _plain(a: alloc.Applicant) -> alloc.Applicant:
    return alloc.Applicant(
        id=a.id, class_age=a.class_age, wishes=a.wishes, priority=a.priority, current=a.current
    )


def _copy(a: alloc.Applicant, new_id: str) -> alloc.Applicant:
    # A drawn applicant: another's wishes and points; its tie-breaks are left to the lottery.
    return alloc.Applicant(id=new_id, class_age=a.class_age, wishes=a.wishes, priority=a.priority)


async def estimate_odds(
    session: AsyncSession,
    round_: IntakeRound,
    *,
    class_age: int,
    wishes: Sequence[str],
    facts: ApplicationFacts,
    simulations: int = SIMULATIONS,
    exclude: str | None = None,
) -> Odds:
    """The odds of a family's wishes (facility keys) with these facts in an open round.

    `exclude` is the id of the family's own application in the round, if any (it is the family:
    it must not compete with itself)."""
    if round_.status != "open":
        return Odds(False, "closed")
    volume = await last_year_volume(session, round_)
    run = await build_run(session, round_)
    so_far = len(run.input.applicants)
    if volume is None:
        return Odds(False, "no_last_year", so_far, 0)
    try:
        scored = score(run.document, facts)
    except PointsRuleError as exc:
        raise RoundError("cannot_score", f"these facts cannot be scored: {exc.reason}") from None
    me = alloc.Applicant(
        id=exclude or "you",
        class_age=class_age,
        wishes=tuple(dict.fromkeys(wishes)),
        priority=tuple(float(v) for v in scored.priority),
        current=facts.transfer_from if facts.transfer_from in run.facilities else None,
    )
    # CPU-bound for a second or two: off the event loop.
    return await asyncio.to_thread(simulate, run, me, max(volume, so_far), simulations=simulations)
