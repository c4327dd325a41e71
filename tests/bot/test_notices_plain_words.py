"""Every word a parent receives is plain language: no rule clause reaches a LINE push, a
multicast, an app callback or the inbox (issue 8, point 1), end to end through the real doors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlmodel import col, select

from tests.bot.conftest import NOW, LineWorld
from tests.bot.parent import Parent
from tests.factories import family, program_body

# What rule text looks like: operators, field names, quoted codes, date literals, joined clauses.
RULE_SYNTAX = re.compile(
    r"==|!=|<=|>=|\s[<>]\s*\d|\?\?|=~"
    r"|\bchild\.|\bchildren\b\.|\bmunicipality\b|\bprefecture\b"
    r"|\b(?:age_months|class_age|birth_order|birth_date|child_count|household_income"
    r"|single_parent|resident_tax_exempt|public_assistance|due_date)\b"
    r"|[\"']\d{6}[\"']|\bd[\"']\d{4}-"
    r"|\b(?:and|or|not)\s+(?:child\.|municipality\b|prefecture\b|pregnant\b)"
)
# Links and postback data are not read as text.
NOT_TEXT = {"uri", "data", "reference_url", "application_url", "url", "linkUri", "to"}


def words(node: Any, key: str = "") -> Iterator[str]:
    """Every string a person may read in a message body."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k not in NOT_TEXT:
                yield from words(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from words(item, key)
    elif isinstance(node, str):
        yield node


def rule_syntax_in(body: Any) -> list[str]:
    return [text for text in words(body) if RULE_SYNTAX.search(text)]


def test_the_scanner_finds_rule_clauses() -> None:
    for clause in (
        'municipality == "131032"',
        "child.age_months < 6",
        "pregnant == true or child.age < 2",
        "・(household_income ?? 0) < 5000000",
        "'131130'",
    ):
        assert rule_syntax_in({"text": clause}), clause
    for prose in (
        "Tokyo and Shibuya, or Minato: 3 to 4 months",
        "baby goods and childcare services for every child born on or after 1 April 2025",
    ):
        assert rule_syntax_in({"text": prose}) == []


class Backend:
    """An app backend receiving callbacks."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(json.loads(await request.read()))
        return web.json_response({}, status=204)


async def test_no_outgoing_body_carries_rule_syntax(line_world: LineWorld) -> None:
    from hagukumi.app import NOTICES
    from notifier.models import Notice
    from notifier.sending import send_due
    from registry.auth import create_key
    from registry.db import transaction
    from registry.http import BACKGROUND
    from registry.models import AppSubscription

    # Two LINE parents with the same child's birth month (one body: a multicast), one in
    # English with another month (a push).
    for user, birth in (("U" + "1" * 32, "2025-06-10"), ("U" + "2" * 32, "2025-06-20")):
        await Parent(line_world, user).onboard("渋谷区", (birth,))
    english = Parent(line_world, "U" + "3" * 32)
    await english.onboard("渋谷区", ("2025-07-01",))
    await english.say("English")
    await line_world.idle()

    base = line_world.webhook_url.rsplit("/line/webhook", 1)[0]
    async with transaction(line_world.sessions) as session:
        _, key = await create_key(session, issuer="131130", role="municipality")
    headers = {"Authorization": f"Bearer {key}"}

    # Two app families: one with a callback, one that reads its inbox.
    backend = Backend()
    receiver = web.Application()
    receiver.router.add_post("/notices", backend.handle)
    server = TestServer(receiver, host="127.0.0.1")
    await server.start_server()
    tokens = []
    for language in ("ja", "en"):
        body = {
            **family("131130", "2025-06-15"),
            "consented_at": "2026-11-20T10:00:00+09:00",
            "language": language,
        }
        async with line_world.http.post(
            f"{base}/api/v1/app/subscribers", json=body, headers=headers
        ) as response:
            assert response.status == 201, await response.text()
            tokens.append(await response.json())
    async with transaction(line_world.sessions) as session:
        row = await session.get(AppSubscription, tokens[0]["id"])
        assert row is not None
        # Registration accepts only https to public hosts; the test backend is on loopback http,
        # which this world's HAGUKUMI_CALLBACK_ALLOW lets the send through to.
        row.callback_url = str(server.make_url("/notices"))
        session.add(row)

    # Shibuya publishes programs whose rules have every kind of clause.
    rules = [
        ('municipality == "131130" and child.age_months < 24', True),
        (
            'prefecture == "130001" and child.birth_date >= d"2025-04-01" and child.class_age <= 2'
            " and (household_income ?? 0) < 99000000 and not (public_assistance ?? false)",
            True,
        ),
        ('municipality in ["131130", "131016"] and child_count >= 1', False),
    ]
    for index, (rule, per_child) in enumerate(rules):
        program = program_body(
            name={"ja": f"渋谷区テスト支援{index}", "en": f"Shibuya test support {index}"},
            eligibility=rule,
            per_child=per_child,
            examples=[],
        )
        async with line_world.http.post(
            f"{base}/api/v1/programs", json=program, headers=headers
        ) as response:
            assert response.status == 201, await response.text()
            created = await response.json()
        async with line_world.http.post(
            f"{base}/api/v1/programs/{created['id']}/publish", headers=headers
        ) as response:
            assert response.status == 200, await response.text()
    await line_world.app[BACKGROUND].drain()

    notices = line_world.app[NOTICES]
    try:
        counts = await send_due(
            line_world.sessions,
            notices.channels,
            now=NOW,
            zone=notices.settings.zone,
            quiet_hours="20:00-08:00",
            digest_at="off",
        )
    finally:
        await server.close()
    assert counts["sent"] >= 4, counts

    sent = [
        r
        for r in await line_world.requests()
        if r["path"].endswith(("/push", "/multicast", "/reply"))
    ]
    paths = {r["path"].rsplit("/", 1)[-1] for r in sent}
    assert {"push", "multicast"} <= paths, paths
    bodies: list[Any] = [r["body"] for r in sent]
    assert len(backend.bodies) >= 1
    bodies.extend(backend.bodies)
    for token in tokens:
        auth = {"Authorization": f"Bearer {token['token']}"}
        async with line_world.http.get(f"{base}/api/v1/app/inbox", headers=auth) as response:
            assert response.status == 200
            inbox = await response.json()
        assert inbox["items"]
        bodies.append(inbox)

    found = [text for body in bodies for text in rule_syntax_in(body)]
    assert found == []
    # And the reasons are there, in words.
    readable = "\n".join(text for body in bodies for text in words(body))
    assert "渋谷区にお住まいです" in readable
    assert "You live in Shibuya Ward" in readable
    assert "お子さまが対象年齢です（生後24か月未満）" in readable
    async with line_world.sessions() as session:
        stored = list((await session.exec(select(Notice).order_by(col(Notice.id)))).all())
    assert all("why" not in (n.payload or {}) for n in stored)


async def test_english_chat_cards_keep_whole_sentences(line_world: LineWorld) -> None:
    from tests.bot.parent import texts_of

    parent = Parent(line_world, "U" + "4" * 32)
    # A baby, a toddler and a schoolchild: most demo programs have a card.
    await parent.onboard("八王子市", ("2026-09-01", "2024-05-10", "2019-06-01"))
    await parent.say("English")
    shown = await parent.postback("a=menu.programs")
    text = texts_of(shown)
    assert "Support you can get" in text or "Why it fits" in text
    lines = text.splitlines()
    assert [line for line in lines if line.endswith("…")] == []
    assert [line for line in lines if rule_syntax_in({"text": line})] == []
