"""The allocation engine on cases a municipality would recognise (points, ties, the lottery,
transfers, siblings, a round without a stable outcome, explanations and their words)."""

from __future__ import annotations

import json

import pytest

from integrations.daycare.allocation import (
    LOTTERY_LABEL,
    Applicant,
    RoundInput,
    allocate,
    blocking_pairs,
    describe,
    input_hash,
    lottery_number,
)

LABELS = (
    ("指数", "points"),
    ("基準指数", "base points"),
    ("ひとり親", "single parent"),
    ("住民税額の低さ", "lower resident tax"),
)


def kid(
    id: str,
    wishes: str,
    points: float,
    *tiebreaks: float,
    age: int = 1,
    group: str | None = None,
    mode: str | None = None,
    current: str | None = None,
) -> Applicant:
    """An applicant whose wishes are one letter per facility, best first ("AB" = A then B)."""
    prio = (float(points),) + tuple(float(t) for t in (tiebreaks or (0, 0, 0)))
    return Applicant(id, age, tuple(wishes), prio, group, mode, current)


def run(places: dict[tuple[str, int], int], *kids: Applicant, seed: str = "2026-04"):
    """Allocate a round with the standard labels."""
    return allocate(RoundInput(places, list(kids), seed, LABELS, "rules-v1"))


def test_higher_points_win_the_wished_place() -> None:
    out = run({("A", 1): 1, ("B", 1): 1}, kid("1", "AB", 39), kid("2", "AB", 41))
    assert out.assignment == {"1": "B", "2": "A"}
    assert out.wish_rank == {"1": 2, "2": 1}
    assert out.stable and out.blocking == []
    assert out.cutoffs[("A", 1)] is not None and out.cutoffs[("A", 1)][0] == 41


def test_wish_rank_does_not_count_only_priority() -> None:
    # "2" wished A second, yet beats "1" who wished it first: only the points decide
    out = run({("A", 1): 1}, kid("1", "A", 20), kid("2", "BA", 21))
    assert out.assignment == {"1": None, "2": "A"}


def test_a_tie_is_broken_by_the_first_differing_item() -> None:
    out = run({("A", 1): 1}, kid("1", "A", 20, 5, 0, 0), kid("2", "A", 20, 5, 1, 0))
    assert out.assignment == {"1": None, "2": "A"}
    (reason,) = out.explanations["1"].reasons
    assert reason.code == "lost_tiebreak"
    assert reason.item == 2 and reason.item_label == ("ひとり親", "single parent")
    assert out.explanations["1"].extra_points == 1


def test_the_lottery_is_reproducible_by_seed_and_changes_with_it() -> None:
    kids = [kid(str(k), "A", 20) for k in range(1, 5)]
    places = {("A", 1): 1}
    winners = set()
    for n in range(12):
        seed = f"seed-{n}"
        first, again = run(places, *kids, seed=seed), run(places, *reversed(kids), seed=seed)
        assert first.assignment == again.assignment
        assert first.lottery == {k.id: lottery_number(seed, k.id) for k in kids}
        (winner,) = [i for i, f in first.assignment.items() if f]
        assert first.lottery[winner] == max(first.lottery.values())
        winners.add(winner)
    assert len(winners) > 1
    loser = next(i for i, f in first.assignment.items() if f is None)
    (reason,) = first.explanations[loser].reasons
    assert reason.code == "lost_tiebreak" and reason.item_label == LOTTERY_LABEL


def test_a_transfer_keeps_its_place_against_higher_points() -> None:
    # places exclude the transfer seat: A has none open, the transferee keeps its own
    out = run({("B", 1): 1}, kid("t", "B", 10, current="A"), kid("x", "BA", 30))
    assert out.assignment == {"t": "A", "x": "B"}
    assert out.explanations["t"].kept_current
    assert out.explanations["x"].reasons == ()  # x had its wish 1


def test_a_transfer_that_moves_frees_its_seat_for_the_next_child() -> None:
    # t moves from A to its wish B; its seat at A goes to x; y, who lost B, takes nothing
    out = run(
        {("B", 1): 1},
        kid("t", "B", 25, current="A"),
        kid("x", "A", 15),
        kid("y", "B", 20),
    )
    assert out.assignment == {"t": "B", "x": "A", "y": None}
    assert out.stable
    assert out.explanations["y"].reasons[0].code == "lost_points"


