"""Properties of the allocation engine on random rounds, a brute-force oracle on small rounds,
and strategy-proofness for applicants without siblings."""

from __future__ import annotations

import itertools
import random
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.daycare.allocation import (
    Applicant,
    Outcome,
    RoundInput,
    _blocking,
    _Model,
    allocate,
    blocking_pairs,
    input_hash,
)

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def rounds(
    draw: st.DrawFn,
    max_apps: int = 40,
    max_facs: int = 6,
    groups: bool = True,
    transfers: bool = True,
    group_odds: int = 4,
    transfer_odds: int = 10,
) -> RoundInput:
    """A random round: few class ages and points values, so that places and ties are contested."""
    facs = [f"F{k}" for k in range(draw(st.integers(1, max_facs)))]
    ages = draw(st.integers(1, 2))
    places = {
        (f, c): draw(st.integers(0, 3))
        for f in facs
        for c in range(ages)
        if draw(st.booleans()) or draw(st.booleans())
    }
    n = draw(st.integers(1, max_apps))
    apps: list[Applicant] = []
    for k in range(n):
        wishes = draw(st.permutations(facs).map(tuple))
        wishes = wishes[: draw(st.integers(1, len(facs)))]
        age = draw(st.integers(0, ages - 1))
        prio = (float(draw(st.integers(18, 21))), float(draw(st.integers(0, 1))))
        current = None
        if transfers and draw(st.integers(1, transfer_odds)) == 1:
            current = draw(st.sampled_from(facs))
        group = mode = None
        if groups and draw(st.integers(1, group_odds)) == 1:
            group = f"g{draw(st.integers(0, max(1, n // 4)))}"
            mode = draw(st.sampled_from(["same_facility", "both_or_neither", None]))
        apps.append(Applicant(f"a{k}", age, wishes, prio, group, mode, current))
    return RoundInput(places, apps, draw(st.text("abc", min_size=1, max_size=4)))


def acceptable(a: Applicant) -> list[str]:
    """The true preference list: wishes above the current place, then the current place."""
    if a.current is None:
        return list(a.wishes)
    if a.current in a.wishes:
        return list(a.wishes[: a.wishes.index(a.current) + 1])
    return list(a.wishes) + [a.current]


def capacity(round: RoundInput) -> Counter[tuple[str, int]]:
    """Places plus one seat per transfer applicant at its current place."""
    cap: Counter[tuple[str, int]] = Counter({k: v for k, v in round.places.items() if v > 0})
    for a in round.applicants:
        if a.current is not None:
            cap[(a.current, a.class_age)] += 1
    return cap


def active_groups(round: RoundInput) -> dict[str, tuple[str, list[Applicant]]]:
    """The groups the engine honours: 2+ members without a transfer, the strictest mode."""
    members: dict[str, list[Applicant]] = {}
    for a in round.applicants:
        if a.group is not None and a.current is None:
            members.setdefault(a.group, []).append(a)
    out = {}
    for key, lst in members.items():
        modes = {a.group_mode for a in lst}
        mode = (
            "same_facility"
            if "same_facility" in modes
            else ("both_or_neither" if "both_or_neither" in modes else None)
        )
        if len(lst) >= 2 and mode is not None:
            out[key] = (mode, lst)
    return out


def assert_feasible(round: RoundInput, out: Outcome) -> None:
    """Guarantees 1, 5 and 6: places, wishes, transfers, sibling constraints."""
    used = Counter(
        (f, a.class_age) for a in round.applicants if (f := out.assignment[a.id]) is not None
    )
    cap = capacity(round)
    assert all(n <= cap[k] for k, n in used.items())
    for a in round.applicants:
        f = out.assignment[a.id]
        assert f is None or f in acceptable(a)
        if a.current is not None:
            assert f is not None and acceptable(a).index(f) <= acceptable(a).index(a.current)
    for mode, lst in active_groups(round).values():
        got = [out.assignment[a.id] for a in lst]
        assert all(g is None for g in got) or all(g is not None for g in got)
        if mode == "same_facility":
            assert len(set(got)) == 1


