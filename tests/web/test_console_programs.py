"""The console's program pages: list, form with its check, preview, publish, versions, audit."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from notifier.audience import count_audience
from notifier.sweep import sweep
from registry import families as fam
from registry import programs as repo
from registry.db import transaction
from registry.models import AppSubscription, ConsoleAudit
from registry.schemas import ProgramIn
from rules.profile import ChildInput
from tests.conftest import TODAY
from tests.factories import program_body

HACHIOJI, SHIBUYA = "132012", "131130"
TOKYO = ZoneInfo("Asia/Tokyo")
RULE = f'municipality == "{HACHIOJI}" and child.age < 6'
EXAMPLES = """\
- date: 2026-11-26
  eligible: true
  note: 1歳の子
  family:
    municipality: "132012"
    children:
      - birth_date: 2025-06-15
- date: 2026-11-26
  eligible: false
  note: 小学生だけの家庭
  family:
    municipality: 132012
    children:
      - birth_date: 2015-06-15
"""


def form(csrf: str, **changes: Any) -> dict[str, Any]:
    """The program form as a browser posts it (Hachioji, per child, under 6)."""
    data: dict[str, Any] = {
        "_csrf": csrf,
        "name_ja": "八王子こども応援金",
        "name_en": "Hachioji child support",
        "summary_ja": "6歳未満の子がいる家庭に",
        "summary_en": "For families with a child under 6",
        "category": "allowance",
        "category_other": "",
        "per_child": "on",
        "eligibility": RULE,
        "benefit": "月額5,000円",
        "reference_url": "https://www.city.hachioji.tokyo.jp/",
        "application_url": "",
        "deadline_kind": "none",
        "deadline": "",
        "deadline_days": "",
        "valid_from": "2026-04-01",
        "valid_to": "",
        "push": "proactive",
        "attribution": "",
        "examples": EXAMPLES,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


async def add_program(sessions: Any, status: str = "draft", **overrides: Any) -> int:
    data = ProgramIn.model_validate(program_body(examples=[], **overrides))
    async with transaction(sessions) as session:
        row = await repo.create_program(session, data)
        if status != "draft":
            await repo.set_status(session, row, status)
        assert row.id is not None
        return row.id


async def add_family(
    sessions: Any,
    user: str,
    municipality: str,
    births: tuple[date, ...],
    *,
    consent: bool = True,
    app: bool = False,
    off: tuple[str, ...] = (),
) -> int:
    async with transaction(sessions) as session:
        family = await fam.get_or_create_line_family(session, user)
        if consent:
            await fam.record_consent(session, family)
        await fam.update_profile(session, family, municipality=municipality)
        await fam.replace_children(session, family, [ChildInput(birth_date=b) for b in births])
        if off:
            await fam.update_preferences(session, family, categories_off=list(off))
        assert family.id is not None
        if app:
            session.add(
                AppSubscription(
                    family_id=family.id, issuer=municipality, token_hash=user * 16, secret="s"
                )
            )
        return family.id


async def seed_families(sessions: Any) -> None:
    """Hachioji: two told (LINE and app), one opted out, one unconsented, one too old; and a
    Shibuya family out of reach."""
    await add_family(sessions, "UAAA", HACHIOJI, (date(2025, 6, 15),))
    await add_family(sessions, "UBBB", HACHIOJI, (date(2024, 5, 1), date(2019, 1, 1)), app=True)
    await add_family(sessions, "UCCC", HACHIOJI, (date(2025, 9, 1),), off=("allowance",))
    await add_family(sessions, "UDDD", HACHIOJI, (date(2025, 9, 1),), consent=False)
    await add_family(sessions, "UEEE", HACHIOJI, (date(2015, 1, 1),))
    await add_family(sessions, "UFFF", SHIBUYA, (date(2025, 1, 1),))


def program_id_of(location: str) -> int:
    found = re.fullmatch(r"/console/programs/(\d+)(\?m=\d{6})?", location)
    assert found, location
    return int(found.group(1))


async def audit_actions(sessions: Any, program_id: int) -> list[str]:
    async with sessions() as session:
        rows = await session.exec(
            select(ConsoleAudit)
            .where(ConsoleAudit.target == f"program {program_id}")
            .order_by(col(ConsoleAudit.id))
        )
        return [r.action for r in rows.all()]


async def test_the_list_shows_only_this_municipalitys_programs_with_search_and_filters(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    published = await add_program(
        sessions, "published", issuer=HACHIOJI, name={"ja": "八王子の手当"}, eligibility=RULE
    )
    checkup = await add_program(
        sessions,
        issuer=HACHIOJI,
        name={"ja": "八王子の乳児健診"},
        category=["health-checkup"],
        eligibility=RULE,
    )
    shibuya = await add_program(sessions, "published", name={"ja": "渋谷の手当"})
    csrf = await signed_in(HACHIOJI, "editor")

    html = await (await client.get("/console/programs")).text()
    assert "八王子の手当" in html and "八王子の乳児健診" in html
    assert "渋谷の手当" not in html
    assert "公開中" in html and "下書き" in html
    found = await (await client.get("/console/programs?q=健診")).text()
    assert "八王子の乳児健診" in found and "八王子の手当" not in found
    only = await (await client.get("/console/programs?status=published")).text()
    assert f"/console/programs/{published}" in only and f"/console/programs/{checkup}" not in only
    by_category = await (await client.get("/console/programs?category=health-checkup")).text()
    assert "八王子の乳児健診" in by_category and "八王子の手当" not in by_category
    english = await (await client.get("/console/programs?lang=en&sort=name")).text()
    assert "Register a new program" in english and "Published" in english

    # Another municipality's program can be neither read nor changed.
    assert (await client.get(f"/console/programs/{shibuya}")).status == 404
    refused = await client.post(
        f"/console/programs/{shibuya}/edit", data=form(csrf), allow_redirects=False
    )
    assert refused.status == 404
    publish = await client.post(
        f"/console/programs/{shibuya}/archive", data={"_csrf": csrf}, allow_redirects=False
    )
    assert publish.status == 404


async def test_a_bad_rule_is_shown_with_its_suggestion_and_nothing_typed_is_lost(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    csrf = await signed_in(HACHIOJI, "editor")
    bad = form(csrf, eligibility=f'municipality == "{HACHIOJI}" and child.agee < 6')
    answer = await client.post("/console/programs/new", data=bad, allow_redirects=False)
    assert answer.status == 422
    html = await answer.text()
    assert "「agee」という項目はありません。「age」のことですか？" in html
    assert 'role="alert"' in html
    assert 'value="八王子こども応援金"' in html  # the typed values are kept
    assert "child.agee &lt; 6" in html
    assert "小学生だけの家庭" in html  # the examples too
    assert (await audit_actions(sessions, 1)) == []
    english = await client.post("/console/programs/new?lang=en", data=bad)
    assert "did you mean &#39;age&#39;?" in await english.text()
    await client.get("/console/?lang=ja")  # back to Japanese (the choice is remembered)

    fixed = await client.post("/console/programs/new", data=form(csrf), allow_redirects=False)
    assert fixed.status == 303
    program_id = program_id_of(fixed.headers["Location"])
    page = await (await client.get(fixed.headers["Location"])).text()
    assert "下書きを保存しました" in page and "八王子こども応援金" in page
    async with sessions() as session:
        row = await repo.get_program(session, program_id)
    assert row is not None and row.status == "draft"
    data = repo.program_in(row)
    assert data.per_child and data.name.en == "Hachioji child support"
    assert [e.family.municipality for e in data.examples] == [HACHIOJI, HACHIOJI]
    assert await audit_actions(sessions, program_id) == ["program.create"]


async def test_a_field_the_api_refuses_is_named_next_to_it(client: Any, signed_in: Any) -> None:
    csrf = await signed_in(HACHIOJI, "editor")
    answer = await client.post(
        "/console/programs/new",
        data=form(
            csrf,
            name_ja="",
            reference_url="http://insecure.example.jp/",
            valid_from="2027-01-01",
            valid_to="2026-01-01",
            examples="- date: [",
        ),
    )
    assert answer.status == 422
    html = await answer.text()
    assert 'id="e-name_ja"' in html and "日本語は必須です" in html
    assert 'id="e-reference_url"' in html
    assert 'id="e-examples"' in html and "YAML" in html
    assert 'value="http://insecure.example.jp/"' in html


async def test_the_live_check_answers_like_the_api(client: Any, signed_in: Any) -> None:
    csrf = await signed_in(HACHIOJI, "editor")
    body = {"eligibility": 'munisipality == "132012"', "per_child": False, "examples": ""}
    refused = await client.post("/console/programs/check", json=body)
    assert refused.status == 403  # no CSRF token
    headers = {"X-CSRF-Token": csrf}
    bad = await (await client.post("/console/programs/check", json=body, headers=headers)).json()
    assert not bad["rule_ok"]
    assert "「municipality」のことですか？" in bad["errors"]["eligibility"]
    syntax = await client.post(
        "/console/programs/check",
        json={**body, "eligibility": 'municipality = "132012"'},
        headers=headers,
    )
    assert "「==」で比べます" in (await syntax.json())["errors"]["eligibility"]
    english = await client.post(
        "/console/programs/check?lang=en",
        json={**body, "eligibility": 'municipality = "132012"'},
        headers=headers,
    )
    assert "compare with '=='" in (await english.json())["errors"]["eligibility"]
    good = await client.post(
        "/console/programs/check",
        json={"eligibility": RULE, "per_child": True, "examples": EXAMPLES, "name_ja": ""},
        headers=headers,
    )
    answer = await good.json()
    assert answer["rule_ok"] and answer["valid"]
    assert [(e["passed"], e["note"]) for e in answer["examples"]] == [
        (True, "1歳の子"),
        (True, "小学生だけの家庭"),
    ]
    # Examples still being typed: the rule is checked all the same.
    typing = await client.post(
        "/console/programs/check",
        json={"eligibility": RULE, "per_child": True, "examples": "- date: 2026-11-"},
        headers=headers,
    )
    half = await typing.json()
    assert half["rule_ok"] and "examples" in half["errors"]


async def test_the_preview_counts_who_the_sweep_would_tell(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    await seed_families(sessions)
    csrf = await signed_in(HACHIOJI, "editor")
    created = await client.post("/console/programs/new", data=form(csrf), allow_redirects=False)
    program_id = program_id_of(created.headers["Location"])

    html = await (await client.get(f"/console/programs/{program_id}/preview")).text()

    def figure(name: str) -> str:
        found = re.search(rf'id="audience-{name}">([^<]+)<', html)
        assert found, name
        return found.group(1)

    assert figure("families") == "2"  # LINE and app; the opted-out family is not told
    assert figure("opted-out") == "1"
    assert figure("matches") == "3"
    assert figure("scanned") == "4"  # consented Hachioji families only
    ages = dict(re.findall(r'<th scope="row">([^<]+)</th><td class="num">(\d+)</td>', html))
    assert ages["1歳"] == "1" and ages["2歳"] == "1" and ages["6〜11歳"] == "0"
    assert ages["LINE"] == "1" and ages["自治体アプリ"] == "1"
    assert "個人は示しません" in html
    assert "<svg" in html

    on_request = await client.post(
        f"/console/programs/{program_id}/edit",
        data=form(csrf, push="on_request"),
        allow_redirects=False,
    )
    assert on_request.status == 303
    html = await (await client.get(f"/console/programs/{program_id}/preview?lang=en")).text()
    assert "nobody is pushed a notice" in html


async def test_the_preview_matches_the_sweeps_dry_run(sessions: Any) -> None:
    await seed_families(sessions)
    household = ProgramIn.model_validate(
        program_body(
            issuer="130001",
            eligibility="child_count >= 1",
            per_child=False,
            examples=[],
            application={"deadline_days_after_birth": 600},
        )
    )
    per_child = ProgramIn.model_validate(
        program_body(issuer=HACHIOJI, eligibility=RULE, examples=[])
    )
    for data in (household, per_child):
        async with transaction(sessions) as session:
            row = await repo.create_program(session, data)
        assert row.id is not None
        audience = await count_audience(sessions, data, TODAY, program_id=row.id)
        async with transaction(sessions) as session:
            stored = await repo.get_program(session, row.id)
            assert stored is not None
            await repo.set_status(session, stored, "published")
        now = datetime(2026, 11, 26, 9, 0, tzinfo=TOKYO)
        report = await sweep(sessions, now=now, zone=TOKYO, dry_run=True)
        tally = report.programs[row.id]
        assert audience.families == tally.families
        assert audience.matches == tally.matches
        assert audience.reminders == tally.reminders
        async with transaction(sessions) as session:
            stored = await repo.get_program(session, row.id)
            assert stored is not None
            await repo.set_status(session, stored, "archived")
    # Tokyo's household program reaches Tokyo's families (Shibuya too), per family.
    assert (await count_audience(sessions, household, TODAY)).families == 4


async def test_publish_is_refused_naming_the_failing_example_then_versions_and_archive(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    csrf = await signed_in(HACHIOJI, "editor")
    wrong = EXAMPLES.replace("eligible: false", "eligible: true")
    created = await client.post(
        "/console/programs/new", data=form(csrf, examples=wrong), allow_redirects=False
    )
    location = created.headers["Location"]
    program_id = program_id_of(location)
    assert "合わない例" in await (await client.get(location)).text()

    refused = await client.post(f"{location}/publish", data={"_csrf": csrf})
    html = await refused.text()
    assert "公開できません" in html and "例2「小学生だけの家庭」" in html
    async with sessions() as session:
        row = await repo.get_program(session, program_id)
    assert row is not None and row.status == "draft"

    await client.post(f"{location}/edit", data=form(csrf), allow_redirects=False)
    published = await client.post(f"{location}/publish", data={"_csrf": csrf})
    assert "公開しました" in await published.text()

    # A published program refuses a change its examples do not hold, keeping the input.
    kept = await client.post(
        f"{location}/edit", data=form(csrf, eligibility="child.age < 20", summary_ja="新しい概要")
    )
    assert kept.status == 422
    assert "すべての例に合うときだけ" in await kept.text()
    assert "新しい概要" in await kept.text()

    changed = await client.post(
        f"{location}/edit",
        data=form(csrf, eligibility=f'municipality == "{HACHIOJI}" and child.age < 5'),
        allow_redirects=False,
    )
    assert changed.status == 303
    diff = await (await client.get(f"{location}/versions?a=1&b=2")).text()
    assert "変わった項目：1" in diff
    assert "<del>6</del>" in diff and "<ins>5</ins>" in diff
    assert 'class="changed"' in diff

    archived = await client.post(f"{location}/archive", data={"_csrf": csrf})
    assert "保管しました" in await archived.text()
    async with sessions() as session:
        row = await repo.get_program(session, program_id)
    assert row is not None and row.status == "archived" and row.version == 2
    assert await audit_actions(sessions, program_id) == [
        "program.create",
        "program.update",
        "program.publish",
        "program.update",
        "program.archive",
    ]
    async with sessions() as session:
        entry = (
            await session.exec(
                select(ConsoleAudit).where(ConsoleAudit.action == "program.archive")
            )
        ).one()
    assert entry.summary == "「八王子こども応援金」を保管（提供終了）（版2）"
    assert entry.detail["summary_en"] == "“Hachioji child support” archived (version 2)"
    history = await (await client.get("/console/history?action=program")).text()
    assert "<strong>制度を保管</strong>" in history and "（提供終了）（版2）" in history
    assert "archived (version 2)" not in history  # no more "ja / en" joined summaries
    english = await (await client.get("/console/history?action=program&lang=en")).text()
    assert "<strong>Program archived</strong>" in english and "archived (version 2)" in english
    await client.get("/console/?lang=ja")

    # A draft can be deleted; a published one cannot.
    draft = await client.post("/console/programs/new", data=form(csrf), allow_redirects=False)
    gone = await client.post(f"{draft.headers['Location']}/delete", data={"_csrf": csrf})
    assert "削除しました" in await gone.text()
    assert (await client.get(draft.headers["Location"])).status == 404
    deleted_id = program_id_of(draft.headers["Location"])
    assert await audit_actions(sessions, deleted_id) == ["program.create", "program.delete"]


async def test_viewers_read_everything_but_change_nothing(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    program_id = await add_program(sessions, issuer=HACHIOJI, eligibility=RULE)
    csrf = await signed_in(HACHIOJI, "viewer")
    listing = await (await client.get("/console/programs")).text()
    assert "テスト乳幼児手当" in listing and "新しい制度を登録" not in listing
    page = await (await client.get(f"/console/programs/{program_id}")).text()
    assert "公開する" not in page and "/edit" not in page and "削除" not in page
    assert (await client.get(f"/console/programs/{program_id}/preview")).status == 200
    assert (await client.get("/console/programs/new")).status == 403
    for action in ("publish", "archive", "delete"):
        answer = await client.post(
            f"/console/programs/{program_id}/{action}", data={"_csrf": csrf}
        )
        assert answer.status == 403
    edit = await client.post(f"/console/programs/{program_id}/edit", data=form(csrf))
    assert edit.status == 403
    check = await client.post(
        "/console/programs/check", json={"eligibility": RULE}, headers={"X-CSRF-Token": csrf}
    )
    assert check.status == 403


async def test_a_change_without_the_csrf_token_is_refused(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    program_id = await add_program(sessions, issuer=HACHIOJI, eligibility=RULE)
    await signed_in(HACHIOJI, "editor")
    answer = await client.post(f"/console/programs/{program_id}/publish", data={"_csrf": "x"})
    assert answer.status == 403
    created = await client.post("/console/programs/new", data=form("forged"))
    assert created.status == 403
    async with sessions() as session:
        row = await repo.get_program(session, program_id)
    assert row is not None and row.status == "draft"


async def test_an_operator_works_on_any_municipalitys_programs_with_m(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    shibuya = await add_program(sessions, name={"ja": "渋谷の手当"})
    csrf = await signed_in("000000", "operator")
    listing = await (await client.get(f"/console/programs?m={SHIBUYA}")).text()
    assert "渋谷の手当" in listing and f"/console/programs/{shibuya}?m={SHIBUYA}" in listing
    page = await (await client.get(f"/console/programs/{shibuya}?m={SHIBUYA}")).text()
    assert f"/console/programs/{shibuya}/publish?m={SHIBUYA}" in page
    created = await client.post(
        f"/console/programs/new?m={SHIBUYA}",
        data=form(csrf, eligibility='municipality == "131130"', examples=""),
        allow_redirects=False,
    )
    assert created.status == 303
    async with sessions() as session:
        row = await repo.get_program(session, program_id_of(created.headers["Location"]))
    assert row is not None and row.issuer == SHIBUYA