def test_a_seat_held_only_by_its_transferee_is_explained_so() -> None:
    out = run({}, kid("t", "B", 10, current="A"), kid("x", "A", 30))
    assert out.assignment == {"t": "A", "x": None}
    assert out.explanations["x"].reasons[0].code == "transfer_seat"
    assert out.explanations["x"].extra_points is None


def test_same_facility_siblings_go_where_both_classes_have_room() -> None:
    a = kid("a", "AB", 20, age=1, group="g", mode="same_facility")
    b = kid("b", "AB", 20, age=3, group="g", mode="same_facility")
    out = run({("A", 1): 1, ("B", 1): 1, ("B", 3): 1}, a, b)
    assert out.assignment == {"a": "B", "b": "B"}
    assert out.explanations["a"].reasons[0].code == "group"  # A 1-year had room for a alone
    assert out.explanations["b"].reasons[0].code == "no_class"


def test_both_or_neither_siblings_are_placed_together_or_not_at_all() -> None:
    a = kid("a", "A", 30, age=1, group="g", mode="both_or_neither")
    b = kid("b", "B", 30, age=2, group="g", mode="both_or_neither")
    single = kid("s", "A", 10, age=1)
    out = run({("A", 1): 1, ("B", 2): 0}, a, b, single)
    assert out.assignment == {"a": None, "b": None, "s": "A"}
    assert out.stable


def test_the_group_is_ranked_at_its_best_member() -> None:
    a = kid("a", "A", 30, age=1, group="g", mode="both_or_neither")
    b = kid("b", "B", 10, age=2, group="g", mode="both_or_neither")
    out = run({("A", 1): 1, ("B", 2): 1}, a, b, kid("s", "B", 20, age=2))
    assert out.assignment == {"a": "A", "b": "B", "s": None}
    assert out.stable


def test_no_stable_outcome_with_a_couple_and_a_transfer() -> None:
    # the classic couple example: the group outranks s at A, s outranks b at B (its own seat)
    a = kid("a", "A", 30, age=2, group="g", mode="both_or_neither")
    b = kid("b", "B", 30, age=2, group="g", mode="both_or_neither")
    s = kid("s", "A", 10, age=2, current="B")
    round = RoundInput({("A", 2): 1}, [a, b, s], "x", LABELS)
    out = allocate(round)
    assert not out.stable
    assert len(out.blocking) == 1
    assert out.blocking == blocking_pairs(round, out.assignment)
    # every feasible alternative has at least one blocking pair too
    for alt in (
        {"a": "A", "b": "B", "s": None},
        {"a": None, "b": None, "s": "A"},
        {"a": None, "b": None, "s": "B"},
        {"a": None, "b": None, "s": None},
    ):
        assert len(blocking_pairs(round, alt)) >= 1
    assert out.to_json()["blocking"][0]["reason"] in ("empty_place", "lower_priority")


def test_explanation_of_an_unplaced_child_and_its_words() -> None:
    out = run(
        {("A", 1): 1, ("B", 1): 1, ("C", 2): 1},
        kid("p", "A", 41),
        kid("q", "B", 43, 5, 1, 0),
        kid("r", "ABC", 39, 5, 0, 0),
        kid("s", "B", 43, 4, 0, 0),
    )
    assert out.assignment["r"] is None
    e = out.explanations["r"]
    codes = [(x.wish, x.facility, x.code) for x in e.reasons]
    assert codes == [(1, "A", "lost_points"), (2, "B", "lost_points"), (3, "C", "no_class")]
    assert (e.reasons[0].cutoff_points, e.reasons[0].your_points) == (41, 39)
    # at 41 points r would win the tie on item 1 (5 against 0): 2 points are enough
    assert e.extra_points == 2 and e.what_if_wish == 1
    en = describe(e, "en", {"A": "Sakura", "B": "Momo"})
    assert en.startswith("Not placed: wish 1 (Sakura) filled at 41 points, you had 39")
    assert "With 2 more points you would have had wish 1." in en
    ja = describe(e, "ja", {"A": "さくら保育園"})
    assert "第1希望のさくら保育園は最低41点で定員に達しました（あなたは39点）" in ja
    assert "あと2点あれば第1希望に内定していました" in ja
    # s lost B to q on a tie at 43, on tie-break item 1 (base points)
    (tie,) = out.explanations["s"].reasons
    assert tie.code == "lost_tiebreak" and tie.item == 1
    assert "filled to a tie at 43, lost on tie-break item 1 (base points)" in describe(
        out.explanations["s"], "en"
    )