def envy_free(round: RoundInput, out: Outcome) -> bool:
    """No waste and no justified envy, checked pairwise (independent of `blocking_pairs`)."""
    cap = capacity(round)

    def key(a: Applicant) -> tuple:
        return tuple(a.priority) + (out.lottery[a.id], tuple(-ord(ch) for ch in a.id))

    holders: dict[tuple[str, int], list[Applicant]] = {}
    for a in round.applicants:
        if (f := out.assignment[a.id]) is not None:
            holders.setdefault((f, a.class_age), []).append(a)
    for a in round.applicants:
        prefs = acceptable(a)
        result = out.assignment[a.id]
        better = prefs[: prefs.index(result)] if result is not None else prefs
        for f in better:
            held = holders.get((f, a.class_age), [])
            if len(held) < cap[(f, a.class_age)]:
                return False
            for h in held:
                if h.current == f:
                    continue  # a transferee's right to its own place is above everyone
                if a.current == f or key(a) > key(h):
                    return False
    return True


@SETTINGS
@given(rounds())
def test_outcomes_are_feasible_and_blocking_pairs_match_stability(round: RoundInput) -> None:
    out = allocate(round)
    assert_feasible(round, out)
    assert out.blocking == blocking_pairs(round, out.assignment)
    assert out.stable == (out.blocking == [])
    for a in round.applicants:
        f = out.assignment[a.id]
        assert out.wish_rank[a.id] == (a.wishes.index(f) + 1 if f in a.wishes else None)


@SETTINGS
@given(rounds(groups=False))
def test_without_groups_no_waste_and_no_justified_envy(round: RoundInput) -> None:
    out = allocate(round)
    assert out.stable
    assert envy_free(round, out)


@SETTINGS
@given(rounds(groups=False))
def test_explanations_agree_with_cutoffs_and_the_what_if_is_the_least(round: RoundInput) -> None:
    out = allocate(round)
    for a in round.applicants:
        e = out.explanations[a.id]
        assert all(r.code not in ("blocked", "group") for r in e.reasons)
        # The what-if names the best wish that points could have won.
        won = [r for r in e.reasons if r.code in ("lost_points", "lost_tiebreak")]
        if not won:
            assert e.extra_points is None and e.what_if_wish is None
            continue
        assert e.what_if_wish == won[0].wish
        cutoff = out.cutoffs[(a.wishes[won[0].wish - 1], a.class_age)]
        assert cutoff is not None and e.extra_points is not None
        mine = tuple(a.priority) + (out.lottery[a.id],)
        assert cutoff > mine and cutoff[0] == won[0].cutoff_points
        assert (mine[0] + e.extra_points,) + mine[1:] > cutoff
        assert (mine[0] + e.extra_points - 1,) + mine[1:] < cutoff


@SETTINGS
@given(rounds(), st.randoms(use_true_random=False))
def test_the_same_round_in_any_order_gives_the_same_outcome(
    round: RoundInput, rng: random.Random
) -> None:
    apps = list(round.applicants)
    rng.shuffle(apps)
    places = list(round.places.items())
    rng.shuffle(places)
    shuffled = RoundInput(dict(places), apps, round.seed)
    assert input_hash(shuffled) == input_hash(round)
    assert allocate(shuffled).to_json() == allocate(round).to_json()


@SETTINGS
@given(rounds(transfers=False, group_odds=2))
def test_groups_without_transfers_always_get_a_stable_outcome(round: RoundInput) -> None:
    # with one common priority, DA inserting units best first is a serial dictatorship: stable
    out = allocate(round)
    assert_feasible(round, out)
    assert out.stable


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False).map(lambda r: contested_round(r, (9, 30))))
def test_the_heuristic_at_scale_stays_feasible_and_honest(round: RoundInput) -> None:
    out = allocate(round)
    assert_feasible(round, out)
    assert out.blocking == blocking_pairs(round, out.assignment)
    assert out.stable == (out.blocking == [])


# --- the brute-force oracle ---------------------------------------------------------------------


def every_feasible(round: RoundInput):
    """Every feasible assignment: each child at an acceptable place or none (a transferee at
    its current place or better), within places and the sibling constraints."""
    apps = sorted(round.applicants, key=lambda a: a.id)
    cap = capacity(round)
    groups = active_groups(round)
    choices = [acceptable(a) if a.current else [None, *acceptable(a)] for a in apps]
    for choice in itertools.product(*choices):
        used = Counter((f, a.class_age) for a, f in zip(apps, choice, strict=True) if f)
        if any(n > cap[k] for k, n in used.items()):
            continue
        assignment = {a.id: f for a, f in zip(apps, choice, strict=True)}
        ok = True
        for mode, lst in groups.values():
            got = [assignment[a.id] for a in lst]
            if any(g is None for g in got) and any(g is not None for g in got):
                ok = False
            if mode == "same_facility" and len(set(got)) > 1:
                ok = False
        if ok:
            yield assignment


