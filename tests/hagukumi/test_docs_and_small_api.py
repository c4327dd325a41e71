"""Small things a user of the CLI and the API notices (issue 8, point 16)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hagukumi.cli import main


@pytest.fixture
def cli(database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `hagukumi ARGS...` against the test's database; returns (exit code, out, err)."""
    monkeypatch.setenv("HAGUKUMI_DATABASE_URL", database_url)
    monkeypatch.setenv("HAGUKUMI_REDIS_URL", redis_url)

    def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse refuses the arguments
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


FAMILY = {"municipality": "131130", "children": [{"birth_date": "2025-06-01"}]}


def test_eligibility_takes_the_date_written_in_the_file(
    cli: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    request = tmp_path / "request.json"
    # The API's request body, saved to a file, answers for its own date.
    request.write_text(json.dumps({"family": FAMILY, "date": "2026-04-01"}))
    code, out, err = cli("eligibility", str(request), "--json", capsys=capsys)
    assert code == 0, err
    assert json.loads(out)["date"] == "2026-04-01"
    code, out, _ = cli("eligibility", str(request), capsys=capsys)
    assert out.startswith("2026-04-01:")
    # A plain family file may carry its date too; --date still wins over the file.
    plain = tmp_path / "family.json"
    plain.write_text(json.dumps({**FAMILY, "date": "2026-05-02"}))
    code, out, _ = cli("eligibility", str(plain), "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["date"] == "2026-05-02"
    code, out, _ = cli("eligibility", str(plain), "--date", "2026-11-26", "--json", capsys=capsys)
    assert json.loads(out)["date"] == "2026-11-26"


def test_a_bad_date_says_the_format_expected(
    cli: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"family": FAMILY, "date": "2026/04/01"}))
    code, _, err = cli("eligibility", str(request), capsys=capsys)
    assert code == 2 and "expected YYYY-MM-DD" in err
    request.write_text(json.dumps({"family": FAMILY}))
    code, _, err = cli("eligibility", str(request), "--date", "R8.4.1", capsys=capsys)
    assert code == 2 and "expected YYYY-MM-DD" in err
    bad_child = {"municipality": "131130", "children": [{"birth_date": "2025年6月1日"}]}
    request.write_text(json.dumps(bad_child))
    code, _, err = cli("eligibility", str(request), capsys=capsys)
    assert code == 2 and "children.0.birth_date: expected a date as YYYY-MM-DD" in err


async def test_api_date_errors_say_the_format_expected(client: Any) -> None:
    reiwa = {**FAMILY, "children": [{"birth_date": "令和7年6月1日"}]}
    for body in (
        {"family": FAMILY, "date": "2026/11/26"},
        {"family": reiwa, "date": "2026-11-26"},
    ):
        response = await client.post("/api/v1/eligibility", json=body)
        assert response.status == 422
        details = (await response.json())["error"]["details"]
        assert any("expected a date as YYYY-MM-DD" in d["reason"] for d in details), details


async def test_error_bodies_keep_japanese_readable(client: Any) -> None:
    response = await client.get("/api/v1/programs/渋谷区")
    assert response.status == 404
    raw = await response.text()
    assert "渋谷区" in raw and "\\u" not in raw
    assert response.headers["Content-Type"].startswith("application/json")
    assert (await response.json())["error"]["code"] == "not_found"


async def test_openapi_lists_every_route_the_server_answers(client: Any) -> None:
    spec = await (await client.get("/openapi.json")).json()
    documented = {
        (method.upper(), path) for path, item in spec["paths"].items() for method in item
    }
    served = set()
    for route in client.server.app.router.routes():
        resource = route.resource
        if resource is None or route.method in {"HEAD", "*"}:
            continue  # aiohttp adds HEAD to every GET by itself
        if resource.canonical.startswith("/_line"):
            continue  # the sandbox's LINE emulator: LINE's API (LINE's spec), not ours
        if resource.canonical.startswith(("/console", "/quality", "/static/", "/favicon")):
            continue  # web pages for people, not the API
        served.add((route.method, resource.canonical))
    assert served == documented
    for route in [("GET", "/healthz"), ("GET", "/metrics"), ("POST", "/line/webhook")]:
        assert route in documented
    assert "text/plain" in spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    webhook = spec["paths"]["/line/webhook"]["post"]
    assert webhook["parameters"][0]["name"] == "x-line-signature"
    assert {"200", "400", "401"} <= set(webhook["responses"])


def test_import_families_help_shows_a_line_that_imports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from integrations.importers.families import FamilyLine

    with pytest.raises(SystemExit):
        main(["import-families", "--help"])
    text = capsys.readouterr().out
    for name in ("municipality", "children", "consented_at", "line_user_id", "external_id"):
        assert name in text
    example = text[text.index("{") : text.index("}}") + 2]
    line = FamilyLine.model_validate(json.loads(example))
    assert line.external_id == "131130:000123"


def test_readme_documents_port_import_format_and_staff_routes() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "make serve PORT=" in readme
    assert "hagukumi import-families --help" in readme and "external_id" in readme
    for route in ("POST /api/v1/broadcasts", "GET /api/v1/stats/deliveries", "/line/webhook"):
        assert route in readme
