"""Callback URLs cannot point the server at private networks; parents' links are https only."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from notifier.channels.app import AppChannel
from notifier.channels.base import PermanentSendError
from notifier.models import SendRequest
from registry.db import transaction
from registry.models import AppSubscription, Family
from registry.urls import GuardedResolver, RefusedAddress, UrlPolicy
from tests.factories import family

CONSENT = "2026-11-20T10:00:00+09:00"

PRIVATE_CALLBACKS = [
    "http://app.example/cb",  # clear text
    "https://localhost/cb",
    "https://api.localhost/cb",
    "https://127.0.0.1/cb",
    "https://127.1/cb",  # legacy IPv4 forms name the loopback too
    "https://2130706433/cb",
    "https://0.0.0.0/cb",
    "https://10.1.2.3/cb",
    "https://172.16.0.1/cb",
    "https://192.168.1.10/cb",
    "https://100.64.0.1/cb",  # carrier-grade NAT
    "https://169.254.169.254/latest/meta-data/",  # the cloud metadata service
    "https://[::1]/cb",
    "https://[fe80::1]/cb",
    "https://[fd00::1]/cb",
    "https://[::ffff:127.0.0.1]/cb",
]


def subscriber(**fields: Any) -> dict[str, Any]:
    return {**family("131130", "2025-06-15"), "consented_at": CONSENT, **fields}


@pytest.mark.parametrize("url", PRIVATE_CALLBACKS)
async def test_callbacks_to_private_hosts_are_refused(
    client: Any, make_key: Any, url: str
) -> None:
    operator = await make_key("000000", "operator")
    response = await client.post(
        "/api/v1/app/subscribers", json=subscriber(callback_url=url), headers=operator
    )
    assert response.status == 422, await response.text()
    assert "callback_url" in str((await response.json())["error"]["details"])


async def test_a_callback_cannot_be_changed_to_a_private_host(client: Any, make_key: Any) -> None:
    operator = await make_key("000000", "operator")
    created = await client.post(
        "/api/v1/app/subscribers",
        json=subscriber(callback_url="https://app.example/cb"),
        headers=operator,
    )
    assert created.status == 201
    url = f"/api/v1/app/subscribers/{(await created.json())['id']}"
    changed = await client.patch(
        url, json={"callback_url": "https://169.254.169.254/"}, headers=operator
    )
    assert changed.status == 422
    stored = await (await client.get(url, headers=operator)).json()
    assert stored["callback_url"] == "https://app.example/cb"


# ------------------------------------------------------------------ at send time


class FakeDns(AbstractResolver):
    """A DNS that answers what the test says (a rebinding attacker's name server)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
            for address in self.answers[host]
        ]

    async def close(self) -> None:
        return None


@pytest.fixture
async def backend() -> AsyncIterator[tuple[TestServer, list[bytes]]]:
    received: list[bytes] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server, received
    finally:
        await server.close()


async def _app_family(sessions: Any, url: str) -> int:
    async with transaction(sessions) as session:
        row = Family(state="active", consented_at=datetime.now(UTC), preferences={})
        session.add(row)
        await session.flush()
        assert row.id is not None
        session.add(
            AppSubscription(
                family_id=row.id,
                issuer="131130",
                token_hash=uuid.uuid4().hex,
                secret="s",
                callback_url=url,
            )
        )
        return row.id


def _request(family_id: int, url: str) -> SendRequest:
    return SendRequest(
        id=1,
        channel="app",
        retry_key=str(uuid.uuid4()),
        body={
            "kind": "app",
            "family_id": family_id,
            "notice_id": 1,
            "url": url,
            "payload": {"event": "notice", "notice_id": 1},
        },
    )


