"""The app door: backends register families, families read their inbox with their token."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from notifier.models import Notice
from registry import subscriptions as subs
from registry.db import transaction
from registry.models import AppSubscription, Child, Family
from tests.factories import family

CONSENT = "2026-11-20T10:00:00+09:00"
# Consent is checked against the real clock, which moves on after this file was written.
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).isoformat()


def subscriber(municipality: str = "131130", *births: str, **fields: Any) -> dict[str, Any]:
    """A registration body: a family profile with consent."""
    return {**family(municipality, *births), "consented_at": CONSENT, **fields}


async def _register(client: Any, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    payload = subscriber("131130", "2025-06-15", **body)
    response = await client.post("/api/v1/app/subscribers", json=payload, headers=headers)
    assert response.status == 201, await response.text()
    return await response.json()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _notices(sessions: Any, family_id: int, count: int, *, first: int = 0) -> list[int]:
    """Insert notices as the sweep would, one a day apart (the last is the newest)."""
    start = datetime(2026, 10, 1, tzinfo=UTC)
    ids = []
    async with transaction(sessions) as session:
        for i in range(first, first + count):
            notice = Notice(
                family_id=family_id,
                subject=f"program:{i + 1}",
                kind="eligible",
                cycle="2026",
                issuer="131130",
                status="sent",
                channel="app",
                payload={
                    "name": {"ja": f"制度{i}", "en": f"Program {i}"},
                    "summary": {"ja": "概要", "en": None},
                    "deadline": "2027-03-31",
                    "child": {"ja": "2025年6月生まれのお子さま", "en": "your child born Jun 2025"},
                    "reference_url": "https://www.city.shibuya.tokyo.jp/",
                },
                created_at=start + timedelta(days=i),
            )
            session.add(notice)
            await session.flush()
            assert notice.id is not None
            ids.append(notice.id)
    return ids


async def _family_id(sessions: Any, subscription_id: int) -> int:
    async with sessions() as session:
        row = await session.get(AppSubscription, subscription_id)
        assert row is not None
        return row.family_id


# ------------------------------------------------------------------------ registration


async def test_registration_requires_a_key(client: Any) -> None:
    response = await client.post("/api/v1/app/subscribers", json=subscriber())
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"
    wrong = await client.post(
        "/api/v1/app/subscribers", json=subscriber(), headers=_bearer("hgk_nope")
    )
    assert wrong.status == 401


async def test_keys_register_only_families_they_may_manage(client: Any, make_key: Any) -> None:
    hachioji = await make_key("132012")
    response = await client.post("/api/v1/app/subscribers", json=subscriber(), headers=hachioji)
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "forbidden"

    for headers in (
        await make_key("131130"),
        await make_key("130001", "prefecture"),
        await make_key("000000", "operator"),
    ):
        created = await _register(client, headers)
        assert created["municipality"] == "131130"


async def test_registration_answers_credentials_once(
    client: Any, make_key: Any, sessions: Any
) -> None:
    shibuya = await make_key("131130")
    created = await _register(
        client, shibuya, language="en", single_parent=True, callback_url="https://app.example/cb"
    )
    assert created["token"].startswith(subs.TOKEN_PREFIX)
    assert len(created["secret"]) >= 32
    assert created["state"] == "active" and created["language"] == "en"
    assert created["children"] == [
        {"birth_date": "2025-06-15", "disability": False, "daycare": "none"}
    ]
    assert created["issuer"] == "131130"
    async with sessions() as session:
        row = await session.get(AppSubscription, created["id"])
        assert row is not None
        assert row.token_hash != created["token"]  # stored hashed, like API keys
        fam = await session.get(Family, row.family_id)
        assert fam is not None
    assert fam.line_user_id is None and fam.preferences == {"channel": "app"}
    assert fam.consented_at == datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    assert fam.onboarded_at is not None and fam.single_parent is True

    reread = await client.get(f"/api/v1/app/subscribers/{created['id']}", headers=shibuya)
    body = await reread.json()
    assert "token" not in body and "secret" not in body
    assert body["callback_url"] == "https://app.example/cb"


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"consented_at": None}, "consented_at"),
        ({"consented_at": "2026-11-20T10:00:00"}, "consented_at"),  # no timezone
        ({"consented_at": TOMORROW}, "consented_at"),
        ({"consented_at": "1999-12-31T00:00:00+00:00"}, "consented_at"),
        ({"callback_url": "http://app.example/cb"}, "callback_url"),
        ({"callback_url": "ftp://app.example/cb"}, "callback_url"),
        ({"callback_url": "https://"}, "callback_url"),
        ({"callback_url": "https://user:pw@app.example/"}, "callback_url"),
        ({"municipality": "131131"}, "municipality"),  # wrong check digit
        ({"municipality": "130001"}, "municipality"),  # a prefecture
        ({"household_income": 2**40}, "household_income"),
        ({"language": "fr"}, "language"),
        ({"nickname": "x"}, "nickname"),
        ({"due_date": "2027-02-01"}, "body"),  # not pregnant
    ],
)
async def test_registration_validates(
    client: Any, make_key: Any, change: dict[str, Any], location: str
) -> None:
    operator = await make_key("000000", "operator")
    body = {**subscriber(), **change}
    if change.get("consented_at") is None and "consented_at" in change:
        del body["consented_at"]
    response = await client.post("/api/v1/app/subscribers", json=body, headers=operator)
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "invalid_request"
    assert location in str(error["details"])


async def test_registration_refuses_unknown_municipalities_and_unborn_children(
    client: Any, make_key: Any
) -> None:
    operator = await make_key("000000", "operator")
    osaka = await client.post(
        "/api/v1/app/subscribers", json=subscriber("271004"), headers=operator
    )
    assert osaka.status == 422
    assert (await osaka.json())["error"]["code"] == "unknown_municipality"
    unborn = await client.post(
        "/api/v1/app/subscribers", json=subscriber("131130", "2027-01-05"), headers=operator
    )
    assert unborn.status == 422
    assert "children.0.birth_date" in str((await unborn.json())["error"]["details"])
    garbage = await client.post("/api/v1/app/subscribers", data=b"{not json", headers=operator)
    assert garbage.status == 400


async def test_http_and_local_callbacks_only_to_allowed_hosts(
    settings: Any, aiohttp_client: Any, make_key: Any
) -> None:
    from hagukumi.app import create_app

    allowed = settings.model_copy(update={"callback_allow": "127.0.0.1, localhost"})
    client = await aiohttp_client(create_app(allowed))
    operator = await make_key("000000", "operator")
    for url in ("http://127.0.0.1:8123/cb", "http://localhost/cb"):
        created = await _register(client, operator, callback_url=url)
        assert created["callback_url"] == url
    refused = await client.post(
        "/api/v1/app/subscribers",
        json=subscriber(callback_url="http://10.0.0.7/cb"),
        headers=operator,
    )
    assert refused.status == 422


def test_signature_is_base64_hmac_sha256() -> None:
    body = b'{"notices":[]}'
    expected = base64.b64encode(hmac.new(b"s3cret", body, hashlib.sha256).digest()).decode()
    assert subs.sign("s3cret", body) == expected


# -------------------------------------------------------------------------------- inbox


async def test_inbox_lists_notices_newest_first_with_counts(
    client: Any, make_key: Any, sessions: Any
) -> None:
    created = await _register(client, await make_key("131130"))
    token = _bearer(created["token"])
    empty = await client.get("/api/v1/app/inbox", headers=token)
    assert empty.status == 200
    assert await empty.json() == {"items": [], "total": 0, "unread": 0}

    ids = await _notices(sessions, await _family_id(sessions, created["id"]), 3)
    inbox = await (await client.get("/api/v1/app/inbox", headers=token)).json()
    assert [item["id"] for item in inbox["items"]] == ids[::-1]
    assert inbox["total"] == 3 and inbox["unread"] == 3
    newest = inbox["items"][0]
    assert newest["kind"] == "eligible" and newest["status"] == "sent"
    assert newest["read"] is False
    assert newest["payload"]["name"] == {"ja": "制度2", "en": "Program 2"}
    assert newest["payload"]["child"]["ja"] == "2025年6月生まれのお子さま"

    page = await (await client.get("/api/v1/app/inbox?limit=1&offset=1", headers=token)).json()
    assert [item["id"] for item in page["items"]] == [ids[1]]
    assert page["total"] == 3


async def test_marking_read(client: Any, make_key: Any, sessions: Any) -> None:
    created = await _register(client, await make_key("131130"))
    token = _bearer(created["token"])
    ids = await _notices(sessions, await _family_id(sessions, created["id"]), 2)

    marked = await client.post(f"/api/v1/app/inbox/{ids[0]}/read", headers=token)
    assert marked.status == 200, await marked.text()
    item = await marked.json()
    assert item["id"] == ids[0] and item["read"] is True and item["read_at"]
    again = await (await client.post(f"/api/v1/app/inbox/{ids[0]}/read", headers=token)).json()
    assert again["read_at"] == item["read_at"]  # marking twice keeps the first time

    inbox = await (await client.get("/api/v1/app/inbox", headers=token)).json()
    assert inbox["total"] == 2 and inbox["unread"] == 1
    assert [i["read"] for i in inbox["items"]] == [False, True]
    assert (await client.post("/api/v1/app/inbox/999999/read", headers=token)).status == 404


async def test_a_family_sees_only_its_own_notices(
    client: Any, make_key: Any, sessions: Any
) -> None:
    shibuya = await make_key("131130")
    first, second = await _register(client, shibuya), await _register(client, shibuya)
    theirs = await _notices(sessions, await _family_id(sessions, first["id"]), 1)
    inbox = await (await client.get("/api/v1/app/inbox", headers=_bearer(second["token"]))).json()
    assert inbox["total"] == 0
    response = await client.post(
        f"/api/v1/app/inbox/{theirs[0]}/read", headers=_bearer(second["token"])
    )
    assert response.status == 404


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer hgs_wrong"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer " + "x" * 300},
    ],
)
async def test_inbox_refuses_wrong_tokens(
    client: Any, make_key: Any, headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/app/inbox", headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (await response.json())["error"]["code"] == "unauthorized"
    assert (await client.post("/api/v1/app/inbox/1/read", headers=headers)).status == 401


async def test_an_api_key_is_no_inbox_token(client: Any, make_key: Any) -> None:
    operator = await make_key("000000", "operator")
    assert (await client.get("/api/v1/app/inbox", headers=operator)).status == 401


async def test_inbox_paging_is_validated(client: Any, make_key: Any) -> None:
    token = _bearer((await _register(client, await make_key("131130")))["token"])
    for query in ("limit=101", "limit=0", "offset=-1", "limit=x", "other=1"):
        response = await client.get(f"/api/v1/app/inbox?{query}", headers=token)
        assert response.status == 422, query


# ------------------------------------------------------------------------ change, delete


async def test_patch_changes_children_and_fields(
    client: Any, make_key: Any, sessions: Any
) -> None:
    shibuya = await make_key("131130")
    created = await _register(client, shibuya, pregnant=True, due_date="2027-02-01")
    url = f"/api/v1/app/subscribers/{created['id']}"

    response = await client.patch(
        url,
        json={
            "children": [{"birth_date": "2025-06-15"}, {"birth_date": "2026-11-01"}],
            "pregnant": False,
            "language": "en",
            "callback_url": "https://app.example/new",
        },
        headers=shibuya,
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert [c["birth_date"] for c in body["children"]] == ["2025-06-15", "2026-11-01"]
    assert body["pregnant"] is False and body["due_date"] is None  # the baby came
    assert body["language"] == "en" and body["callback_url"] == "https://app.example/new"
    assert body["municipality"] == "131130"  # untouched

    family_id = await _family_id(sessions, created["id"])
    async with sessions() as session:
        children = (await session.exec(select(Child).where(Child.family_id == family_id))).all()
    assert sorted(c.birth_date for c in children) == [date(2025, 6, 15), date(2026, 11, 1)]

    cleared = await client.patch(url, json={"callback_url": None}, headers=shibuya)
    assert (await cleared.json())["callback_url"] is None
    unchanged = await client.patch(url, json={}, headers=shibuya)
    assert len((await unchanged.json())["children"]) == 2


async def test_patch_is_scoped_to_the_old_and_the_new_municipality(
    client: Any, make_key: Any
) -> None:
    shibuya = await make_key("131130")
    created = await _register(client, shibuya)
    url = f"/api/v1/app/subscribers/{created['id']}"
    hachioji = await make_key("132012")
    # Another municipality's family looks missing (ids cannot be probed).
    assert (await client.patch(url, json={"language": "en"}, headers=hachioji)).status == 404
    moved = await client.patch(url, json={"municipality": "132012"}, headers=shibuya)
    assert moved.status == 403  # Shibuya may not put families into Hachioji
    tokyo = await make_key("130001", "prefecture")
    moved = await client.patch(url, json={"municipality": "132012"}, headers=tokyo)
    assert moved.status == 200 and (await moved.json())["municipality"] == "132012"
    assert (await client.get(url, headers=shibuya)).status == 404  # no longer theirs


@pytest.mark.parametrize(
    "change",
    [
        {"pregnant": None},
        {"municipality": None},
        {"municipality": "131131"},
        {"due_date": "2027-01-01"},  # not pregnant
        {"children": [{"birth_date": "2027-01-01"}]},  # unborn
        {"callback_url": "http://app.example/"},
        {"household_income": -1},
        {"token": "x"},
    ],
)
async def test_patch_validates(client: Any, make_key: Any, change: dict[str, Any]) -> None:
    shibuya = await make_key("131130")
    created = await _register(client, shibuya)
    response = await client.patch(
        f"/api/v1/app/subscribers/{created['id']}", json=change, headers=shibuya
    )
    assert response.status == 422, await response.text()


async def test_unknown_subscribers_are_404(client: Any, make_key: Any) -> None:
    operator = await make_key("000000", "operator")
    for path in ("/api/v1/app/subscribers/424242", "/api/v1/app/subscribers/abc"):
        assert (await client.patch(path, json={}, headers=operator)).status == 404
        assert (await client.delete(path, headers=operator)).status == 404
        assert (await client.get(path, headers=operator)).status == 404


async def test_delete_removes_personal_data_and_the_token(
    client: Any, make_key: Any, sessions: Any
) -> None:
    shibuya = await make_key("131130")
    created = await _register(client, shibuya, single_parent=True)
    token = _bearer(created["token"])
    family_id = await _family_id(sessions, created["id"])
    await _notices(sessions, family_id, 1)
    url = f"/api/v1/app/subscribers/{created['id']}"

    assert (await client.delete(url, headers=await make_key("132012"))).status == 404
    response = await client.delete(url, headers=shibuya)
    assert response.status == 204

    async with sessions() as session:
        fam = await session.get(Family, family_id)
        children = (await session.exec(select(Child).where(Child.family_id == family_id))).all()
        left = (
            await session.exec(
                select(AppSubscription).where(col(AppSubscription.family_id) == family_id)
            )
        ).all()
    assert fam is not None and fam.state == "deleted" and fam.deleted_at is not None
    assert fam.municipality is None and fam.single_parent is None and fam.consented_at is None
    assert children == [] and left == []
    assert (await client.get("/api/v1/app/inbox", headers=token)).status == 401
    assert (await client.delete(url, headers=shibuya)).status == 404
