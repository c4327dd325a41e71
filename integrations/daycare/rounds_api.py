"""Allocation of an intake round over `/api/v1` (municipality key of the round's municipality).

- `POST /api/v1/daycare/rounds/{id}/allocate`: a dry run by default — allocate and answer the
  outcome (each application's place or none, with its explanation in Japanese and English, the
  cutoffs, blocking pairs if no stable outcome exists, the input hash and the lottery seed);
  nothing is decided. `{"dry_run": false, "input_hash": …}` confirms, like `…/confirm`.
- `POST /api/v1/daycare/rounds/{id}/confirm` `{"input_hash": …}`: the dry run staff checked
  becomes the decision: 内定/保留 are written and every family is told (once).
- `GET /api/v1/daycare/rounds/{id}/allocation`: the last run kept on the round.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import select

from integrations.daycare.models import Facility, IntakeRound
from integrations.daycare.odds import Odds, estimate_odds
from integrations.daycare.rounds import RoundError, allocate_round, confirm_round
from registry.api import require_key
from registry.auth import can_manage
from registry.db import transaction
from registry.http import (
    CLOCK,
    MAX_ID,
    SESSIONS,
    ApiError,
    RouteTable,
    json_model,
    path_int,
    read_json,
)
from registry.models import ApiKey
from rules.points import ApplicationFacts

routes = RouteTable()

MAX_PLACES = 20_000


class PlacesIn(BaseModel):
    """Places open in one class of one facility for this round (instead of the vacancies)."""

    model_config = ConfigDict(extra="forbid")

    facility_id: str = Field(min_length=1, max_length=64, description="the municipality's id")
    class_age: int = Field(ge=0, le=5)
    places: int = Field(ge=0, le=1000)


class AllocateIn(BaseModel):
    """How to allocate: a dry run (default) or the confirmation of a checked dry run."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(default=True, description="false (with input_hash) confirms")
    input_hash: str | None = Field(
        default=None,
        max_length=64,
        description="the input hash of the dry run being confirmed (dry_run false)",
    )
    places: list[PlacesIn] | None = Field(
        default=None,
        max_length=MAX_PLACES,
        description="places per facility and class; default: the vacancies published for the "
        "round's month of entry",
    )


class ConfirmIn(BaseModel):
    """The dry run to confirm, named by its input hash."""

    model_config = ConfigDict(extra="forbid")

    input_hash: str = Field(min_length=64, max_length=64)


class ApplicationResult(BaseModel):
    """One application's outcome in a run."""

    application_id: int
    class_age: int
    points: float
    priority: list[float] = Field(description="points, then each tie-break value, then lottery")
    facility: str | None = Field(description="the facility id placed at, or null")
    facility_name: str | None
    wish_rank: int | None = Field(description="1 = first wish")
    lottery: int | None
    explanation_ja: str
    explanation_en: str


class RoundAllocation(BaseModel):
    """An allocation run: what went in (hash, seed, rules), what came out, and why."""

    round_id: int
    dry_run: bool
    at: str
    input_hash: str = Field(description="sha256 of the inputs: the same inputs, the same hash")
    seed: str = Field(description="the published lottery seed")
    rules: dict[str, Any]
    applications: int
    placed: int
    not_placed: int
    stable: bool = Field(
        description="false when sibling constraints leave no stable outcome: then the "
        "outcome with the fewest blocking pairs is given and they are listed"
    )
    blocking_pairs: list[dict[str, Any]]
    cutoffs: list[dict[str, Any]]
    warnings: list[str]
    results: list[ApplicationResult]
    notices: int | None = Field(default=None, description="result notices recorded (confirm)")


async def _round(
    session: Any, request: web.Request, key: ApiKey, *, lock: bool = False
) -> IntakeRound:
    round_id = path_int(request, "id")
    # Allocating and confirming lock the round: two confirmations at once would both decide it
    # (and take its places from the vacancies twice); the second must see it confirmed.
    found = await session.get(IntakeRound, round_id, with_for_update=lock)
    if found is None or not can_manage(key, found.municipality):
        # Another municipality's round is not there for this key.
        raise ApiError(404, "not_found", f"no round {round_id}")
    return found


def _round_error(exc: RoundError) -> ApiError:
    status = {
        "no_rules": 409,
        "already_confirmed": 409,
        "no_dry_run": 409,
        "round_open": 409,
        "inputs_changed": 409,
        "invalid_applications": 422,
        "unknown_facility": 422,
    }.get(exc.code, 422)
    return ApiError(status, exc.code, exc.message, exc.details)


async def _confirm(request: web.Request, key: ApiKey, input_hash: str | None) -> web.Response:
    if not input_hash:
        raise ApiError(
            422,
            "input_hash_required",
            "confirming needs the input_hash of the dry run you checked",
            [{"location": "body.input_hash", "reason": "required when dry_run is false"}],
        )
    async with transaction(request.app[SESSIONS]) as session:
        round_ = await _round(session, request, key, lock=True)
        try:
            summary = await confirm_round(
                session,
                round_,
                input_hash=input_hash,
                now=request.app[CLOCK](),
                actor=f"staff:{key.prefix}",
            )
        except RoundError as exc:
            raise _round_error(exc) from None
    return json_model(RoundAllocation.model_validate(summary))


