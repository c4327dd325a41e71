"""A program's push policy through the API: written, read back, changed, refused when wrong."""

from __future__ import annotations

from typing import Any

from tests.factories import program_body


async def _create(client: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/programs", json=program_body(**fields), headers=headers)
    assert response.status == 201, await response.text()
    return await response.json()


async def test_push_round_trips_and_says_whether_the_issuer_chose_it(
    client: Any, make_key: Any
) -> None:
    headers = await make_key("131130")
    plain = await _create(client, headers)
    assert (plain["push"], plain["push_explicit"]) == ("proactive", False)

    seminar = await _create(client, headers, push="on_request")
    assert (seminar["push"], seminar["push_explicit"]) == ("on_request", True)
    response = await client.get(f"/api/v1/programs/{seminar['id']}", headers=headers)
    assert (await response.json())["push"] == "on_request"
    response = await client.get("/api/v1/programs?status=draft", headers=headers)
    listed = {p["id"]: p["push"] for p in (await response.json())["items"]}
    assert listed == {plain["id"]: "proactive", seminar["id"]: "on_request"}

    # Published, then changed: the new version carries the policy, the old one keeps its own.
    response = await client.post(f"/api/v1/programs/{plain['id']}/publish", headers=headers)
    assert response.status == 200
    response = await client.patch(
        f"/api/v1/programs/{plain['id']}", json={"push": "on_request"}, headers=headers
    )
    assert response.status == 200, await response.text()
    changed = await response.json()
    assert (changed["push"], changed["push_explicit"], changed["version"]) == (
        "on_request",
        True,
        2,
    )
    response = await client.get(f"/api/v1/programs/{plain['id']}/versions")
    versions = [v["program"]["push"] for v in (await response.json())["items"]]
    assert versions == ["proactive", "on_request"]

    # A change that does not mention push keeps it.
    response = await client.patch(
        f"/api/v1/programs/{seminar['id']}", json={"benefit": "無料"}, headers=headers
    )
    assert (await response.json())["push"] == "on_request"


async def test_a_wrong_push_policy_is_a_clear_422(client: Any, make_key: Any) -> None:
    headers = await make_key("131130")
    response = await client.post(
        "/api/v1/programs", json=program_body(push="always"), headers=headers
    )
    assert response.status == 422
    error = (await response.json())["error"]
    assert "push" in str(error["details"])
    program = await _create(client, headers)
    for wrong in ("sometimes", None, True):
        response = await client.patch(
            f"/api/v1/programs/{program['id']}", json={"push": wrong}, headers=headers
        )
        assert response.status == 422, (wrong, await response.text())
        assert "push" in str((await response.json())["error"]["details"])


async def test_the_openapi_document_describes_push(client: Any) -> None:
    spec = await (await client.get("/openapi.json")).json()
    text = str(spec)
    assert "'proactive', 'on_request'" in text or "'on_request', 'proactive'" in text
    assert "push_explicit" in text
