"""`import-families`: families from an existing system, line by line, never crashing."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from integrations.importers.families import FamilyFileError, import_families
from registry import subscriptions as subs
from registry.db import transaction
from registry.models import AppSubscription, Child, Family
from tests.conftest import TODAY

FIXTURE = Path(__file__).parent / "fixtures" / "families.jsonl"
LINE_USER = "U0123456789abcdef0123456789abcdef"
NO_CONSENT_USER = "Ufedcba9876543210fedcba9876543210"
# Consent is checked against the real clock, which moves on after this file was written.
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).isoformat()


async def _run(path: Path, sessions: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    said: list[str] = []
    report = await import_families(path, sessions, progress=said.append, today=TODAY, **kwargs)
    return report, said


async def _count(sessions: Any, model: Any) -> int:
    async with sessions() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def _family(sessions: Any, line_user_id: str) -> Family:
    async with sessions() as session:
        return (
            await session.exec(select(Family).where(Family.line_user_id == line_user_id))
        ).one()


async def test_imports_good_lines_and_reports_bad_ones(sessions: Any, tmp_path: Path) -> None:
    secrets_out = tmp_path / "secrets.jsonl"
    report, _ = await _run(FIXTURE, sessions, secrets_out=secrets_out)
    assert (report.created, report.updated, report.skipped, report.errors) == (4, 0, 1, 3)
    assert report.without_consent == 2 and report.subscriptions == 2
    problems = dict(report.rejected)
    assert sorted(problems) == [3, 4, 5]
    assert "children.0.birth_date" in problems[3]
    assert "line_user_id" in problems[4]
    assert "not JSON" in problems[5]
    rendered = report.render()
    assert "4 created, 0 updated, 1 skipped, 3 errors" in rendered
    assert "line 4: line_user_id" in rendered
    assert "u-not-a-line-id" not in rendered  # reasons never echo what a line held

    consenting = await _family(sessions, LINE_USER)
    assert consenting.state == "active" and consenting.onboarded_at is not None
    assert consenting.consented_at == datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
    async with sessions() as session:
        children = (
            await session.exec(select(Child).where(Child.family_id == consenting.id))
        ).all()
        app_family = (
            await session.exec(select(Family).where(Family.municipality == "132012"))
        ).one()
    assert sorted(c.daycare for c in children) == ["enrolled", "none"]
    assert app_family.line_user_id is None and app_family.preferences == {"channel": "app"}
    assert app_family.language == "en"

    silent = await _family(sessions, NO_CONSENT_USER)
    assert silent.state == "new" and silent.consented_at is None and silent.onboarded_at is None
    assert silent.pregnant is True and str(silent.due_date) == "2027-03-01"


async def test_secrets_go_to_a_private_file(sessions: Any, tmp_path: Path) -> None:
    secrets_out = tmp_path / "secrets.jsonl"
    report, _ = await _run(FIXTURE, sessions, secrets_out=secrets_out)
    assert stat.S_IMODE(secrets_out.stat().st_mode) == 0o600
    entries = [json.loads(line) for line in secrets_out.read_text().splitlines()]
    assert [e["line"] for e in entries] == [2, 8]
    assert entries[1]["line_user_id"] == "U11111111111111111111111111111111"
    async with sessions() as session:
        for entry in entries:
            found = await subs.find_by_token(session, entry["token"])
            assert found is not None and found.id == entry["subscription_id"]
            assert found.secret == entry["secret"] and found.family_id == entry["family_id"]
    assert not report.warnings


async def test_without_secrets_out_the_report_warns(sessions: Any) -> None:
    report, _ = await _run(FIXTURE, sessions)
    assert report.subscriptions == 2
    assert "--secrets-out" in report.render()


async def test_a_second_import_updates_instead_of_duplicating(
    sessions: Any, tmp_path: Path
) -> None:
    await _run(FIXTURE, sessions)
    first = await _family(sessions, LINE_USER)
    changed = tmp_path / "changed.jsonl"
    lines = FIXTURE.read_text().splitlines()
    record = json.loads(lines[0])
    record["children"] = [{"birth_date": "2024-05-01", "daycare": "applying"}]
    lines[0] = json.dumps(record)
    changed.write_text("\n".join(lines) + "\n")

    report, _ = await _run(changed, sessions)
    # Lines with a line_user_id update their family; the app line without one is added again.
    assert (report.created, report.updated, report.errors) == (1, 3, 3)
    assert report.subscriptions == 1  # the stored subscription keeps its token
    again = await _family(sessions, LINE_USER)
    assert again.id == first.id
    async with sessions() as session:
        children = (await session.exec(select(Child).where(Child.family_id == again.id))).all()
    assert [c.daycare for c in children] == ["applying"]
    assert await _count(sessions, Family) == 5
    assert await _count(sessions, AppSubscription) == 3


async def test_a_family_the_bot_met_first_is_completed(sessions: Any, tmp_path: Path) -> None:
    async with transaction(sessions) as session:
        session.add(Family(line_user_id=LINE_USER, state="new"))
    report, _ = await _run(FIXTURE, sessions)
    assert (report.created, report.updated) == (3, 1)
    family = await _family(sessions, LINE_USER)
    assert family.state == "active" and family.municipality == "131130"


async def test_repeated_users_in_one_file_are_one_family(sessions: Any, tmp_path: Path) -> None:
    path = tmp_path / "twice.jsonl"
    line = {"municipality": "131130", "line_user_id": LINE_USER, "consented_at": None}
    path.write_text(json.dumps(line) + "\n" + json.dumps({**line, "language": "en"}) + "\n")
    report, _ = await _run(path, sessions)
    assert (report.created, report.updated) == (1, 1)
    assert (await _family(sessions, LINE_USER)).language == "en"


async def test_odd_lines_never_crash(sessions: Any, tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    good = {"municipality": "131130", "consented_at": "2026-04-01T09:00:00+09:00"}
    path.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps(good).encode()
        + b"\n[1, 2]\n\xff\xfe\n"
        + json.dumps({**good, "municipality": "271004"}).encode()
        + b"\n"
        + json.dumps({**good, "consented_at": "2026-04-01T09:00:00"}).encode()
        + b"\n"
        + json.dumps({**good, "consented_at": TOMORROW}).encode()
        + b"\n"
        + json.dumps({**good, "app": {"issuer": "999999"}}).encode()
        + b"\n"
        + json.dumps(
            {**good, "app": {"issuer": "131130", "callback_url": "http://x.example"}}
        ).encode()
        + b"\n"
        + json.dumps({**good, "household_income": 10**12}).encode()
        + b"\n"
        + json.dumps({**good, "children": [{"birth_date": "2027-01-01"}]}).encode()
        + b"\nnull\n"
    )
    report, _ = await _run(path, sessions)
    assert report.created == 1 and report.errors == 10, report.render()
    reasons = dict(report.rejected)
    assert reasons[2] == "not a JSON object" and reasons[3] == "not UTF-8 text"
    assert "not a served municipality" in reasons[4]
    assert "consented_at" in reasons[5] and "future" in reasons[6]
    assert "app.issuer" in reasons[7] and "callback_url" in reasons[8]
    assert "after today" in reasons[10]


async def test_a_missing_file_is_one_clear_error(sessions: Any, tmp_path: Path) -> None:
    with pytest.raises(FamilyFileError, match="cannot read"):
        await import_families(tmp_path / "absent.jsonl", sessions, progress=None)


async def test_ten_thousand_lines_in_batches_with_progress(sessions: Any, tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    wards = ["131130", "131016", "132012"]
    with path.open("w") as out:
        for i in range(10_000):
            line: dict[str, Any] = {
                "municipality": wards[i % 3],
                "children": [
                    {"birth_date": f"20{10 + i % 15}-0{1 + i % 9}-1{i % 10}"} for _ in range(i % 3)
                ],
                "consented_at": None if i % 10 == 0 else "2026-04-01T09:00:00+09:00",
                "line_user_id": f"U{i:032x}",
            }
            if i % 50 == 0:
                line["app"] = {"issuer": wards[i % 3]}
            if i == 4321:
                line["municipality"] = "999999"
            out.write(json.dumps(line) + "\n")

    report, said = await _run(path, sessions)
    assert (report.created, report.updated, report.skipped, report.errors) == (9999, 0, 0, 1)
    assert report.without_consent == 1000 and report.subscriptions == 200
    assert len(said) == 10 and said[0].startswith("1000 lines:")
    assert await _count(sessions, Family) == 9999
    assert await _count(sessions, Child) == sum(i % 3 for i in range(10_000) if i != 4321)

    report, said = await _run(path, sessions)
    assert (report.created, report.updated, report.errors) == (0, 9999, 1)
    assert await _count(sessions, Family) == 9999
    assert await _count(sessions, AppSubscription) == 200


async def test_import_logs_its_counts_at_info_level(
    sessions: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`hagukumi import-families` logs at INFO: the summary must not crash the command (a
    LogRecord attribute such as `created` used as an extra key once did)."""
    import logging

    caplog.set_level(logging.INFO, logger="integrations.importers.families")
    report, _ = await _run(FIXTURE, sessions, secrets_out=tmp_path / "secrets.jsonl")
    [record] = [r for r in caplog.records if r.getMessage() == "families imported"]
    assert (record.families_created, record.errors) == (report.created, report.errors)


