"""The `hagukumi` command line, run as an operator would (same settings as the server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hagukumi.cli import main
from tests.conftest import shared_path


@pytest.fixture
def cli(database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `hagukumi ARGS...` against the test's database; returns (exit code, out, err)."""
    monkeypatch.setenv("HAGUKUMI_DATABASE_URL", database_url)
    monkeypatch.setenv("HAGUKUMI_REDIS_URL", redis_url)

    def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_keys_create_list_revoke(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli("keys", "create", "--issuer", "131130", "--name", "Shibuya", capsys=capsys)
    assert code == 0
    key = out.strip().splitlines()[-1]
    assert key.startswith("hgk_") and " " not in key

    code, out, _ = cli("keys", "list", capsys=capsys)
    assert code == 0
    assert "131130" in out and "active" in out and "Shibuya" in out
    assert key not in out  # keys are stored hashed and never shown again

    code, out, _ = cli("keys", "revoke", "1", capsys=capsys)
    assert code == 0
    _, out, _ = cli("keys", "list", capsys=capsys)
    assert "revoked" in out


def test_keys_create_rejects_bad_issuers(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli("keys", "create", "--issuer", "131131", capsys=capsys)
    assert code == 2 and "check digit" in err
    code, _, err = cli("keys", "create", "--issuer", "011002", capsys=capsys)
    assert code == 2 and "unknown issuer" in err
    code, _, err = cli("keys", "create", "--issuer", "130001", capsys=capsys)
    assert code == 2 and "--role prefecture" in err
    code, out, _ = cli(
        "keys", "create", "--issuer", "130001", "--role", "prefecture", capsys=capsys
    )
    assert code == 0


def test_eligibility_command(
    cli: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, sessions: Any
) -> None:
    import asyncio

    from hagukumi.demo import demo_programs
    from registry import programs as repo
    from registry.db import transaction

    async def publish_demo() -> None:
        async with transaction(sessions) as session:
            for data in demo_programs():
                row = await repo.create_program(session, data, source="demo")
                await repo.set_status(session, row, "published")

    asyncio.run(publish_demo())
    family = tmp_path / "family.json"
    family.write_text(
        json.dumps({"municipality": "131130", "children": [{"birth_date": "2025-06-01"}]})
    )
    code, out, _ = cli("eligibility", str(family), "--date", "2026-11-26", capsys=capsys)
    assert code == 0, out
    assert "児童手当" in out and "018サポート" in out
    code, out, _ = cli("eligibility", str(family), "--date", "2026-11-26", "--json", capsys=capsys)
    answer = json.loads(out)
    assert answer["date"] == "2026-11-26"
    assert any(p["name"]["ja"] == "児童手当" and p["children"] == [0] for p in answer["programs"])

    family.write_text(json.dumps({"municipality": "131130", "children": [{"birth": "x"}]}))
    code, _, err = cli("eligibility", str(family), capsys=capsys)
    assert code == 2 and "children.0" in err
    code, _, err = cli("eligibility", str(tmp_path / "missing.json"), capsys=capsys)
    assert code == 2 and "cannot read" in err


def test_import_registry_twice_updates_instead_of_duplicating(
    cli: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(shared_path("data", "registry").glob("*.json"))
    code, first, _ = cli("import-registry", *map(str, files), capsys=capsys)
    assert code == 0
    assert "created" in first and "[1/" in first  # progress, then counts
    code, second, _ = cli("import-registry", *map(str, files), capsys=capsys)
    assert code == 0
    assert "unchanged" in second
    assert "0 created, 0 updated, 39 unchanged" in second


def test_commands_refuse_a_database_behind_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HAGUKUMI_DATABASE_URL", f"sqlite:///{tmp_path / 'new.sqlite3'}")
    assert main(["keys", "list"]) == 2
    assert "hagukumi migrate" in capsys.readouterr().err
    assert main(["migrate"]) == 0
    assert main(["keys", "list"]) == 0


def test_bad_database_url_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HAGUKUMI_DATABASE_URL", "mysql://nobody@localhost/x")
    assert main(["keys", "list"]) == 2
    assert "unsupported database" in capsys.readouterr().err
