"""The allocation engine of a daycare intake round (利用調整): pure functions, no I/O.

Inputs: places per (facility, class age), one application per child with its wished facilities
(best first), its priority `(points, tiebreak_1, ...)` where larger is better, an optional
sibling group and an optional current place (a transfer, 転園), and the published lottery seed.

The lottery: each applicant draws `int(sha256(seed + id)[:12 hex], 16)`; the number is appended
to its priority as the last item (labelled 抽選 / Lottery); a larger number wins. Were two draws
ever equal, the smaller id wins so that the order is total.

Ranking at a place: every facility ranks applicants by that common priority, except that a
transfer applicant ranks above everyone at its own current (facility, class age). The caller
passes places EXCLUDING the transfer seats; the engine adds one seat per transfer applicant at
its current place. If the transferee moves to a better wish, that seat goes to others (a
vacancy chain). A transferee's acceptable places are its wishes ranked above its current place,
then the current place (appended when not wished).

Sibling groups (the same `group` key): the group's mode is the strictest of its members' modes
("same_facility" over "both_or_neither" over None). With mode None, or a single member, the
members apply alone. A transfer applicant already holds a place, so it is taken out of its group
(a sibling's wish to join it is a points matter, 調整指数). A group is handled as one unit:
- its priority is the BEST (max) of its members' priorities, and its members both claim and hold
  places at that priority;
- its joint options: "same_facility" = one facility wished by every member (each in its own
  class); "both_or_neither" = any wish of each member. Options are ordered by the sum of the
  members' wish ranks, then by the members' ranks in member order (members sorted by id);
  every option is better than "none placed".

Blocking pair (precisely): a unit (a single applicant, or a group) and an option of it that the
unit strictly prefers to its result, where each (facility, class) of the option has room for the
members it would receive: free places plus places held by others ranked lower than the unit
there (members already there keep their seats). A single applicant's option is one wished
facility; reason "empty_place" when only free places are needed, else "lower_priority".

Guarantees (each is tested, tests/integrations/daycare/test_allocation_*.py):
1. Feasible: no (facility, class) over its places (plus transfer seats); everyone placed only at
   a wished facility or its current place, in its own class age. Exact.
2. Non-wasteful and 3. no justified envy: both are "no blocking pair". Without sibling groups
   the engine runs applicant-proposing deferred acceptance (DA): the outcome is stable (no
   blocking pair at all) and applicant-optimal among stable outcomes. Exact.
   With groups a stable outcome may not exist; `stable` says whether this one is, and
   `blocking` lists every blocking pair of the outcome returned.
4. Wish rank never counts: the priority does not depend on the rank a facility was wished at;
   for rounds without groups DA is strategy-proof for every applicant. Exact.
5. Transfers never end worse than their current place (their reserved seat ranks them first).
   Exact.
6. Siblings: "same_facility" groups are placed all at one facility or not at all;
   "both_or_neither" groups all or none. Exact. Without transfers a stable outcome always
   exists (one common priority: DA inserting units best first is a serial dictatorship) and is
   found. With transfers and groups it may not exist; the engine then minimises the number of
   blocking pairs:
   - EXACT for rounds of at most 8 applicants (when the options multiply to at most 50,000):
     an enumeration of every feasible outcome (transferees at their current place or better),
     so the minimum over all of them is met (tested against a brute-force oracle);
   - HEURISTIC above that: DA with groups at their max priority; a repair pass in rounds,
     where the best-ranked unit of each blocking place takes its best blocking option (its
     evictees continue DA), keeping the best outcome seen (the count is not monotone); on small
     rounds DA with groups at their min, each member's and the last priority; then a local
     search that moves one group involved in a blocking pair to another priority. The searches
     are bounded by work (rounds and DA runs), never by the clock. The synthetic rounds of
     10,000 applications (benchmarks/allocation.py, seeds 1-3) end stable, yet nothing
     guarantees that a given large round does.
7. Deterministic: the same inputs in any order give the same outcome; `input_hash` does not
   depend on the order of applicants or places.

Transferees are never left unplaced or placed worse, by any of the searches. A cutoff is the
priority (lottery included) at which the lowest admitted child holds its place (a group member
at its group's priority); a transferee in its own seat does not count.

Explanations are codes (`no_class`, `lost_points`, `lost_tiebreak`, `group`, `transfer_seat`,
`blocked`: the place had room, left by an unresolved blocking pair), with a what-if: the fewest
extra points with which wish 1 would have been obtained, others fixed (the gap to the cutoff's
points, +1 where the tie would be lost; for a sibling, on the group's priority). `describe()`
renders them in Japanese or English for a parent.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

LOTTERY_LABEL = ("抽選", "Lottery")
TOP = -1  # the rank of a transferee at its own current place: above everyone
EXACT_MAX_APPLICANTS = 8
EXACT_MAX_SPACE = 50_000
# The searches are bounded by work, not by the clock, so that the outcome never depends on the
# machine: REPAIR_ROUNDS passes of the repair, and at most SEARCH_WORK // applicants extra DA
# runs (variants and local search; at 10,000 applicants: 4, keeping a round under 10 s).
REPAIR_ROUNDS = 30
REPAIR_PATIENCE = 6
REPAIR_IN_SEARCH_MAX = 2_000
SEARCH_WORK = 40_000
LOCAL_SEARCH_ITERATIONS = 200
MODES = (None, "both_or_neither", "same_facility")  # weakest to strictest

Place = tuple[str, int]


@dataclass(frozen=True)
class Applicant:
    """One application (one child) of an intake round."""

    id: str
    class_age: int
    wishes: tuple[str, ...]
    priority: tuple[float, ...]
    group: str | None = None
    group_mode: str | None = None
    current: str | None = None


@dataclass(frozen=True)
class RoundInput:
    """Everything an intake round is decided on."""

    places: Mapping[tuple[str, int], int]
    applicants: Sequence[Applicant]
    seed: str
    priority_labels: tuple[tuple[str, str], ...] = ()
    rules_hash: str = ""


@dataclass(frozen=True)
class BlockingPair:
    """A unit and an option it prefers and could take (see the module docstring)."""

    applicants: tuple[str, ...]
    facilities: tuple[str, ...]
    class_ages: tuple[int, ...]
    reason: str  # "empty_place" | "lower_priority"

    @property
    def facility(self) -> str:
        """The facility of the first member (of the only one, for a single applicant)."""
        return self.facilities[0]

    @property
    def class_age(self) -> int:
        """The class age of the first member."""
        return self.class_ages[0]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return {
            "applicants": list(self.applicants),
            "facilities": list(self.facilities),
            "class_ages": list(self.class_ages),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class WishReason:
    """Why one wish ranked above the result was not obtained."""

    wish: int  # 1-based
    facility: str
    code: str  # no_class | lost_points | lost_tiebreak | group | transfer_seat | blocked
    cutoff_points: float | None = None
    your_points: float | None = None
    item: int | None = None  # 1-based index of the deciding priority item (lost_tiebreak)
    item_label: tuple[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return {
            "wish": self.wish,
            "facility": self.facility,
            "code": self.code,
            "cutoff_points": self.cutoff_points,
            "your_points": self.your_points,
            "item": self.item,
            "item_label": list(self.item_label) if self.item_label else None,
        }


@dataclass(frozen=True)
class Explanation:
    """Why an applicant got its result: codes and numbers, rendered by `describe()`."""

    applicant: str
    facility: str | None
    wish: int | None  # 1-based rank of the result among the wishes; None: not placed/not wished
    kept_current: bool
    reasons: tuple[WishReason, ...]
    # The fewest extra points that would have won the best wish points can win (others fixed).
    extra_points: float | None
    what_if_wish: int | None = None  # the wish that `extra_points` would have won

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return {
            "applicant": self.applicant,
            "facility": self.facility,
            "wish": self.wish,
            "kept_current": self.kept_current,
            "reasons": [r.to_json() for r in self.reasons],
            "extra_points": self.extra_points,
            "what_if_wish": self.what_if_wish,
        }


@dataclass(frozen=True)
class Outcome:
    """The result of a round: the assignment, its stability and explanations."""

    assignment: dict[str, str | None]
    wish_rank: dict[str, int | None]
    stable: bool
    blocking: list[BlockingPair]
    explanations: dict[str, Explanation]
    input_hash: str
    cutoffs: dict[tuple[str, int], tuple[float, ...] | None]
    lottery: dict[str, int]
    # deferred_acceptance | da_groups | exact_search | repair | local_search: what found it
    method: str = "deferred_acceptance"
    labels: tuple[tuple[str, str], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able data for the API."""
        return {
            "assignment": dict(sorted(self.assignment.items())),
            "wish_rank": dict(sorted(self.wish_rank.items())),
            "stable": self.stable,
            "blocking": [b.to_json() for b in self.blocking],
            "explanations": {k: e.to_json() for k, e in sorted(self.explanations.items())},
            "input_hash": self.input_hash,
            "cutoffs": [
                {"facility": f, "class_age": c, "priority": list(p) if p is not None else None}
                for (f, c), p in sorted(self.cutoffs.items())
            ],
            "lottery": dict(sorted(self.lottery.items())),
            "method": self.method,
            "labels": [list(label) for label in self.labels],
        }