async def test_lines_without_a_line_user_id_are_matched_by_external_id(
    sessions: Any, tmp_path: Path
) -> None:
    path = tmp_path / "app-families.jsonl"
    app = {"issuer": "132012", "callback_url": "https://app.example/hachioji"}
    lines = [
        {
            "municipality": "132012",
            "children": [{"birth_date": "2025-01-10"}],
            "consented_at": "2026-05-01T12:00:00Z",
            "external_id": "132012:000123",
            "app": app,
        },
        {"municipality": "131130", "external_id": "131130:A-9", "consented_at": None},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    secrets_out = tmp_path / "secrets.jsonl"
    report, _ = await _run(path, sessions, secrets_out=secrets_out)
    assert (report.created, report.updated, report.errors) == (2, 0, 0)
    assert "neither line_user_id nor external_id" not in report.render()
    # The app backend maps the tokens to its own ids.
    secrets = [json.loads(line) for line in secrets_out.read_text().splitlines()]
    assert [entry["external_id"] for entry in secrets] == ["132012:000123"]

    lines[0]["children"] = [{"birth_date": "2025-01-10", "daycare": "applying"}]
    lines[0]["language"] = "en"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report, _ = await _run(path, sessions)
    assert (report.created, report.updated, report.errors) == (0, 2, 0)
    assert report.subscriptions == 0  # the stored subscription keeps its token
    assert await _count(sessions, Family) == 2
    assert await _count(sessions, AppSubscription) == 1
    async with sessions() as session:
        family = (await session.exec(select(Family).where(Family.municipality == "132012"))).one()
        children = (await session.exec(select(Child).where(Child.family_id == family.id))).all()
    assert family.language == "en"
    assert family.preferences == {"channel": "app", "external_id": "132012:000123"}
    assert [c.daycare for c in children] == ["applying"]


async def test_external_id_twice_in_one_file_is_one_family(sessions: Any, tmp_path: Path) -> None:
    path = tmp_path / "twice.jsonl"
    line = {"municipality": "131130", "external_id": "x-1", "consented_at": None}
    path.write_text(json.dumps(line) + "\n" + json.dumps({**line, "language": "en"}) + "\n")
    report, _ = await _run(path, sessions)
    assert (report.created, report.updated) == (1, 1)
    assert await _count(sessions, Family) == 1


async def test_an_external_id_links_the_line_user_it_later_brings(
    sessions: Any, tmp_path: Path
) -> None:
    path = tmp_path / "link.jsonl"
    line = {"municipality": "131130", "external_id": "x-2", "consented_at": None}
    path.write_text(json.dumps(line) + "\n")
    await _run(path, sessions)
    path.write_text(json.dumps({**line, "line_user_id": LINE_USER}) + "\n")
    report, _ = await _run(path, sessions)
    assert (report.created, report.updated) == (0, 1)
    family = await _family(sessions, LINE_USER)
    assert family.preferences == {"external_id": "x-2"}
    assert await _count(sessions, Family) == 1


async def test_a_bad_external_id_is_a_bad_line(sessions: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    line = {"municipality": "131130", "consented_at": None}
    path.write_text(
        json.dumps({**line, "external_id": "has space"})
        + "\n"
        + json.dumps({**line, "external_id": "x" * 65})
        + "\n"
        + json.dumps(line)
        + "\n"
    )
    report, _ = await _run(path, sessions)
    assert (report.created, report.errors) == (1, 2)
    assert all("external_id" in reason for _, reason in report.rejected)
    assert "1 lines have neither line_user_id nor external_id" in report.render()
