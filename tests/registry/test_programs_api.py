"""The program registry through its REST door, as municipality staff use it."""

from __future__ import annotations

from typing import Any

from tests.factories import family, program_body


async def _create(client: Any, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/programs", json=program_body(**overrides), headers=headers
    )
    assert response.status == 201, await response.text()
    return await response.json()


async def test_create_requires_a_key(client: Any) -> None:
    response = await client.post("/api/v1/programs", json=program_body())
    assert response.status == 401
    body = await response.json()
    assert body["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_wrong_key_is_401(client: Any) -> None:
    response = await client.post(
        "/api/v1/programs", json=program_body(), headers={"Authorization": "Bearer hgk_nope"}
    )
    assert response.status == 401


async def test_municipality_key_is_scoped_to_its_code(client: Any, make_key: Any) -> None:
    hachioji = await make_key("132012")
    response = await client.post("/api/v1/programs", json=program_body(), headers=hachioji)
    assert response.status == 403
    assert "131130" in (await response.json())["error"]["message"]


async def test_prefecture_and_operator_scopes(client: Any, make_key: Any) -> None:
    tokyo = await make_key("130001", "prefecture")
    operator = await make_key("000000", "operator")
    assert (
        await client.post("/api/v1/programs", json=program_body(), headers=tokyo)
    ).status == 201
    national = program_body(issuer="000000", eligibility="child.age < 3")
    assert (await client.post("/api/v1/programs", json=national, headers=tokyo)).status == 403
    assert (await client.post("/api/v1/programs", json=national, headers=operator)).status == 201


async def test_draft_lifecycle_publish_version_archive(client: Any, make_key: Any) -> None:
    shibuya = await make_key("131130")
    created = await _create(client, shibuya)
    assert created["status"] == "draft" and created["version"] == 1
    assert created["source"] == "api"
    pid = created["id"]

    # A draft is invisible without a key that may manage it.
    assert (await client.get(f"/api/v1/programs/{pid}")).status == 404
    assert (await client.get(f"/api/v1/programs/{pid}", headers=shibuya)).status == 200

    published = await client.post(f"/api/v1/programs/{pid}/publish", headers=shibuya)
    assert published.status == 200
    assert (await published.json())["status"] == "published"
    assert (await client.get(f"/api/v1/programs/{pid}")).status == 200

    changed = await client.patch(
        f"/api/v1/programs/{pid}", json={"benefit": "月額6,000円"}, headers=shibuya
    )
    assert changed.status == 200, await changed.text()
    body = await changed.json()
    assert body["version"] == 2 and body["benefit"] == "月額6,000円"

    versions = await (await client.get(f"/api/v1/programs/{pid}/versions")).json()
    assert [v["version"] for v in versions["items"]] == [1, 2]
    first = await (await client.get(f"/api/v1/programs/{pid}/versions/1")).json()
    assert first["program"]["benefit"] == "月額5,000円"

    assert (await client.delete(f"/api/v1/programs/{pid}", headers=shibuya)).status == 409
    archived = await client.post(f"/api/v1/programs/{pid}/archive", headers=shibuya)
    assert (await archived.json())["status"] == "archived"
    assert (await client.get(f"/api/v1/programs/{pid}")).status == 404
    assert (await client.delete(f"/api/v1/programs/{pid}", headers=shibuya)).status == 204
    assert (await client.get(f"/api/v1/programs/{pid}", headers=shibuya)).status == 404


async def test_publish_refuses_a_failing_example(client: Any, make_key: Any) -> None:
    shibuya = await make_key("131130")
    examples = program_body()["examples"]
    examples[1]["eligible"] = True  # a 6-year-old is not under 3: this example is wrong
    created = await _create(client, shibuya, examples=examples)
    response = await client.post(f"/api/v1/programs/{created['id']}/publish", headers=shibuya)
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "examples_failed"
    assert error["details"][0]["location"] == "examples[1]"


async def test_changing_a_published_program_must_keep_examples(client: Any, make_key: Any) -> None:
    shibuya = await make_key("131130")
    pid = (await _create(client, shibuya))["id"]
    await client.post(f"/api/v1/programs/{pid}/publish", headers=shibuya)
    response = await client.patch(
        f"/api/v1/programs/{pid}",
        json={"eligibility": 'municipality == "131130" and child.age < 1'},
        headers=shibuya,
    )
    assert response.status == 422
    current = await (await client.get(f"/api/v1/programs/{pid}")).json()
    assert current["version"] == 1


async def test_bad_rules_are_rejected_with_where_and_why(client: Any, make_key: Any) -> None:
    shibuya = await make_key("131130")
    typo = await client.post(
        "/api/v1/programs",
        json=program_body(eligibility="child.class_ag <= 5"),
        headers=shibuya,
    )
    assert typo.status == 422
    error = (await typo.json())["error"]
    assert error["code"] == "invalid_rule"
    assert "class_age" in str(error["details"])

    mismatch = await client.post(
        "/api/v1/programs",
        json=program_body(eligibility='child.class_age == "3"'),
        headers=shibuya,
    )
    assert mismatch.status == 422
    syntax = await client.post(
        "/api/v1/programs", json=program_body(eligibility="child.age <"), headers=shibuya
    )
    assert syntax.status == 422


async def test_validate_saves_nothing(client: Any, make_key: Any) -> None:
    anonymous = await client.post("/api/v1/programs/validate", json=program_body())
    assert anonymous.status == 401
    response = await client.post(
        "/api/v1/programs/validate", json=program_body(), headers=await make_key("131130")
    )
    report = await response.json()
    assert response.status == 200 and report["valid"] is True
    assert [e["passed"] for e in report["examples"]] == [True, True]
    listing = await (
        await client.get(
            "/api/v1/programs?status=all", headers=await make_key("000000", "operator")
        )
    ).json()
    assert listing["total"] == 0


async def test_listing_filters_and_pages(client: Any, make_key: Any) -> None:
    shibuya = await make_key("131130")
    hachioji = await make_key("132012")
    ids = []
    for n in range(3):
        created = await _create(client, shibuya, name={"ja": f"渋谷の支援{n}"}, category=["gift"])
        ids.append(created["id"])
    other = await _create(
        client,
        hachioji,
        issuer="132012",
        eligibility='municipality == "132012"',
        per_child=False,
        examples=[],
        name={"ja": "八王子の相談", "en": "Hachioji consultation"},
        category=["consultation"],
    )
    for pid in [*ids[:2], other["id"]]:
        owner = hachioji if pid == other["id"] else shibuya
        assert (await client.post(f"/api/v1/programs/{pid}/publish", headers=owner)).status == 200

    public = await (await client.get("/api/v1/programs")).json()
    assert public["total"] == 3
    by_issuer = await (await client.get("/api/v1/programs?issuer=132012")).json()
    assert [p["id"] for p in by_issuer["items"]] == [other["id"]]
    by_category = await (await client.get("/api/v1/programs?category=gift")).json()
    assert by_category["total"] == 2
    by_word = await (await client.get("/api/v1/programs", params={"q": "hachioji"})).json()
    assert by_word["total"] == 1
    paged = await (await client.get("/api/v1/programs?limit=1&offset=1")).json()
    assert paged["total"] == 3 and len(paged["items"]) == 1
    drafts = await (await client.get("/api/v1/programs?status=draft")).json()
    assert drafts["total"] == 0  # no key: drafts stay hidden
    own = await (await client.get("/api/v1/programs?status=all", headers=shibuya)).json()
    assert own["total"] == 4  # its own draft plus every published program
    too_many = await client.get("/api/v1/programs?limit=1001")
    assert too_many.status == 422


async def test_malformed_and_oversized_bodies(client: Any, make_key: Any) -> None:
    shibuya = await make_key("131130")
    bad_json = await client.post(
        "/api/v1/programs",
        data=b"{not json",
        headers={**shibuya, "Content-Type": "application/json"},
    )
    assert bad_json.status == 400
    assert (await bad_json.json())["error"]["code"] == "malformed_json"
    wrong_type = await client.post(
        "/api/v1/programs", json=program_body(per_child="sometimes"), headers=shibuya
    )
    assert wrong_type.status == 422
    huge = await client.post(
        "/api/v1/programs",
        data=b'{"x": "' + b"a" * 2_000_000 + b'"}',
        headers={**shibuya, "Content-Type": "application/json"},
    )
    assert huge.status == 413
    bad_code = await client.post(
        "/api/v1/programs", json=program_body(issuer="131131"), headers=shibuya
    )
    assert bad_code.status == 422
    assert "check digit" in await bad_code.text()


async def test_unknown_ids_are_404(client: Any) -> None:
    assert (await client.get("/api/v1/programs/999999")).status == 404
    assert (await client.get("/api/v1/programs/abc")).status == 404
    assert (await client.get("/api/v1/nothing")).status == 404


async def test_revoked_key_is_refused(client: Any, sessions: Any, make_key: Any) -> None:
    from registry.auth import list_keys, revoke_key
    from registry.db import transaction

    headers = await make_key("131130")
    async with transaction(sessions) as session:
        key = (await list_keys(session))[-1]
        await revoke_key(session, key.id)
    response = await client.post("/api/v1/programs", json=program_body(), headers=headers)
    assert response.status == 401


async def test_rate_limit_per_key(settings: Any, aiohttp_client: Any, make_key: Any) -> None:
    from hagukumi.app import create_app

    limited = settings.model_copy(update={"api_rate_limit": "1/3"})
    client = await aiohttp_client(create_app(limited))
    headers = await make_key("131130")
    statuses = [(await client.get("/api/v1/programs", headers=headers)).status for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3] == 429
    response = await client.get("/api/v1/programs", headers=headers)
    assert int(response.headers["Retry-After"]) >= 1
    # Another key has its own budget.
    other = await make_key("132012")
    assert (await client.get("/api/v1/programs", headers=other)).status == 200


async def test_eligibility_answers_with_children_and_explanation(
    client: Any, make_key: Any
) -> None:
    shibuya = await make_key("131130")
    pid = (await _create(client, shibuya))["id"]
    await client.post(f"/api/v1/programs/{pid}/publish", headers=shibuya)
    response = await client.post(
        "/api/v1/eligibility",
        json={"family": family("131130", "2020-05-01", "2025-02-01"), "date": "2026-11-26"},
    )
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["date"] == "2026-11-26"
    [program] = [p for p in answer["programs"] if p["id"] == pid]
    assert program["children"] == [1]
    assert any("child.age < 3" in part for part in program["explanation"]["held"])

    elsewhere = await client.post(
        "/api/v1/eligibility",
        json={"family": family("132012", "2025-02-01"), "date": "2026-11-26"},
    )
    assert pid not in [p["id"] for p in (await elsewhere.json())["programs"]]

    too_old = await client.post(
        "/api/v1/eligibility",
        json={"family": family("131130", "2020-05-01"), "date": "2026-11-26"},
    )
    near = (await too_old.json())["near_misses"]
    assert [n["id"] for n in near] == [pid]
    assert any("child.age < 3" in f for f in near[0]["failed"])


async def test_eligibility_rejects_bad_profiles(client: Any) -> None:
    derived = await client.post(
        "/api/v1/eligibility",
        json={"family": {**family("131130", "2020-05-01"), "child_count": 1}},
    )
    assert derived.status == 422
    unknown_town = await client.post(
        "/api/v1/eligibility", json={"family": family("011002", "2020-05-01")}
    )
    assert unknown_town.status == 422
    unborn = await client.post(
        "/api/v1/eligibility",
        json={"family": family("131130", "2027-05-01"), "date": "2026-11-26"},
    )
    assert unborn.status == 422
    bad_date = await client.post(
        "/api/v1/eligibility", json={"family": family("131130"), "date": "2026-02-30"}
    )
    assert bad_date.status == 422


async def test_nul_characters_are_refused_not_a_server_error(client: Any, make_key: Any) -> None:
    """PostgreSQL cannot store U+0000: a query or body holding one is the client's 422."""
    shibuya = await make_key("131130")
    response = await client.get("/api/v1/programs?category=child%00care", headers=shibuya)
    assert response.status == 422
    details = (await response.json())["error"]["details"]
    assert details == [{"location": "query.category", "reason": details[0]["reason"]}]
    assert "NUL" in details[0]["reason"]

    body = program_body(name={"ja": "おむつ\u0000応援", "en": "Diapers"})
    response = await client.post("/api/v1/programs", json=body, headers=shibuya)
    assert response.status == 422
    assert (await response.json())["error"]["details"][0]["location"] == "body.name.ja"
    listed = await client.get("/api/v1/programs", headers=shibuya)
    assert listed.status == 200