async def test_a_name_rebound_to_the_loopback_is_not_called(
    sessions: Any, backend: tuple[TestServer, list[bytes]]
) -> None:
    server, received = backend
    # Registered while the name looked public; now it resolves to this machine.
    url = f"http://rebind.example:{server.port}/hook"
    family_id = await _app_family(sessions, url)
    dns = FakeDns({"rebind.example": ["127.0.0.1"]})
    channel = AppChannel(None, sessions, policy=UrlPolicy.parse("rebind.example"), resolver=dns)
    await channel.open()
    try:
        await channel.send(_request(family_id, url))  # allowed by the operator: reached
    finally:
        await channel.close()
    assert len(received) == 1

    strict = UrlPolicy.parse("")
    https_url = f"https://rebind.example:{server.port}/hook"
    channel = AppChannel(None, sessions, policy=strict, resolver=dns)
    await channel.open()
    try:
        with pytest.raises(PermanentSendError) as caught:
            await channel.send(_request(family_id, https_url))
    finally:
        await channel.close()
    assert "non-public" in caught.value.reason
    assert len(received) == 1


async def test_a_stored_private_callback_is_refused_at_send_time(
    sessions: Any, backend: tuple[TestServer, list[bytes]]
) -> None:
    server, received = backend
    url = str(server.make_url("/hook"))  # http://127.0.0.1:PORT/hook, stored before the rule
    family_id = await _app_family(sessions, url)
    channel = AppChannel(None, sessions)
    await channel.open()
    try:
        with pytest.raises(PermanentSendError) as caught:
            await channel.send(_request(family_id, url))
    finally:
        await channel.close()
    assert caught.value.reason.startswith("callback refused")
    assert received == []


async def test_the_guarded_resolver_keeps_only_public_addresses() -> None:
    dns = FakeDns(
        {"mixed.example": ["10.0.0.1", "93.184.216.34"], "inside.example": ["192.168.0.2"]}
    )
    guarded = GuardedResolver(UrlPolicy(), dns)
    kept = await guarded.resolve("mixed.example", 443)
    assert [r["host"] for r in kept] == ["93.184.216.34"]
    with pytest.raises(RefusedAddress):
        await guarded.resolve("inside.example", 443)
    allowed = GuardedResolver(UrlPolicy.parse("inside.example"), dns)
    assert [r["host"] for r in await allowed.resolve("inside.example", 443)] == ["192.168.0.2"]


# --------------------------------------------------------------------- parents' links


def program(**fields: Any) -> dict[str, Any]:
    return {
        "issuer": "131130",
        "name": {"ja": "テスト手当"},
        "summary": {"ja": "テストです"},
        "eligibility": 'municipality == "131130"',
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"reference_url": "http://www.city.shibuya.tokyo.jp/"}, "reference_url"),
        ({"reference_url": "javascript:alert(1)"}, "reference_url"),
        ({"reference_url": "https://city.example@evil.example/"}, "reference_url"),
        ({"application": {"url": "data:text/html,<script>alert(1)</script>"}}, "url"),
        ({"application": {"url": "http://form.example/apply"}}, "url"),
        ({"application": {"url": "vbscript:msgbox"}}, "url"),
    ],
)
async def test_links_for_parents_are_https_only(
    client: Any, make_key: Any, fields: dict[str, Any], location: str
) -> None:
    shibuya = await make_key("131130")
    created = await client.post("/api/v1/programs", json=program(**fields), headers=shibuya)
    assert created.status == 422, await created.text()
    assert location in str((await created.json())["error"]["details"])

    draft = await client.post("/api/v1/programs", json=program(), headers=shibuya)
    assert draft.status == 201
    patched = await client.patch(
        f"/api/v1/programs/{(await draft.json())['id']}", json=fields, headers=shibuya
    )
    assert patched.status == 422


async def test_https_links_pass_and_http_only_for_allowed_hosts(
    settings: Any, aiohttp_client: Any, make_key: Any
) -> None:
    from hagukumi.app import create_app

    allowed = settings.model_copy(update={"callback_allow": "127.0.0.1"})
    client = await aiohttp_client(create_app(allowed))
    shibuya = await make_key("131130")
    fields = {
        "reference_url": "https://www.city.shibuya.tokyo.jp/a.html",
        "application": {"url": "http://127.0.0.1:8000/apply"},
    }
    created = await client.post("/api/v1/programs", json=program(**fields), headers=shibuya)
    assert created.status == 201, await created.text()
    body = await created.json()
    assert body["application"]["url"] == "http://127.0.0.1:8000/apply"
    read = await client.get(f"/api/v1/programs/{body['id']}", headers=shibuya)
    assert read.status == 200