def test_words_for_a_placed_child() -> None:
    out = run({("A", 1): 1, ("B", 1): 1}, kid("1", "AB", 39), kid("2", "AB", 41))
    ja = describe(out.explanations["1"], "ja", {"B": "もも保育園"})
    assert ja.startswith("第2希望のもも保育園に内定しました")
    assert describe(out.explanations["2"], "en") == "Placed at wish 1 (A)."


def test_input_hash_ignores_order_and_sees_changes() -> None:
    kids = [kid("1", "AB", 39), kid("2", "AB", 41)]
    places = {("A", 1): 1, ("B", 1): 2}
    h = input_hash(RoundInput(places, kids, "s"))
    assert h == input_hash(RoundInput(dict(reversed(places.items())), kids[::-1], "s"))
    assert h != input_hash(RoundInput(places, kids, "t"))
    assert h != input_hash(RoundInput({**places, ("A", 1): 2}, kids, "s"))
    assert len(h) == 64


def test_outcome_json_is_plain() -> None:
    out = run({("A", 1): 1}, kid("1", "A", 20), kid("2", "A", 21))
    data = json.loads(json.dumps(out.to_json(), ensure_ascii=False))
    assert data["assignment"] == {"1": None, "2": "A"}
    assert data["cutoffs"][0]["facility"] == "A"
    assert data["input_hash"] == out.input_hash


def test_words_for_a_kept_place_and_a_sibling_constraint() -> None:
    out = run({}, kid("t", "B", 10, current="A"))
    assert describe(out.explanations["t"], "en") == (
        "You keep your current place at A: wish 1 (B) has no places in this class."
    )
    assert describe(out.explanations["t"], "ja").startswith("現在のAでの在園が継続となります")
    a = kid("a", "AB", 20, age=1, group="g", mode="same_facility")
    b = kid("b", "AB", 20, age=3, group="g", mode="same_facility")
    out = run({("A", 1): 1, ("B", 1): 1, ("B", 3): 1}, a, b)
    assert "wish 1 (A) was not possible together with your siblings" in describe(
        out.explanations["a"], "en"
    )
    assert "きょうだい" in describe(out.explanations["a"], "ja")


def test_no_what_if_where_wish_1_has_no_class() -> None:
    out = run({("B", 1): 0, ("A", 2): 3}, kid("x", "AB", 20))
    e = out.explanations["x"]
    assert [r.code for r in e.reasons] == ["no_class", "no_class"]
    assert e.extra_points is None and e.what_if_wish is None
    assert "With" not in describe(e, "en")


def test_describe_refuses_an_unknown_language() -> None:
    out = run({("A", 1): 1}, kid("x", "A", 20))
    with pytest.raises(ValueError):
        describe(out.explanations["x"], "fr")


@pytest.mark.parametrize(
    ("kids", "places", "message"),
    [
        ([kid("1", "A", 20), kid("1", "B", 20)], {}, "duplicate id"),
        ([kid("1", "AA", 20)], {}, "wished twice"),
        ([Applicant("1", 1, tuple(f"F{k}" for k in range(21)), (20.0,))], {}, "more than 20"),
        ([kid("1", "A", 20, age=6)], {}, "not 0-5"),
        ([kid("1", "A", 20, group="g", mode="twins")], {}, "unknown group mode"),
        ([kid("1", "A", 20), Applicant("2", 1, ("A",), (20.0,))], {}, "priority has 1"),
        ([kid("1", "A", 20)], {("A", 1): -1}, "negative"),
    ],
)
def test_inputs_the_engine_cannot_decide_are_refused(
    kids: list[Applicant], places: dict[tuple[str, int], int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        run(places, *kids)


def test_blocking_pairs_of_a_hand_made_assignment() -> None:
    round = RoundInput({("A", 1): 1, ("B", 1): 1}, [kid("1", "AB", 39), kid("2", "AB", 41)], "s")
    pairs = blocking_pairs(round, {"1": "A", "2": "B"})
    assert [(p.applicants, p.facility, p.class_age, p.reason) for p in pairs] == [
        (("2",), "A", 1, "lower_priority")
    ]
    # a place nobody wished counts as no place at all
    (pair,) = blocking_pairs(round, {"1": "Z", "2": "A"})
    assert (pair.applicants, pair.reason) == (("1",), "empty_place")