# --- canonical inputs -------------------------------------------------------------------------


def _num(x: float) -> float:
    """An integral float as an int (20.0 -> 20), so that hashes and words do not depend on it."""
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x


def input_hash(round: RoundInput) -> str:
    """The sha256 hex of a canonical JSON of the inputs (independent of their order)."""
    data = {
        "places": sorted([f, c, n] for (f, c), n in round.places.items()),
        "applicants": sorted(
            (
                {
                    "id": a.id,
                    "class_age": a.class_age,
                    "wishes": list(a.wishes),
                    "priority": [_num(p) for p in a.priority],
                    "group": a.group,
                    "group_mode": a.group_mode,
                    "current": a.current,
                }
                for a in round.applicants
            ),
            key=lambda d: str(d["id"]),
        ),
        "seed": round.seed,
        "priority_labels": [list(label) for label in round.priority_labels],
        "rules_hash": round.rules_hash,
    }
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def lottery_number(seed: str, applicant_id: str) -> int:
    """The lottery number an applicant draws: the first 48 bits of sha256(seed + id)."""
    # 48 bits: exact in JSON for JavaScript clients (2^53), and collisions stay negligible
    return int(hashlib.sha256((seed + applicant_id).encode("utf-8")).hexdigest()[:12], 16)


MAX_WISHES = 20


