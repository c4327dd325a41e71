"""Allocating and confirming a round through the API, as a municipality does it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from integrations.daycare import applications as apps
from integrations.daycare.models import Application, IntakeRound, Vacancy
from integrations.daycare.points import save_rules
from notifier.models import Notice
from registry.db import transaction
from registry.models import Family
from rules.points import ApplicationFacts, PointsDocument
from tests.integrations.daycare.daycare_factories import facility, insert

MUNI = "132012"  # Hachioji
ENTRY = date(2027, 4, 1)
NOW = datetime.now(UTC)

RULES = PointsDocument.model_validate(
    {
        "municipality": MUNI,
        "title": "テスト基準",
        "source_url": "https://example.org/kijun",
        "valid_from": "2026-04-01",
        "base": {
            "work": [
                {"min_hours": 40, "points": 10},
                {"min_hours": 30, "points": 8},
                {"min_hours": 0, "points": 6},
            ],
            "pregnancy": [{"points": 10}],
        },
        "absent_guardian_points": 10,
        "adjustments": [
            {
                "id": "single",
                "label_ja": "ひとり親世帯",
                "label_en": "Single parent",
                "points": 5,
                "condition": "single_parent",
            }
        ],
        "tie_breaks": [
            {
                "id": "single_first",
                "label_ja": "ひとり親世帯",
                "label_en": "Single-parent household",
                "expression": "single_parent",
            }
        ],
    }
)


def _facts(hours: tuple[float, float] | None = None, single: bool = False, **more: Any) -> Any:
    if single:
        guardians = [
            {"relation": "mother", "reason": "work", "hours_per_week": 40},
            {"relation": "father", "reason": "absent"},
        ]
    else:
        a, b = hours or (40, 40)
        guardians = [
            {"relation": "mother", "reason": "work", "hours_per_week": a},
            {"relation": "father", "reason": "work", "hours_per_week": b},
        ]
    return ApplicationFacts.model_validate(
        {"guardians": guardians, "single_parent": single, **more}
    )


async def _round(sessions: Any, places: dict[str, int], rules: bool = True) -> dict[str, Any]:
    """Facilities A, B, C (1-year class places as given), a round and the rules."""
    made = await insert(
        sessions,
        *(facility(municipality=MUNI, facility_id=k, name_ja=f"{k}保育園") for k in places),
    )
    by_key = {f.facility_id: f for f in made}
    await insert(
        sessions,
        *(
            Vacancy(facility_pk=by_key[k].id, class_age=1, entry_month=ENTRY, places=n)
            for k, n in places.items()
        ),
    )
    (round_,) = await insert(
        sessions,
        IntakeRound(
            municipality=MUNI,
            name="令和9年4月 一次",
            entry_month=ENTRY,
            deadline=NOW + timedelta(days=10),
            seed="published-seed",
        ),
    )
    if rules:
        async with transaction(sessions) as session:
            await save_rules(session, RULES, "test")
    return {"round": round_, "facilities": by_key}


async def _apply(sessions: Any, setup: dict[str, Any], wishes: list[str], facts: Any) -> int:
    (family,) = await insert(
        sessions, Family(state="active", municipality=MUNI, line_user_id=None)
    )
    async with transaction(sessions) as session:
        application, _ = await apps.submit(
            session,
            round_=setup["round"],
            family_id=family.id,
            child_id=None,
            birth_date=date(2025, 6, 10),  # 1-year class in April 2027
            wishes=[setup["facilities"][w].id for w in wishes],
            facts=facts,
            now=NOW,
            channel="api",
        )
    assert application.id is not None
    return application.id


async def test_dry_run_then_confirm_decides_and_tells_each_family_once(
    client: Any, sessions: Any, make_key: Any
) -> None:
    setup = await _round(sessions, {"A": 1, "B": 1})
    high = await _apply(sessions, setup, ["A", "B"], _facts((40, 40)))  # 20
    single = await _apply(sessions, setup, ["A", "B"], _facts(single=True))  # 10+10+5 = 25
    low = await _apply(sessions, setup, ["A"], _facts((30, 30)))  # 16
    headers = await make_key(MUNI)
    url = f"/api/v1/daycare/rounds/{setup['round'].id}"

    dry = await client.post(f"{url}/allocate", json={}, headers=headers)
    assert dry.status == 200, await dry.text()
    body = await dry.json()
    assert body["dry_run"] is True and body["stable"] is True
    assert len(body["input_hash"]) == 64 and body["seed"] == "published-seed"
    results = {r["application_id"]: r for r in body["results"]}
    assert results[single]["facility"] == "A" and results[single]["wish_rank"] == 1
    assert results[high]["facility"] == "B" and results[high]["wish_rank"] == 2
    assert results[low]["facility"] is None
    assert "25" in results[high]["explanation_en"] and "20" in results[high]["explanation_en"]
    assert results[high]["explanation_en"].startswith("Placed at wish 2 (Test Nursery")
    # Only filled classes carry a cutoff: A's lowest admitted had 25 points, B's 20.
    assert [(c["facility"], c["priority"][0]) for c in body["cutoffs"]] == [("A", 25), ("B", 20)]
    assert (
        "第1希望" in results[high]["explanation_ja"] or "希望" in results[high]["explanation_ja"]
    )
    # A dry run decides nothing.
    async with sessions() as session:
        statuses = {a.id: a.status for a in (await session.exec(select(Application))).all()}
    assert set(statuses.values()) == {"received"}

    again = await client.post(f"{url}/allocate", json={"dry_run": True}, headers=headers)
    assert (await again.json())["input_hash"] == body["input_hash"]  # deterministic

    early = await client.post(
        f"{url}/confirm", json={"input_hash": body["input_hash"]}, headers=headers
    )
    assert early.status == 409 and (await early.json())["error"]["code"] == "round_open"
    closed = await client.patch(url, json={"status": "closed"}, headers=headers)
    assert closed.status == 200, await closed.text()
    ok = await client.post(
        f"{url}/confirm", json={"input_hash": body["input_hash"]}, headers=headers
    )
    assert ok.status == 200, await ok.text()
    confirmed = await ok.json()
    assert confirmed["notices"] == 3
    async with sessions() as session:
        rows = {a.id: a for a in (await session.exec(select(Application))).all()}
        notices = (
            await session.exec(select(Notice).where(col(Notice.kind) == "daycare-result"))
        ).all()
        places_left = {
            v.facility_pk: v.places for v in (await session.exec(select(Vacancy))).all()
        }
    assert rows[single].status == "offered" and rows[high].status == "offered"
    assert rows[low].status == "waitlisted"
    assert rows[high].result["wish_rank"] == 2 and rows[high].result["explanation_ja"]
    assert sorted(n.payload["status"] for n in notices) == ["offered", "offered", "waitlisted"]
    titles = sorted(n.payload["title"]["ja"] for n in notices)
    assert titles[0] == "保育園の内定のお知らせ（A保育園）"
    assert "保留" in titles[-1]
    assert set(places_left.values()) == {0}

    twice = await client.post(
        f"{url}/confirm", json={"input_hash": body["input_hash"]}, headers=headers
    )
    assert twice.status == 409 and (await twice.json())["error"]["code"] == "already_confirmed"
    async with sessions() as session:
        count = len(
            (await session.exec(select(Notice).where(col(Notice.kind) == "daycare-result"))).all()
        )
    assert count == 3


async def test_confirm_refuses_when_applications_changed_since_the_dry_run(
    client: Any, sessions: Any, make_key: Any
) -> None:
    setup = await _round(sessions, {"A": 1})
    await _apply(sessions, setup, ["A"], _facts())
    headers = await make_key(MUNI)
    url = f"/api/v1/daycare/rounds/{setup['round'].id}"
    dry = await (await client.post(f"{url}/allocate", json={}, headers=headers)).json()
    await _apply(sessions, setup, ["A"], _facts(single=True))
    await client.patch(url, json={"status": "closed"}, headers=headers)
    late = await client.post(
        f"{url}/confirm", json={"input_hash": dry["input_hash"]}, headers=headers
    )
    assert late.status == 409
    assert (await late.json())["error"]["code"] == "inputs_changed"


async def test_without_rules_or_with_another_key_nothing_is_allocated(
    client: Any, sessions: Any, make_key: Any
) -> None:
    setup = await _round(sessions, {"A": 1}, rules=False)
    url = f"/api/v1/daycare/rounds/{setup['round'].id}/allocate"
    other = await client.post(url, json={}, headers=await make_key("131016"))
    assert other.status == 404
    none = await client.post(url, json={}, headers=await make_key(MUNI))
    assert none.status == 409 and (await none.json())["error"]["code"] == "no_rules"
    anonymous = await client.post(url, json={})
    assert anonymous.status == 401


async def test_places_given_with_the_request_replace_the_vacancies(
    client: Any, sessions: Any, make_key: Any
) -> None:
    setup = await _round(sessions, {"A": 0})
    first = await _apply(sessions, setup, ["A"], _facts())
    url = f"/api/v1/daycare/rounds/{setup['round'].id}/allocate"
    headers = await make_key(MUNI)
    none = await (await client.post(url, json={}, headers=headers)).json()
    assert none["placed"] == 0
    given = await client.post(
        url, json={"places": [{"facility_id": "A", "class_age": 1, "places": 2}]}, headers=headers
    )
    body = await given.json()
    assert body["placed"] == 1 and body["results"][0]["application_id"] == first
    bad = await client.post(
        url, json={"places": [{"facility_id": "ZZ", "class_age": 1, "places": 2}]}, headers=headers
    )
    assert bad.status == 422
    twice = [{"facility_id": "A", "class_age": 1, "places": n} for n in (1, 2)]
    doubled = await client.post(url, json={"places": twice}, headers=headers)
    assert doubled.status == 422
    assert (await doubled.json())["error"]["code"] == "duplicate_places"


async def test_siblings_both_or_neither_are_placed_together_or_not_at_all(
    client: Any, sessions: Any, make_key: Any
) -> None:
    setup = await _round(sessions, {"A": 1, "B": 0})
    (family,) = await insert(sessions, Family(state="active", municipality=MUNI))
    facts = _facts(siblings_applying=1, sibling_mode="both_or_neither")
    ids = []
    async with transaction(sessions) as session:
        for child, born in ((1, date(2025, 6, 10)), (2, date(2025, 5, 1))):
            application, _ = await apps.submit(
                session,
                round_=setup["round"],
                family_id=family.id,
                child_id=child,
                birth_date=born,
                wishes=[setup["facilities"]["A"].id],
                facts=facts,
                now=NOW,
            )
            ids.append(application.id)
    alone = await _apply(sessions, setup, ["A"], _facts((30, 30)))
    url = f"/api/v1/daycare/rounds/{setup['round'].id}/allocate"
    body = await (await client.post(url, json={}, headers=await make_key(MUNI))).json()
    results = {r["application_id"]: r for r in body["results"]}
    # Only one place for two twins-in-class: neither is placed, the lower-points child is.
    assert results[ids[0]]["facility"] is None and results[ids[1]]["facility"] is None
    assert results[alone]["facility"] == "A"


async def _last_year(sessions: Any, applications: int) -> None:
    (family,) = await insert(sessions, Family(state="active", municipality=MUNI))
    (earlier,) = await insert(
        sessions,
        IntakeRound(
            municipality=MUNI,
            entry_month=date(2026, 4, 1),
            deadline=NOW - timedelta(days=300),
            status="confirmed",
        ),
    )
    await insert(
        sessions,
        *(
            Application(
                round_id=earlier.id,
                municipality=MUNI,
                family_id=family.id,
                child_id=n,
                child_birth_date=date(2024, 6, 1),
                class_age=1,
                status="offered" if n % 2 else "waitlisted",
            )
            for n in range(applications)
        ),
    )


async def test_odds_rise_with_points_and_are_not_shown_without_data(
    client: Any, sessions: Any
) -> None:
    setup = await _round(sessions, {"A": 3, "B": 3})
    url = f"/api/v1/daycare/rounds/{setup['round'].id}/odds"
    wishes = [setup["facilities"]["A"].id, setup["facilities"]["B"].id]
    ask = {"class_age": 1, "wishes": wishes, "facts": _facts((40, 40)).model_dump(mode="json")}
    for _ in range(4):
        await _apply(sessions, setup, ["A", "B"], _facts((40, 40)))
    no_history = await (await client.post(url, json=ask)).json()
    assert no_history == {**no_history, "shown": False, "reason": "no_last_year"}
    await _last_year(sessions, 30)
    too_few = await (await client.post(url, json=ask)).json()
    assert too_few["shown"] is False and too_few["reason"] == "too_few"
    for n in range(12):
        await _apply(sessions, setup, ["A", "B"], _facts((40, 30 + n % 2 * 10)))
    strong = await (
        await client.post(url, json={**ask, "facts": _facts(single=True).model_dump(mode="json")})
    ).json()
    weak_facts = _facts((20, 20)).model_dump(mode="json")
    weak = await (await client.post(url, json={**ask, "facts": weak_facts})).json()
    assert strong["shown"] and weak["shown"]
    assert strong["applications_so_far"] == 16 and strong["expected_total"] == 30
    # Six places, 16 in already and about 14 to come: the top points are sure, the lowest not.
    assert strong["any_place"]["chance"] > 0.95
    assert weak["any_place"]["chance"] < 0.2
    assert weak["any_place"]["low"] <= weak["any_place"]["chance"] <= weak["any_place"]["high"]
    other = await client.post(url, json={**ask, "wishes": [999_999]})
    assert other.status == 422
    # The municipality's facility ids (as applications take them) say the same.
    by_key = await (await client.post(url, json={**ask, "wishes": ["A", "B"]})).json()
    assert by_key["shown"] and [w["facility"] for w in by_key["wishes"]] == ["A", "B"]
