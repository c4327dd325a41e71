"""GET /api/v1/facilities/search: public, validated, with reasons in words."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from integrations.daycare.search import distance_m
from tests.integrations.daycare.daycare_factories import (
    SHINJUKU_STATION,
    facility,
    insert,
    past,
    vacancy,
)

URL = "/api/v1/facilities/search"


async def test_search_by_child_and_point_with_places(client: Any, sessions: Any) -> None:
    near, far, minato, no_zero = await insert(
        sessions,
        facility(
            name_ja="しんじゅく園",
            latitude=SHINJUKU_STATION[0],
            longitude=SHINJUKU_STATION[1],
            municipality="131041",
        ),
        facility(name_ja="ちよだ園"),
        facility(name_ja="みなと園", municipality="131032", latitude=35.658, longitude=139.751),
        facility(
            name_ja="ゼロなし園",
            classes=[1, 2],
            municipality="131041",
            latitude=SHINJUKU_STATION[0],
            longitude=SHINJUKU_STATION[1] + 0.001,
        ),
    )
    april = date(2025, 4, 1)
    await insert(
        sessions,
        vacancy(near, 0, april, places=2),
        vacancy(far, 0, april, level="none", places=None),
        vacancy(minato, 0, april, places=1),
        past(near, 0, 2024, points=45, raw="45"),
    )
    response = await client.get(
        URL,
        params=[
            ("municipality", "131041,131016"),
            ("municipality", "131032"),
            ("birth_date", "2024-04-02"),
            ("entry_month", "2025-04"),
            ("lat", str(SHINJUKU_STATION[0])),
            ("lon", str(SHINJUKU_STATION[1])),
            ("with_places", "true"),
            ("include_unmatched", "true"),
        ],
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["class_age"] == 0
    ids = [i["facility"]["id"] for i in body["items"]]
    assert ids == [near.id, minato.id, no_zero.id, far.id]
    first = body["items"][0]
    assert first["distance_m"] == 0 and first["matches"] is True
    assert first["vacancy"]["level"] == "number" and first["vacancy"]["places"] == 2
    assert first["vacancy"]["as_of"] == "2025-02-01"
    assert first["past"] == [
        {"year": 2024, "kind": "min_points", "outcome": "points", "points": 45.0, "raw": "45"}
    ]
    assert first["reasons"] == [
        {"code": "class:0", "ja": "0歳児クラスがあります", "en": "has a 0-year class"},
        {"code": "places:2", "ja": "空きが2人分あります", "en": "2 places open"},
    ]
    assert first["facility"]["name"] == {"ja": "しんじゅく園", "en": near.name_en}
    assert first["facility"]["type_name"]["ja"] == "認可保育所（私立）"
    missing = body["items"][2]
    assert missing["matches"] is False
    assert missing["misses"][0] == {
        "code": "no_class:0",
        "ja": "0歳児クラスがありません",
        "en": "no 0-year class",
    }
    assert body["items"][3]["misses"] == [
        {
            "code": "full:0",
            "ja": "0歳児クラスに空きがありません",
            "en": "no places in the 0-year class",
        }
    ]
    assert body["items"][1]["distance_m"] == round(distance_m(*SHINJUKU_STATION, 35.658, 139.751))


async def test_april_first_birthday_enters_the_older_class(client: Any, sessions: Any) -> None:
    await insert(sessions, facility())
    for born, expected in (("2024-04-01", 1), ("2024-04-02", 0)):
        response = await client.get(URL, params={"birth_date": born, "entry_month": "2025-04"})
        body = await response.json()
        assert body["class_age"] == expected
        assert body["items"][0]["reasons"][0]["code"] == f"class:{expected}"
    # Born on the 15th of the month of entry: no class yet (not an error: same month).
    response = await client.get(
        URL,
        params={"birth_date": "2025-04-15", "entry_month": "2025-04", "include_unmatched": "1"},
    )
    body = await response.json()
    assert body["class_age"] is None
    assert body["items"][0]["misses"][0]["code"] == "not_born_by_entry"


@pytest.mark.parametrize(
    ("params", "code", "location"),
    [
        ({"lat": "35.6"}, "invalid_query", "query.lon"),
        ({"lon": "139.7"}, "invalid_query", "query.lat"),
        ({"radius_m": "500"}, "invalid_query", "query.radius_m"),
        ({"lat": "95", "lon": "139"}, "invalid_query", "query.lat"),
        ({"lat": "nan", "lon": "139"}, "invalid_query", "query.lat"),
        (
            {"birth_date": "2024-02-30", "entry_month": "2025-04"},
            "invalid_query",
            "query.birth_date",
        ),
        ({"birth_date": "2024-05-01"}, "invalid_query", "query.entry_month"),
        ({"entry_month": "2025-13"}, "invalid_query", "query.entry_month"),
        ({"entry_month": "2025-4"}, "invalid_query", "query.entry_month"),
        (
            {"birth_date": "2025-05-01", "entry_month": "2025-04"},
            "born_after_entry",
            "query.birth_date",
        ),
        (
            {"birth_date": "2024-04-01", "entry_month": "2025-04", "class_age": "0"},
            "class_age_mismatch",
            "query.class_age",
        ),
        ({"with_places": "true"}, "invalid_query", "query.with_places"),
        ({"class_age": "6"}, "invalid_query", "query.class_age"),
        ({"municipality": "999999"}, "unknown_municipality", "query.municipality"),
        ({"municipality": "13101"}, "invalid_query", "query.municipality.0"),
        ({"type": "castle"}, "invalid_query", "query.type.0"),
        ({"open_from": "7:30"}, "invalid_query", "query.open_from"),
        ({"open_until": "25:00"}, "invalid_query", "query.open_until"),
        ({"limit": "51"}, "invalid_query", "query.limit"),
        ({"limit": "0"}, "invalid_query", "query.limit"),
        ({"with_places": "maybe"}, "invalid_query", "query.with_places"),
        ({"colour": "red"}, "invalid_query", "query.colour"),
    ],
)
async def test_bad_input_is_a_422_that_says_where(
    client: Any, params: dict[str, str], code: str, location: str
) -> None:
    response = await client.get(URL, params=params)
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == code
    assert location in [d["location"] for d in error["details"]]


async def test_a_repeated_single_parameter_is_refused(client: Any) -> None:
    response = await client.get(URL, params=[("limit", "5"), ("limit", "6")])
    assert response.status == 422
    assert (await response.json())["error"]["details"][0]["location"] == "query.limit"


async def test_search_is_in_the_openapi(client: Any) -> None:
    spec = await (await client.get("/openapi.json")).json()
    operation = spec["paths"][URL]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"municipality", "birth_date", "entry_month", "lat", "lon", "with_places"} <= names
    assert "security" not in operation