def validate(round: RoundInput) -> None:
    """Raise ValueError on inputs the engine cannot decide fairly (the first problem found)."""
    seen: set[str] = set()
    width = None
    for a in sorted(round.applicants, key=lambda a: a.id):
        if a.id in seen:
            raise ValueError(f"applicant {a.id}: duplicate id")
        seen.add(a.id)
        if not 0 <= a.class_age <= 5:
            raise ValueError(f"applicant {a.id}: class age {a.class_age} is not 0-5")
        if len(a.wishes) > MAX_WISHES:
            raise ValueError(f"applicant {a.id}: more than {MAX_WISHES} wishes")
        if len(set(a.wishes)) != len(a.wishes):
            raise ValueError(f"applicant {a.id}: a facility is wished twice")
        if a.group_mode not in MODES:
            raise ValueError(f"applicant {a.id}: unknown group mode {a.group_mode!r}")
        # priorities of different lengths would compare a tie-break against the lottery
        if width is not None and len(a.priority) != width:
            raise ValueError(f"applicant {a.id}: priority has {len(a.priority)} items")
        width = len(a.priority)
        if not a.priority:
            raise ValueError(f"applicant {a.id}: empty priority")
    for (f, c), n in sorted(round.places.items()):
        if n < 0:
            raise ValueError(f"places at ({f}, {c}): {n} is negative")


# --- the model: units, ranks, capacities ------------------------------------------------------


@dataclass
class _Unit:
    members: tuple[int, ...]  # applicant indexes, sorted by id
    mode: str  # "single" | "same_facility" | "both_or_neither"
    rank: int  # the unit's rank (0 = best) at every place but a transferee's own


class _Model:
    """The round prepared for the algorithms: indexes, ranks, capacities, units."""

    def __init__(self, round: RoundInput) -> None:
        self.apps = sorted(round.applicants, key=lambda a: a.id)
        n = len(self.apps)
        self.ids = [a.id for a in self.apps]
        self.index = {a.id: i for i, a in enumerate(self.apps)}
        self.lottery = [lottery_number(round.seed, a.id) for a in self.apps]
        self.key = [tuple(a.priority) + (self.lottery[i],) for i, a in enumerate(self.apps)]
        order = sorted(range(n), key=lambda i: self.ids[i])
        order.sort(key=lambda i: self.key[i], reverse=True)  # stable: equal keys by id
        self.own_rank = [0] * n
        for r, i in enumerate(order):
            self.own_rank[i] = r
        self.cap: dict[Place, int] = {k: v for k, v in round.places.items() if v > 0}
        self.open_places = dict(self.cap)
        for a in self.apps:
            if a.current is not None:
                k = (a.current, a.class_age)
                self.cap[k] = self.cap.get(k, 0) + 1
        # acceptable facilities in order: wishes above the current place, then the current one
        self.acceptable: list[tuple[str, ...]] = []
        for a in self.apps:
            if a.current is None:
                self.acceptable.append(tuple(a.wishes))
            elif a.current in a.wishes:
                self.acceptable.append(tuple(a.wishes[: a.wishes.index(a.current) + 1]))
            else:
                self.acceptable.append(tuple(a.wishes) + (a.current,))
        self.wish_pos = [{f: k for k, f in enumerate(acc)} for acc in self.acceptable]
        self.units: list[_Unit] = []
        self.unit_of = [0] * n
        groups: dict[str, list[int]] = {}
        for i, a in enumerate(self.apps):
            if a.group is not None and a.current is None:
                groups.setdefault(a.group, []).append(i)
        grouped: set[int] = set()
        for key in sorted(groups):
            members = groups[key]
            mode = max((self.apps[i].group_mode for i in members), key=_mode_strength)
            if len(members) < 2 or mode is None:
                continue
            grouped.update(members)
            rank = min(self.own_rank[i] for i in members)
            self.units.append(_Unit(tuple(members), mode, rank))
        for i in range(n):
            if i not in grouped:
                self.units.append(_Unit((i,), "single", self.own_rank[i]))
        self.units.sort(key=lambda u: u.rank)
        for u_index, unit in enumerate(self.units):
            for i in unit.members:
                self.unit_of[i] = u_index
        self.has_groups = any(u.mode != "single" for u in self.units)

    def rank_at(self, i: int, facility: str, unit_rank: int | None = None) -> int:
        """Applicant i's rank at `facility` in its own class (smaller is better)."""
        if self.apps[i].current == facility:
            return TOP
        return self.units[self.unit_of[i]].rank if unit_rank is None else unit_rank

    def option_key(self, u: int, option: tuple[str, ...]) -> tuple[int, tuple[int, ...]]:
        """The unit's preference key of an option (smaller is better)."""
        ranks = tuple(
            self.wish_pos[i][f] for i, f in zip(self.units[u].members, option, strict=True)
        )
        return (sum(ranks), ranks)

    def options(self, u: int) -> Iterator[tuple[str, ...]]:
        """The unit's options, best first."""
        unit = self.units[u]
        accs = [self.acceptable[i] for i in unit.members]
        if unit.mode == "single":
            yield from ((f,) for f in accs[0])
            return
        if unit.mode == "same_facility":
            common = [f for f in accs[0] if all(f in self.wish_pos[i] for i in unit.members)]
            keyed = sorted(common, key=lambda f: self.option_key(u, (f,) * len(accs)))
            yield from ((f,) * len(accs) for f in keyed)
            return
        if any(not acc for acc in accs):
            return
        # best-first enumeration of rank tuples ordered by (sum, tuple)
        start = (0,) * len(accs)
        heap = [(0, start)]
        seen = {start}
        while heap:
            total, ranks = heapq.heappop(heap)
            yield tuple(acc[r] for acc, r in zip(accs, ranks, strict=True))
            for k in range(len(ranks)):
                if ranks[k] + 1 < len(accs[k]):
                    nxt = ranks[:k] + (ranks[k] + 1,) + ranks[k + 1 :]
                    if nxt not in seen:
                        seen.add(nxt)
                        heapq.heappush(heap, (total + 1, nxt))

    def assignment_of(self, where: Sequence[str | None]) -> dict[str, str | None]:
        """The assignment by applicant id."""
        return {self.ids[i]: where[i] for i in range(len(self.apps))}


