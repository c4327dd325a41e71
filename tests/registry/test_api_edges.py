"""What one odd or hostile request gets: a clear 4xx, never a 500, and no free guesses."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from notifier.models import Notice
from registry.db import transaction
from registry.models import Family
from tests import rawhttp
from tests.factories import family, program_body

CONSENT = "2026-11-20T10:00:00+09:00"


async def _program(client: Any, headers: dict[str, str]) -> int:
    created = await client.post("/api/v1/programs", json=program_body(), headers=headers)
    assert created.status == 201, await created.text()
    return int((await created.json())["id"])


async def _subscriber(client: Any, headers: dict[str, str]) -> int:
    body = {**family("131130", "2025-06-15"), "consented_at": CONSENT}
    created = await client.post("/api/v1/app/subscribers", json=body, headers=headers)
    assert created.status == 201, await created.text()
    return int((await created.json())["id"])


# --------------------------------------------------------------------- 500s made 4xx


async def test_an_archived_program_with_notices_is_kept_with_a_reason(
    client: Any, make_key: Any, sessions: Any
) -> None:
    shibuya = await make_key("131130")
    told = await _program(client, shibuya)
    assert (await client.post(f"/api/v1/programs/{told}/publish", headers=shibuya)).status == 200
    async with transaction(sessions) as session:
        row = Family(state="active", consented_at=datetime.now(UTC), preferences={})
        session.add(row)
        await session.flush()
        assert row.id is not None
        session.add(
            Notice(
                family_id=row.id,
                subject=f"program:{told}",
                program_id=told,
                kind="eligible",
                cycle="2026",
                issuer="131130",
                status="sent",
            )
        )
    assert (await client.post(f"/api/v1/programs/{told}/archive", headers=shibuya)).status == 200
    refused = await client.delete(f"/api/v1/programs/{told}", headers=shibuya)
    assert refused.status == 409, await refused.text()
    error = (await refused.json())["error"]
    assert error["code"] == "has_history" and "history" in error["message"]
    kept = await client.get(f"/api/v1/programs/{told}", headers=shibuya)
    assert (await kept.json())["status"] == "archived"

    untold = await _program(client, shibuya)
    await client.post(f"/api/v1/programs/{untold}/archive", headers=shibuya)
    assert (await client.delete(f"/api/v1/programs/{untold}", headers=shibuya)).status == 204


@pytest.mark.parametrize("field", ["children", "municipality", "pregnant", "language"])
async def test_patching_a_required_subscriber_field_to_null_is_422(
    client: Any, make_key: Any, field: str
) -> None:
    shibuya = await make_key("131130")
    sid = await _subscriber(client, shibuya)
    response = await client.patch(
        f"/api/v1/app/subscribers/{sid}", json={field: None}, headers=shibuya
    )
    assert response.status == 422, await response.text()
    assert field in str((await response.json())["error"]["details"])
    still = await (await client.get(f"/api/v1/app/subscribers/{sid}", headers=shibuya)).json()
    assert len(still["children"]) == 1


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/api/v1/programs", "Bearer hgk_\u3042\u3044".encode()),  # UTF-8, not ASCII
        ("/api/v1/programs", b"Bearer hgk_\xff\xfe\x80"),  # not UTF-8 at all
        ("/api/v1/app/inbox", "Bearer hgs_\u3042".encode()),
        ("/api/v1/app/inbox", b"Bearer hgs_\xff\xfe"),
    ],
)
async def test_non_ascii_credentials_are_401(client: Any, path: str, value: bytes) -> None:
    answer = await rawhttp.request(
        client.server.port, "GET", path, headers=[(b"Authorization", value)]
    )
    assert answer.status == 401
    assert answer.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("signature", ["\u3042\u3044\u3046=".encode(), b"\xff\xfe\xfd"])
async def test_a_non_ascii_line_signature_is_401(client: Any, signature: bytes) -> None:
    answer = await rawhttp.request(
        client.server.port,
        "POST",
        "/line/webhook",
        headers=[(b"x-line-signature", signature), (b"Content-Type", b"application/json")],
        body=b'{"destination": "U0", "events": []}',
    )
    assert answer.status == 401


async def test_deeply_nested_json_and_huge_integers_are_client_errors(client: Any) -> None:
    deep = b'{"family": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    answer = await rawhttp.request(
        client.server.port,
        "POST",
        "/api/v1/eligibility",
        headers=[(b"Content-Type", b"application/json")],
        body=deep,
    )
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "malformed_json"

    huge = b'{"family": {"municipality": "131130", "household_income": ' + b"9" * 5000 + b"}}"
    answer = await rawhttp.request(
        client.server.port,
        "POST",
        "/api/v1/eligibility",
        headers=[(b"Content-Type", b"application/json")],
        body=huge,
    )
    assert answer.status in {400, 422}


async def test_a_client_hanging_up_mid_body_is_no_error(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await rawhttp.hang_up_mid_body(
        client.server.port, "/api/v1/eligibility", announced=10_000, sent=b'{"family": {'
    )
    # The server notices the hang-up on its own time: wait for its record of it.
    for _ in range(200):
        if any("went away" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.01)
    assert any("went away" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # And the server still answers.
    assert (await client.get("/api/v1/municipalities")).status == 200


@pytest.mark.parametrize(
    ("path", "body", "location"),
    [
        ("/api/v1/broadcasts", {"message": {"ja": "お知らせ"}, "dry_run": 0}, "dry_run"),
        ("/api/v1/eligibility", {"family": family("131130"), "date": 0}, "date"),
        ("/api/v1/programs", program_body(per_child="yes"), "per_child"),
        ("/api/v1/programs", program_body(per_child=1), "per_child"),
        (
            "/api/v1/eligibility",
            {"family": family("131130", "2025-06-15"), "date": 20261126},
            "date",
        ),
    ],
)
async def test_wrong_types_are_refused_not_coerced(
    client: Any, make_key: Any, path: str, body: dict[str, Any], location: str
) -> None:
    shibuya = await make_key("131130")
    response = await client.post(path, json=body, headers=shibuya)
    assert response.status == 422, await response.text()
    assert location in str((await response.json())["error"]["details"])


# ------------------------------------------------------------- no free guesses (point 13)


def _count_statements(client: Any) -> list[str]:
    from hagukumi.app import ENGINE

    seen: list[str] = []
    engine = client.server.app[ENGINE].sync_engine
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


async def test_unknown_keys_are_rate_limited_per_address_without_lookups(
    settings: Any, aiohttp_client: Any, make_key: Any
) -> None:
    from hagukumi.app import create_app

    limited = settings.model_copy(update={"api_rate_limit": "1/3"})
    client = await aiohttp_client(create_app(limited))
    good = await make_key("131130")
    assert (await client.get("/api/v1/programs", headers=good)).status == 200
    statements = _count_statements(client)
    guesses = [{"Authorization": f"Bearer hgk_guess{i}"} for i in range(8)]
    statuses = [(await client.get("/api/v1/programs", headers=g)).status for g in guesses[:3]]
    assert statuses == [401, 401, 401]
    looked_up = len(statements)
    assert looked_up >= 3
    beyond = [(await client.get("/api/v1/programs", headers=g)).status for g in guesses[3:]]
    assert beyond == [429] * 5
    assert len(statements) == looked_up  # no database lookup past the limit
    # A key that worked lately, from the same address, still gets through.
    assert (await client.get("/api/v1/programs", headers=good)).status == 200


async def test_unknown_inbox_tokens_are_rate_limited_per_address(
    settings: Any, aiohttp_client: Any
) -> None:
    from hagukumi.app import create_app

    limited = settings.model_copy(update={"api_rate_limit": "1/3"})
    client = await aiohttp_client(create_app(limited))
    statements = _count_statements(client)
    statuses = []
    for i in range(8):
        headers = {"Authorization": f"Bearer hgs_guess{i}"}
        statuses.append((await client.get("/api/v1/app/inbox", headers=headers)).status)
        if i == 2:
            looked_up = len(statements)
    assert statuses == [401] * 3 + [429] * 5
    assert len(statements) == looked_up


async def test_another_municipalitys_subscriber_looks_missing(client: Any, make_key: Any) -> None:
    shibuya = await make_key("131130")
    hachioji = await make_key("132012")
    sid = await _subscriber(client, shibuya)
    missing = sid + 1000
    for method, body in (("GET", None), ("PATCH", {"language": "en"}), ("DELETE", None)):
        theirs = await client.request(
            method, f"/api/v1/app/subscribers/{sid}", json=body, headers=hachioji
        )
        absent = await client.request(
            method, f"/api/v1/app/subscribers/{missing}", json=body, headers=hachioji
        )
        assert theirs.status == absent.status == 404
        their_error = (await theirs.json())["error"]
        absent_error = (await absent.json())["error"]
        assert their_error["code"] == absent_error["code"] == "not_found"
        assert their_error["message"].replace(str(sid), "N") == absent_error["message"].replace(
            str(missing), "N"
        )
    # Still there for its own municipality.
    assert (await client.get(f"/api/v1/app/subscribers/{sid}", headers=shibuya)).status == 200