def count_blocking(round: RoundInput):
    """A fast counter of blocking pairs for many assignments of one round (the oracle's cost)."""
    model = _Model(round)

    def count(assignment: dict[str, str | None]) -> int:
        return len(_blocking(model, [assignment[i] for i in model.ids]))

    return count


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds(max_apps=6, max_facs=3, group_odds=2, transfer_odds=4))
def test_the_oracle_minimum_of_blocking_pairs_is_met(round: RoundInput) -> None:
    out = allocate(round)
    count = count_blocking(round)
    counts = [(count(a), a) for a in every_feasible(round)]
    best = min(c for c, _ in counts)
    assert len(out.blocking) == best
    if best == 0:
        assert out.stable
    if not active_groups(round):
        # applicant-optimal: nobody does better in any stable outcome
        stable = [a for c, a in counts if c == 0]
        for a in round.applicants:
            prefs = acceptable(a)

            def rank(f: str | None, prefs: list[str] = prefs) -> int:
                return prefs.index(f) if f is not None else len(prefs)

            mine = rank(out.assignment[a.id])
            assert all(mine <= rank(s[a.id]) for s in stable)
        assert all(envy_free(round, Outcome_view(s, out)) for s in stable)


def contested_round(rng: random.Random, size: tuple[int, int] = (3, 6)) -> RoundInput:
    """A small round of one class, one place or none per facility, a sibling group (perhaps a
    second) ranked above many transfers: the shape where stable outcomes fail to exist (about
    one round in twenty)."""
    facs = ["A", "B", "C"][: rng.randint(2, 3)]
    places = {(f, 0): rng.randint(0, 1) for f in facs}
    apps = []
    for k in range(rng.randint(*size)):
        wishes = rng.sample(facs, rng.randint(1, len(facs)))
        group = f"g{k // 2}" if k < 2 or (k < 4 and rng.random() < 0.5) else None
        mode = None
        if group:
            mode = "both_or_neither" if rng.random() < 0.75 else "same_facility"
        current = rng.choice(facs) if group is None and rng.random() < 0.7 else None
        points = float(rng.randint(19, 20) if group else rng.randint(18, 19))
        apps.append(Applicant(f"a{k}", 0, tuple(wishes), (points,), group, mode, current))
    return RoundInput(places, apps, "s")


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False).map(contested_round))
def test_the_oracle_minimum_is_met_where_siblings_make_stability_fail(
    round: RoundInput,
) -> None:
    out = allocate(round)
    assert_feasible(round, out)
    count = count_blocking(round)
    best = min(count(a) for a in every_feasible(round))
    assert len(out.blocking) == best
    assert out.stable == (best == 0)


def Outcome_view(assignment: dict[str, str | None], out: Outcome) -> Outcome:
    """An outcome with another assignment (for the pairwise check of the oracle's stables)."""
    return Outcome(
        assignment=assignment,
        wish_rank={},
        stable=True,
        blocking=[],
        explanations={},
        input_hash="",
        cutoffs={},
        lottery=out.lottery,
    )


# --- strategy-proofness -------------------------------------------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds(max_apps=5, max_facs=3, groups=False))
def test_no_applicant_gains_by_reporting_other_wishes(round: RoundInput) -> None:
    truthful = allocate(round)
    facs = sorted({f for f, _ in round.places} | {f for a in round.applicants for f in a.wishes})
    for k, a in enumerate(round.applicants):
        if len(a.wishes) > 3:
            continue
        prefs = acceptable(a)

        def rank(f: str | None, prefs: list[str] = prefs) -> int:
            return prefs.index(f) if f in prefs else len(prefs) + 1

        honest = rank(truthful.assignment[a.id])
        for size in range(len(facs) + 1):
            for report in itertools.permutations(facs, size):
                if report == a.wishes:
                    continue
                lie = Applicant(a.id, a.class_age, report, a.priority, None, None, a.current)
                apps = list(round.applicants)
                apps[k] = lie
                got = allocate(RoundInput(round.places, apps, round.seed)).assignment[a.id]
                assert rank(got) >= honest, (a, report, got)