@routes.add(
    "POST",
    "/api/v1/daycare/rounds/{id}/allocate",
    summary="Allocate a round's places (dry run by default; dry_run false confirms)",
    tag="daycare",
    body=AllocateIn,
    responses={200: RoundAllocation},
    auth="required",
)
async def allocate(request: web.Request) -> web.Response:
    """Allocate the round: a dry run, or the confirmation of one."""
    key = require_key(request)
    data: AllocateIn = await read_json(request, AllocateIn)
    if not data.dry_run:
        return await _confirm(request, key, data.input_hash)
    places = (
        [(p.facility_id, p.class_age, p.places) for p in data.places]
        if data.places is not None
        else None
    )
    async with transaction(request.app[SESSIONS]) as session:
        round_ = await _round(session, request, key, lock=True)
        try:
            summary = await allocate_round(
                session, round_, now=request.app[CLOCK](), places=places
            )
        except RoundError as exc:
            raise _round_error(exc) from None
    return json_model(RoundAllocation.model_validate(summary))


@routes.add(
    "POST",
    "/api/v1/daycare/rounds/{id}/confirm",
    summary="Confirm a checked dry run: write 内定/保留 and tell every family",
    tag="daycare",
    body=ConfirmIn,
    responses={200: RoundAllocation},
    auth="required",
)
async def confirm(request: web.Request) -> web.Response:
    """Confirm the round's dry run named by its input hash."""
    key = require_key(request)
    data: ConfirmIn = await read_json(request, ConfirmIn)
    return await _confirm(request, key, data.input_hash)


@routes.add(
    "GET",
    "/api/v1/daycare/rounds/{id}/allocation",
    summary="The last allocation run of a round (dry run or confirmed)",
    tag="daycare",
    responses={200: RoundAllocation},
    auth="required",
)
async def last_allocation(request: web.Request) -> web.Response:
    """The round's last run."""
    key = require_key(request)
    async with request.app[SESSIONS]() as session:
        round_ = await _round(session, request, key)
    if not round_.allocation:
        raise ApiError(404, "not_found", f"round {round_.id} has not been allocated yet")
    kept = {k: v for k, v in round_.allocation.items() if k != "places"}
    return json_model(RoundAllocation.model_validate(kept))


class OddsIn(BaseModel):
    """A family's (hypothetical) application: its child's class, wishes and facts."""

    model_config = ConfigDict(extra="forbid")

    class_age: int = Field(ge=0, le=5, description="the child's class age at entry")
    wishes: list[Annotated[int, Field(ge=1, le=MAX_ID)] | Annotated[str, Field(max_length=64)]] = (
        Field(
            min_length=1,
            max_length=20,
            description="wished facilities, best first: the search's `id` (a number) or the "
            "municipality's `facility_id` (a string, as applications take them)",
        )
    )
    facts: ApplicationFacts


class WishOddsOut(BaseModel):
    """The chance of a place at one wished facility (or anywhere: facility `*`)."""

    facility: str
    chance: float = Field(description="0-1, last year's volume ±20 % drawn at random")
    low: float = Field(description="the chance with 120 % of last year's volume")
    high: float = Field(description="the chance with 80 % of last year's volume")


class OddsOut(BaseModel):
    """Admission odds, or why none are shown (`reason`: no_last_year, too_few, no_rules)."""

    shown: bool
    reason: str
    applications_so_far: int
    expected_total: int
    any_place: WishOddsOut | None
    wishes: list[WishOddsOut]
    simulations: int = Field(description="how many simulated rounds the chances come from")


@routes.add(
    "POST",
    "/api/v1/daycare/rounds/{id}/odds",
    summary="Admission odds of a family's wishes in an open round (estimates; no key)",
    tag="daycare",
    body=OddsIn,
    responses={200: OddsOut},
    auth="none",
)
async def odds(request: web.Request) -> web.Response:
    """Simulate the rest of the round and answer the chance of each wish."""
    data: OddsIn = await read_json(request, OddsIn)
    round_id = path_int(request, "id")
    async with request.app[SESSIONS]() as session:
        round_ = await session.get(IntakeRound, round_id)
        if round_ is None:
            raise ApiError(404, "not_found", f"no round {round_id}")
        rows = (
            await session.exec(
                select(Facility).where(Facility.municipality == round_.municipality)
            )
        ).all()
        by_pk = {f.id: f.facility_id for f in rows}
        keys = set(by_pk.values())
        wished: list[str] = []
        for index, wish in enumerate(data.wishes):
            key = by_pk.get(wish) if isinstance(wish, int) else (wish if wish in keys else None)
            if key is None:
                raise ApiError(
                    422,
                    "unknown_facility",
                    f"facility {wish!r} is not a facility of {round_.municipality}",
                    [{"location": f"body.wishes.{index}", "reason": "not in this municipality"}],
                )
            wished.append(key)
        try:
            answer = await estimate_odds(
                session,
                round_,
                class_age=data.class_age,
                wishes=wished,
                facts=data.facts,
            )
        except RoundError as exc:
            if exc.code == "no_rules":
                answer = Odds(False, "no_rules")
            else:
                raise _round_error(exc) from None
    return json_model(OddsOut.model_validate(answer.to_json()))
