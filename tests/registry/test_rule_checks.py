"""Costly rules through the REST door: refused with 422 naming the clause, checked off the event
loop in worker processes under a hard time limit, busy workers answered 503."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest

from hagukumi.settings import Settings
from registry.api import RULE_CHECKER
from registry.rule_checks import RuleCheckTimeout
from tests.conftest import TODAY
from tests.factories import family, program_body

CATASTROPHIC = "'ccccccccccccccccccccccccccc!' =~ '(c+)+$'"
NESTED = "[a for a in children if [b for b in children if b.age < a.age].length > 0].length > 0"
# Accepted (within the work bound), yet slow enough with 50 examples of 20 children each to
# outrun a time limit of 50 ms.
HEAVY = (
    "[a for a in children if [b for b in children if b.age >= a.age - 99].length > 99].length > 0"
)


def _twenty_children() -> dict[str, Any]:
    births = [f"{2008 + i % 18}-{1 + i % 12:02d}-01" for i in range(20)]
    return family("131130", *births)


def _examples(count: int) -> list[dict[str, Any]]:
    return [
        {"family": _twenty_children(), "date": "2026-11-26", "eligible": False}
        for _ in range(count)
    ]


async def _client_with(settings: Settings, aiohttp_client: Any, **changes: Any) -> Any:
    from hagukumi.app import create_app

    changed = settings.model_copy(update=changes)
    return await aiohttp_client(create_app(changed, today=lambda: TODAY))


async def test_validate_refuses_a_catastrophic_regex_naming_the_clause(
    client: Any, make_key: Any
) -> None:
    body = program_body(eligibility=f"municipality == '131130' and {CATASTROPHIC}")
    body["per_child"] = False
    response = await client.post(
        "/api/v1/programs/validate", json=body, headers=await make_key("131130")
    )
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "rule_too_costly"
    assert error["message"].startswith("rule too costly: " + CATASTROPHIC)
    assert error["details"][0]["clause"] == CATASTROPHIC
    # the server was not held: it still answers
    assert (await client.get("/healthz")).status == 200


async def test_create_refuses_nested_comprehensions_per_child(client: Any, make_key: Any) -> None:
    body = program_body(eligibility=f"child.age < 3 and {NESTED}")
    response = await client.post("/api/v1/programs", json=body, headers=await make_key("131130"))
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "rule_too_costly"
    assert error["details"][0]["clause"] == NESTED
    assert "evaluation steps per family" in error["details"][0]["reason"]


async def test_patch_cannot_sneak_a_costly_rule_in(client: Any, make_key: Any) -> None:
    shibuya = await make_key("131130")
    created = await client.post("/api/v1/programs", json=program_body(), headers=shibuya)
    assert created.status == 201
    pid = (await created.json())["id"]
    response = await client.patch(
        f"/api/v1/programs/{pid}",
        json={"eligibility": "municipality =~ '(a)\\\\1'", "per_child": False},
        headers=shibuya,
    )
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "rule_too_costly"


async def test_examples_are_capped(client: Any, make_key: Any) -> None:
    body = program_body(eligibility="child.age < 3", examples=_examples(51))
    response = await client.post(
        "/api/v1/programs/validate", json=body, headers=await make_key("131130")
    )
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "too_many_examples" and "at most 50" in error["message"]


async def test_checks_run_in_another_process_and_healthz_answers_meanwhile(
    client: Any,
) -> None:
    checker = client.app[RULE_CHECKER]
    assert await checker.run(os.getpid) != os.getpid()
    busy = asyncio.create_task(checker.run(time.sleep, 20))
    await asyncio.sleep(0.05)
    answered = await client.get("/healthz")
    assert answered.status == 200
    assert not busy.done()  # the health check did not wait for the rule check
    busy.cancel()  # stops the worker running it
    with pytest.raises(asyncio.CancelledError):
        await busy


async def test_a_check_over_its_time_limit_is_stopped(
    settings: Settings, aiohttp_client: Any
) -> None:
    client = await _client_with(settings, aiohttp_client, rule_time_limit=0.5)
    checker = client.app[RULE_CHECKER]
    started = time.monotonic()
    with pytest.raises(RuleCheckTimeout):
        await checker.run(time.sleep, 60)
    assert time.monotonic() - started < 30  # generous: the point is it did not sleep 60 s
    assert await checker.run(os.getpid) != os.getpid()  # a fresh worker took its place


async def test_a_slow_accepted_rule_answers_422_naming_its_clause(
    settings: Settings, aiohttp_client: Any, make_key: Any
) -> None:
    client = await _client_with(settings, aiohttp_client, rule_time_limit=0.05)
    body = program_body(eligibility=HEAVY, per_child=False, examples=_examples(50))
    response = await client.post(
        "/api/v1/programs/validate", json=body, headers=await make_key("131130")
    )
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "rule_too_costly"
    assert error["details"][0]["clause"] == HEAVY
    assert "longer than 0.05 s" in error["details"][0]["reason"]


async def test_busy_checkers_answer_503(client: Any, make_key: Any) -> None:
    checker = client.app[RULE_CHECKER]
    hogs = [asyncio.create_task(checker.run(time.sleep, 30)) for _ in range(checker.capacity)]
    await asyncio.sleep(0.05)
    try:
        response = await client.post(
            "/api/v1/programs/validate", json=program_body(), headers=await make_key("131130")
        )
        assert response.status == 503
        assert (await response.json())["error"]["code"] == "busy"
        assert response.headers["Retry-After"]
    finally:
        for hog in hogs:
            hog.cancel()
        await asyncio.gather(*hogs, return_exceptions=True)
    response = await client.post(
        "/api/v1/programs/validate", json=program_body(), headers=await make_key("131130")
    )
    assert response.status == 200


async def test_a_costly_rule_published_before_the_checks_is_left_out(
    client: Any, sessions: Any
) -> None:
    from registry import programs as repo
    from registry.db import transaction
    from registry.schemas import ProgramIn

    async with transaction(sessions) as session:
        for eligibility in (f"municipality == '131130' and {NESTED}", "child_count >= 1"):
            data = ProgramIn.model_validate(program_body(eligibility=eligibility, per_child=True))
            row = await repo.create_program(session, data)
            await repo.set_status(session, row, "published")
    response = await client.post(
        "/api/v1/eligibility", json={"family": _twenty_children(), "date": "2026-11-26"}
    )
    assert response.status == 200, await response.text()
    rules = [p["explanation"]["rule"] for p in (await response.json())["programs"]]
    assert rules == ["child_count >= 1"]