def _mode_strength(mode: str | None) -> int:
    return MODES.index(mode) if mode in MODES else 0


# --- deferred acceptance with units -----------------------------------------------------------


class _DeferredAcceptance:
    """Applicant-proposing DA where each unit proposes its joint options; groups as one unit.

    Units are inserted in the order of `unit_ranks` (which are also their ranks at places).
    A unit rejected anywhere withdraws all its members and proposes its next option. Without
    groups this is McVitie-Wilson DA: the applicant-optimal stable outcome. `repair` then lets
    units of blocking pairs take their blocking option (a Roth-Peranson-like instability chain).
    """

    def __init__(self, model: _Model, unit_ranks: Sequence[int]) -> None:
        n = len(model.apps)
        self.model = model
        self.unit_ranks = unit_ranks
        self.where: list[str | None] = [None] * n
        self.ver = [0] * n
        self.count: dict[Place, int] = {}
        self.heaps: dict[Place, list[tuple[int, int, int]]] = {}
        self.iters: list[Iterator[tuple[str, ...]] | None] = [None] * len(model.units)
        self.cache: list[list[tuple[str, ...]]] = [[] for _ in model.units]
        self.ptr = [0] * len(model.units)

    def option(self, u: int, k: int) -> tuple[str, ...] | None:
        """Unit u's k-th option (0 = best), or None past the last."""
        unit = self.model.units[u]
        if unit.mode == "single":
            acc = self.model.acceptable[unit.members[0]]
            return (acc[k],) if k < len(acc) else None
        cache = self.cache[u]
        while len(cache) <= k:
            it = self.iters[u]
            if it is None:
                it = self.iters[u] = self.model.options(u)
            nxt = next(it, None)
            if nxt is None:
                return None
            cache.append(nxt)
        return cache[k]

    def rank_at(self, i: int, f: str) -> int:
        """Applicant i's rank at f under this run's unit ranks."""
        m = self.model
        return TOP if m.apps[i].current == f else self.unit_ranks[m.unit_of[i]]

    def withdraw(self, u: int) -> None:
        """Take every member of unit u out of its place."""
        for i in self.model.units[u].members:
            f = self.where[i]
            if f is not None:
                self.count[(f, self.model.apps[i].class_age)] -= 1
                self.where[i] = None
                self.ver[i] += 1

    def propose(self, u: int) -> list[int]:
        """Place unit u at its next acceptable option; return the units it evicted."""
        apps, cap, count, heaps = self.model.apps, self.model.cap, self.count, self.heaps
        members = self.model.units[u].members
        if len(members) == 1:
            return self._propose_single(u, members[0])
        while True:
            option = self.option(u, self.ptr[u])
            if option is None:
                return []
            need: dict[Place, list[int]] = {}
            for i, f in zip(members, option, strict=True):
                need.setdefault((f, apps[i].class_age), []).append(i)
            evict_plan: list[tuple[Place, list[tuple[int, int, int]]]] = []
            ok = True
            for place, who in need.items():
                c = cap.get(place, 0)
                if c < len(who):
                    ok = False
                    break
                excess = count.get(place, 0) + len(who) - c
                if excess <= 0:
                    continue
                heap = heaps[place]
                r = min(self.rank_at(i, place[0]) for i in who)
                popped: list[tuple[int, int, int]] = []
                while len(popped) < excess and heap:
                    entry = heapq.heappop(heap)
                    j = entry[1]
                    if self.ver[j] == entry[2] and self.where[j] == place[0]:
                        popped.append(entry)
                evict_plan.append((place, popped))
                if len(popped) < excess or any(-e[0] <= r for e in popped):
                    ok = False
                    break
            if not ok:
                for place, popped in evict_plan:
                    for entry in popped:
                        heapq.heappush(heaps[place], entry)
                self.ptr[u] += 1
                continue
            evicted: list[int] = []
            for _place, popped in evict_plan:
                for entry in popped:
                    v = self.model.unit_of[entry[1]]
                    if v not in evicted:
                        evicted.append(v)
            for v in evicted:
                self.withdraw(v)
                self.ptr[v] += 1
            for place, who in need.items():
                heap = heaps.setdefault(place, [])
                for i in who:
                    self.where[i] = place[0]
                    self.ver[i] += 1
                    heapq.heappush(heap, (-self.rank_at(i, place[0]), i, self.ver[i]))
                count[place] = count.get(place, 0) + len(who)
            return evicted

    def _propose_single(self, u: int, i: int) -> list[int]:
        """`propose` for a single applicant (most of a round): the same rules, less work."""
        acc = self.model.acceptable[i]
        c = self.model.apps[i].class_age
        cap, count, heaps, ver, where = (
            self.model.cap,
            self.count,
            self.heaps,
            self.ver,
            self.where,
        )
        while self.ptr[u] < len(acc):
            f = acc[self.ptr[u]]
            place = (f, c)
            room = cap.get(place, 0)
            held = count.get(place, 0)
            r = self.rank_at(i, f)
            evicted: list[int] = []
            if room == 0:
                self.ptr[u] += 1
                continue
            if held >= room:
                heap = heaps[place]
                while heap and (ver[heap[0][1]] != heap[0][2] or where[heap[0][1]] != f):
                    heapq.heappop(heap)
                if not heap or -heap[0][0] <= r:
                    self.ptr[u] += 1
                    continue
                v = self.model.unit_of[heapq.heappop(heap)[1]]
                self.withdraw(v)
                self.ptr[v] += 1
                evicted.append(v)
            where[i] = f
            ver[i] += 1
            heapq.heappush(heaps.setdefault(place, []), (-r, i, ver[i]))
            count[place] = count.get(place, 0) + 1
            return evicted
        return []

    def settle(self, units: Sequence[int]) -> None:
        """Insert the units one by one, each with its rejection chain."""
        for u in units:
            stack = [u]
            while stack:
                stack.extend(self.propose(stack.pop()))

    def run(self) -> list[str | None]:
        """The DA outcome."""
        self.settle(sorted(range(len(self.model.units)), key=lambda u: self.unit_ranks[u]))
        return self.where

    def repair(self) -> tuple[list[str | None], tuple[int, int]]:
        """Let blocking units take their option, while that lowers the count; the best seen."""
        model = self.model
        best: list[str | None] = list(self.where)
        pairs = _blocking(model, self.where)
        best_score = (len(pairs), -_placed(self.where))
        idle = 0
        for _ in range(REPAIR_ROUNDS):
            if not pairs:
                break
            moved: set[int] = set()
            claimed: set[Place] = set()
            for b in pairs:
                u = model.unit_of[model.index[b.applicants[0]]]
                targets = set(zip(b.facilities, b.class_ages, strict=True))
                # one claimant per place a round: the others would fall past their own place
                if u in moved or targets & claimed:
                    continue
                moved.add(u)
                claimed |= targets
                k = 0
                while (opt := self.option(u, k)) is not None and opt != b.facilities:
                    k += 1
                if opt is None:
                    continue
                self.withdraw(u)
                self.ptr[u] = k
                self.settle([u])
            pairs = _blocking(model, self.where)
            score = (len(pairs), -_placed(self.where))
            if score < best_score:
                best, best_score, idle = list(self.where), score, 0
            else:
                # the count is not monotone: a chain can raise it before it falls
                idle += 1
                if idle >= REPAIR_PATIENCE:
                    break
        return best, best_score


def _placed(where: Sequence[str | None]) -> int:
    return sum(1 for f in where if f is not None)


def _deferred_acceptance(model: _Model, unit_ranks: Sequence[int]) -> list[str | None]:
    """The DA outcome with these unit ranks."""
    return _DeferredAcceptance(model, unit_ranks).run()


# --- blocking pairs ----------------------------------------------------------------------------


class _Holders:
    """Per place: the sorted ranks of its holders, to count those ranked below a claimant."""

    def __init__(self, model: _Model, where: Sequence[str | None]) -> None:
        self.model = model
        self.where = where
        ranks: dict[Place, list[int]] = {}
        for i, f in enumerate(where):
            if f is not None:
                ranks.setdefault((f, model.apps[i].class_age), []).append(model.rank_at(i, f))
        for lst in ranks.values():
            lst.sort()
        self.ranks = ranks

    def room(self, place: Place, rank: int) -> tuple[int, int]:
        """(free places, holders ranked strictly below `rank`) at the place."""
        held = self.ranks.get(place, [])
        free = self.model.cap.get(place, 0) - len(held)
        below = len(held) - _bisect_right(held, rank)
        return free, below


def _bisect_right(values: list[int], x: int) -> int:
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if x < values[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _blocking(model: _Model, where: Sequence[str | None]) -> list[BlockingPair]:
    """Every blocking pair of the outcome, in O(applicants x wishes x log)."""
    holders = _Holders(model, where)
    apps = model.apps
    out: list[BlockingPair] = []
    for u, unit in enumerate(model.units):
        if unit.mode == "single":
            i = unit.members[0]
            cur = where[i]
            # a place it did not wish (an infeasible assignment given to us) counts as none
            stop = (
                model.wish_pos[i].get(cur, len(model.acceptable[i]))
                if cur is not None
                else len(model.acceptable[i])
            )
            c = apps[i].class_age
            for f in model.acceptable[i][:stop]:
                free, below = holders.room((f, c), model.rank_at(i, f))
                if free > 0 or below > 0:
                    reason = "empty_place" if free > 0 else "lower_priority"
                    out.append(BlockingPair((model.ids[i],), (f,), (c,), reason))
            continue
        out.extend(_group_blocking(model, holders, u))
    return out


def _group_blocking(model: _Model, holders: _Holders, u: int) -> list[BlockingPair]:
    """The blocking pairs of one group: its better options that have room for it."""
    unit = model.units[u]
    where = holders.where
    members = unit.members
    placed = all(where[i] in model.wish_pos[i] for i in members)
    current = model.option_key(u, tuple(str(where[i]) for i in members)) if placed else None
    # each member's individually possible facilities (its own seat, or room for one)
    possible: list[list[str]] = []
    for i in members:
        c = model.apps[i].class_age
        lst = []
        for f in model.acceptable[i]:
            if where[i] == f:
                lst.append(f)
                continue
            free, below = holders.room((f, c), unit.rank)
            if free > 0 or below > 0:
                lst.append(f)
        possible.append(lst)
    if unit.mode == "same_facility":
        common = [f for f in possible[0] if all(f in p for p in possible[1:])]
        candidates: Iterator[tuple[str, ...]] = ((f,) * len(members) for f in common)
    else:
        candidates = itertools.product(*possible)
    out = []
    ids = tuple(model.ids[i] for i in members)
    ages = tuple(model.apps[i].class_age for i in members)
    for option in candidates:
        if current is not None and model.option_key(u, option) >= current:
            continue
        need: dict[Place, int] = {}
        for i, f in zip(members, option, strict=True):
            if where[i] != f:
                need[(f, model.apps[i].class_age)] = need.get((f, model.apps[i].class_age), 0) + 1
        fits = True
        all_free = True
        for place, k in need.items():
            free, below = holders.room(place, unit.rank)
            if free + below < k:
                fits = False
                break
            if free < k:
                all_free = False
        if fits:
            reason = "empty_place" if all_free else "lower_priority"
            out.append(BlockingPair(ids, option, ages, reason))
    out.sort(key=lambda b: model.option_key(u, b.facilities))
    return out


def blocking_pairs(round: RoundInput, assignment: Mapping[str, str | None]) -> list[BlockingPair]:
    """The blocking pairs of an assignment (empty if and only if it is stable)."""
    validate(round)
    model = _Model(round)
    where = [assignment.get(i) for i in model.ids]
    return _blocking(model, where)


# --- candidates, local search, exact search ---------------------------------------------------


def _unit_rank_variants(model: _Model) -> list[tuple[str, list[int]]]:
    """Group priorities to try: the max (the definition), min, each member's, last.

    Ranks are scaled (2r + 2) so that a group moved to a member's priority (2r + 3) never ties
    with a single, and 1 can put a group before everyone but transferees at their own seats.
    """
    base = [2 * u.rank + 2 for u in model.units]
    variants: list[tuple[str, list[int]]] = [("max", base)]
    if not model.has_groups:
        return variants
    n = len(model.apps)
    groups = [u for u, unit in enumerate(model.units) if unit.mode != "single"]
    width = max(len(model.units[u].members) for u in groups)
    names = ["min"] + [f"member{k}" for k in range(width)] + ["last"]
    for name in names:
        ranks = list(base)
        for u in groups:
            own = [model.own_rank[i] for i in model.units[u].members]
            if name == "last":
                ranks[u] = 2 * n + base[u] + 1
            elif name == "min":
                ranks[u] = 2 * max(own) + 3
            else:
                ranks[u] = 2 * own[min(int(name[6:]), len(own) - 1)] + 3
        variants.append((name, ranks))
    return variants


def _group_rank_choices(model: _Model, u: int) -> list[int]:
    """The scaled ranks the local search tries for group u."""
    n = len(model.apps)
    own = sorted({model.own_rank[i] for i in model.units[u].members})
    return [2 * r + 3 for r in own] + [2 * n + 2 * model.units[u].rank + 3, 1]


def _score(model: _Model, where: Sequence[str | None]) -> tuple[int, int]:
    """Fewer blocking pairs first, then more children placed."""
    placed = sum(1 for f in where if f is not None)
    return (len(_blocking(model, where)), -placed)


def _local_search(
    model: _Model, best: list[str | None], best_ranks: list[int], runs: int
) -> tuple[list[str | None], bool]:
    """Move single groups involved in blocking pairs to other priorities; keep improvements."""
    best_score = _score(model, best)
    improved = False
    tried: set[tuple[int, int]] = set()
    for _ in range(LOCAL_SEARCH_ITERATIONS):
        if best_score[0] == 0 or runs <= 0:
            break
        pairs = _blocking(model, best)
        involved: list[int] = []
        for b in pairs:
            u = model.unit_of[model.index[b.applicants[0]]]
            if model.units[u].mode != "single" and u not in involved:
                involved.append(u)
        # groups that hold places the blocking units want are also worth moving
        wanted = {(f, c) for b in pairs for f, c in zip(b.facilities, b.class_ages, strict=True)}
        for i, f in enumerate(best):
            u = model.unit_of[i]
            if (
                f is not None
                and (f, model.apps[i].class_age) in wanted
                and u not in involved
                and model.units[u].mode != "single"
            ):
                involved.append(u)
        step = False
        for u in involved:
            for r in _group_rank_choices(model, u):
                if (u, r) in tried or r == best_ranks[u]:
                    continue
                tried.add((u, r))
                ranks = list(best_ranks)
                ranks[u] = r
                da = _DeferredAcceptance(model, ranks)
                da.run()
                # at scale a repair per candidate would overrun the 10 s budget of a round
                where = da.repair()[0] if len(model.apps) <= REPAIR_IN_SEARCH_MAX else da.where
                score = _score(model, where)
                if score < best_score:
                    best, best_ranks, best_score, step, improved = where, ranks, score, True, True
                    break
                runs -= 1
                if runs <= 0:
                    break
            if step or runs <= 0:
                break
        if not step:
            break
    return best, improved


def _exact(model: _Model, start: list[str | None]) -> list[str | None] | None:
    """The feasible outcome with the fewest blocking pairs, by enumeration (small rounds)."""
    unit_options: list[list[tuple[str, ...] | None]] = []
    space = 1
    for u in range(len(model.units)):
        opts: list[tuple[str, ...] | None] = list(model.options(u))
        if model.apps[model.units[u].members[0]].current is None:
            opts.append(None)  # a transferee is never left without a place (guarantee 5)
        unit_options.append(opts)
        space *= len(opts)
        if space > EXACT_MAX_SPACE:
            return None
    best = list(start)
    best_score = _score(model, best)
    where: list[str | None] = [None] * len(model.apps)
    used: dict[Place, int] = {}

    def search(u: int) -> None:
        nonlocal best, best_score
        if u == len(model.units):
            score = _score(model, where)
            if score < best_score:
                best, best_score = list(where), score
            return
        members = model.units[u].members
        for option in unit_options[u]:
            if option is None:
                search(u + 1)
                continue
            places = [(f, model.apps[i].class_age) for i, f in zip(members, option, strict=True)]
            if any(used.get(p, 0) + places.count(p) > model.cap.get(p, 0) for p in places):
                continue
            for i, p in zip(members, places, strict=True):
                where[i] = p[0]
                used[p] = used.get(p, 0) + 1
            search(u + 1)
            for i, p in zip(members, places, strict=True):
                where[i] = None
                used[p] -= 1

    search(0)
    return best


def _solve(model: _Model) -> tuple[list[str | None], str]:
    """The outcome and the method that found it."""
    runs = max(2, SEARCH_WORK // max(1, len(model.apps)))
    variants = _unit_rank_variants(model)
    base = variants[0][1]
    da = _DeferredAcceptance(model, base)
    where = list(da.run())
    if not model.has_groups:
        return where, "deferred_acceptance"
    best, best_ranks, method = where, base, "da_groups"
    best_score = _score(model, where)
    if best_score[0] == 0:
        return best, method
    if len(model.apps) <= EXACT_MAX_APPLICANTS:
        exact = _exact(model, best)
        if exact is not None:
            return exact, "exact_search"
    repaired, score = da.repair()
    if score < best_score:
        best, best_score, method = repaired, score, "repair"
    # the variants pay off on small rounds; at scale the budget goes to the local search
    for _name, ranks in variants[1:] if runs >= 2 * len(variants) else []:
        if best_score[0] == 0:
            break
        runs -= 1
        cand = _deferred_acceptance(model, ranks)
        score = _score(model, cand)
        if score < best_score:
            best, best_ranks, best_score, method = cand, ranks, score, "da_groups"
    if best_score[0] > 0 and runs > 0:
        best, improved = _local_search(model, best, best_ranks, runs)
        if improved:
            method = "local_search"
    return best, method


# --- explanations -------------------------------------------------------------------------------


def _cutoffs(model: _Model, where: Sequence[str | None]) -> dict[Place, tuple[float, ...] | None]:
    """Per place: the priority (with the lottery) of the lowest admitted on priority."""
    lowest: dict[Place, tuple[int, int]] = {}
    for place in model.cap:
        lowest.setdefault(place, (-2, -1))
    for i, f in enumerate(where):
        if f is None:
            continue
        place = (f, model.apps[i].class_age)
        r = model.rank_at(i, f)
        if r == TOP:
            continue
        if r > lowest[place][0]:
            lowest[place] = (r, i)
    out: dict[Place, tuple[float, ...] | None] = {}
    for place, (_r, i) in sorted(lowest.items()):
        out[place] = None if i < 0 else _unit_key(model, model.unit_of[i])
    return out


def _unit_key(model: _Model, u: int) -> tuple[float, ...]:
    """The priority (with the lottery) a unit claims at: its best member's."""
    return max(model.key[i] for i in model.units[u].members)


def _extra_points(mine: tuple[float, ...], cutoff: tuple[float, ...]) -> float:
    """The fewest extra points that beat `cutoff` (step 1; +1 where ties would be lost)."""
    gap = cutoff[0] - mine[0]
    wins_tie = mine[1:] > cutoff[1:]
    if gap < 0:
        return 0
    extra = gap if wins_tie else gap + 1
    return _num(float(extra))


def _explain(
    model: _Model, where: Sequence[str | None], labels: tuple[tuple[str, str], ...]
) -> dict[str, Explanation]:
    holders = _Holders(model, where)
    lowest_holder: dict[Place, int] = {}  # the lowest-ranked holder that is not a transferee
    transfer_only: dict[Place, bool] = {}
    for i, f in enumerate(where):
        if f is None:
            continue
        place = (f, model.apps[i].class_age)
        r = model.rank_at(i, f)
        if r == TOP:
            transfer_only.setdefault(place, True)
            continue
        transfer_only[place] = False
        j = lowest_holder.get(place)
        if j is None or r > model.rank_at(j, f):
            lowest_holder[place] = i
    out: dict[str, Explanation] = {}
    for i, a in enumerate(model.apps):
        u = model.unit_of[i]
        unit = model.units[u]
        mine = _unit_key(model, u)
        result = where[i]
        wish = a.wishes.index(result) + 1 if result in a.wishes else None
        kept = result is not None and result == a.current
        stop = a.wishes.index(result) if result in a.wishes else len(a.wishes)
        if a.current is not None and a.current in a.wishes:
            stop = min(stop, a.wishes.index(a.current))
        reasons: list[WishReason] = []
        extra: float | None = None
        extra_wish: int | None = None
        for k, f in enumerate(a.wishes[:stop]):
            place = (f, a.class_age)
            reason = _why_not(
                model, holders, lowest_holder, transfer_only, i, unit, place, mine, labels, k + 1
            )
            reasons.append(reason)
            # The what-if names the best wish that points could have won (a wish without the
            # class cannot be won by any points).
            if extra is None and reason.code in ("lost_points", "lost_tiebreak"):
                j = lowest_holder[place]
                extra = _extra_points(mine, _unit_key(model, model.unit_of[j]))
                extra_wish = k + 1
        out[a.id] = Explanation(
            applicant=a.id,
            facility=result,
            wish=wish,
            kept_current=kept,
            reasons=tuple(reasons),
            extra_points=extra,
            what_if_wish=extra_wish,
        )
    return out


def _why_not(
    model: _Model,
    holders: _Holders,
    lowest_holder: Mapping[Place, int],
    transfer_only: Mapping[Place, bool],
    i: int,
    unit: _Unit,
    place: Place,
    mine: tuple[float, ...],
    labels: tuple[tuple[str, str], ...],
    wish: int,
) -> WishReason:
    f = place[0]
    if model.cap.get(place, 0) == 0:
        return WishReason(wish, f, "no_class")
    free, below = holders.room(place, model.rank_at(i, f))
    if free > 0 or below > 0:
        # open to this child alone: only the sibling constraint (or an unresolved blocking pair)
        return WishReason(wish, f, "group" if unit.mode != "single" else "blocked")
    if transfer_only.get(place, False) or place not in lowest_holder:
        return WishReason(wish, f, "transfer_seat")
    cutoff = _unit_key(model, model.unit_of[lowest_holder[place]])
    cut_p, my_p = _num(cutoff[0]), _num(mine[0])
    if cutoff[0] != mine[0]:
        return WishReason(wish, f, "lost_points", cut_p, my_p)
    k = next((k for k in range(1, len(cutoff)) if cutoff[k] != mine[k]), len(cutoff) - 1)
    # labels name the priority items from the points (item 0); the lottery is the last item
    if k == len(cutoff) - 1:
        label = LOTTERY_LABEL
    elif k < len(labels):
        label = labels[k]
    else:
        label = (f"項目{k}", f"item {k}")
    return WishReason(wish, f, "lost_tiebreak", cut_p, my_p, k, label)


# --- the round ----------------------------------------------------------------------------------


def allocate(round: RoundInput) -> Outcome:
    """Decide a round: who is placed where, whether it is stable, and why (see the docstring)."""
    validate(round)
    model = _Model(round)
    where, method = _solve(model)
    blocking = _blocking(model, where)
    assignment = model.assignment_of(where)
    wish_rank = {
        a.id: (a.wishes.index(where[i]) + 1 if where[i] in a.wishes else None)  # type: ignore[arg-type]
        for i, a in enumerate(model.apps)
    }
    labels = tuple(round.priority_labels)
    return Outcome(
        assignment=assignment,
        wish_rank=wish_rank,
        stable=not blocking,
        blocking=blocking,
        explanations=_explain(model, where, labels),
        input_hash=input_hash(round),
        cutoffs=_cutoffs(model, where),
        lottery={a.id: model.lottery[i] for i, a in enumerate(model.apps)},
        method=method,
        labels=labels + (LOTTERY_LABEL,),
    )


# --- words for a parent -------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    if x is None:
        return "?"
    return str(_num(float(x)))


def describe(explanation: Explanation, lang: str, names: Mapping[str, str] | None = None) -> str:
    """The explanation in words for a parent: lang "ja" or "en"."""
    if lang not in ("ja", "en"):
        raise ValueError(f"unknown language: {lang}")
    name: Callable[[str], str] = (lambda f: names.get(f, f)) if names else (lambda f: f)
    ja = lang == "ja"
    parts: list[str] = []
    e = explanation
    if e.facility is None:
        parts.append("内定に至りませんでした（保留）" if ja else "not placed")
    elif e.kept_current and e.wish is None:
        parts.append(
            f"現在の{name(e.facility)}での在園が継続となります"
            if ja
            else f"you keep your current place at {name(e.facility)}"
        )
    elif ja:
        parts.append(f"第{e.wish}希望の{name(e.facility)}に内定しました")
    else:
        parts.append(f"placed at wish {e.wish} ({name(e.facility)})")
    details = [_reason_words(r, ja, name) for r in e.reasons]
    if ja:
        text = "。".join(parts + details) + "。"
        if e.extra_points is not None:
            text += f"あと{_fmt(e.extra_points)}点あれば第{e.what_if_wish}希望に内定していました。"
        return text
    text = parts[0][:1].upper() + parts[0][1:]  # a sentence a parent reads
    if details:
        text += ": " + "; ".join(details)
    text += "."
    if e.extra_points is not None:
        pts = _fmt(e.extra_points)
        unit = "point" if pts == "1" else "points"
        text += f" With {pts} more {unit} you would have had wish {e.what_if_wish}."
    return text


def _reason_words(r: WishReason, ja: bool, name: Callable[[str], str]) -> str:
    f = name(r.facility)
    if ja:
        head = f"第{r.wish}希望の{f}は"
        return head + {
            "no_class": "この年齢のクラスの募集がありませんでした",
            "lost_points": f"最低{_fmt(r.cutoff_points)}点で定員に達しました"
            f"（あなたは{_fmt(r.your_points)}点）",
            "lost_tiebreak": f"{_fmt(r.cutoff_points)}点の同点となり、"
            f"優先順位の第{r.item}項目（{r.item_label[0] if r.item_label else ''}）で"
            "順位が下回りました",
            "group": "きょうだいの同時入所の条件のため内定できませんでした",
            "transfer_seat": "在園児の転園枠のみでした",
            "blocked": "空きがありましたが調整の結果内定に至りませんでした",
        }.get(r.code, r.code)
    head = f"wish {r.wish} ({f})"
    return head + {
        "no_class": " has no places in this class",
        "lost_points": f" filled at {_fmt(r.cutoff_points)} points, you had {_fmt(r.your_points)}",
        "lost_tiebreak": f" filled to a tie at {_fmt(r.cutoff_points)}, lost on tie-break item "
        f"{r.item}" + (f" ({r.item_label[1]})" if r.item_label else ""),
        "group": " was not possible together with your siblings",
        "transfer_seat": " had only the seat of a child already enrolled there (transfer)",
        "blocked": " had room but was not assigned in the round's adjustment",
    }.get(r.code, r.code)
