"""The console's texts in the page's language: the rule checker's errors (Japanese on Japanese
pages, the checker's English on English ones, examples numbered as the table numbers them),
why a program cannot be deleted, versions by their labels, and the history's actions, targets
and summaries as words, never codes."""

from __future__ import annotations

import ast
import asyncio
import html as html_lib
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from registry import programs as repo
from registry.db import transaction
from registry.models import ConsoleUser, ProgramAction
from registry.schemas import ProgramIn
from registry.users import record_audit
from registry.web.audit_texts import ACTION_LABELS, summary_of
from registry.web.rule_errors import error_text
from rules.language import RuleError, compile_rule
from tests.browser import screenshot, start_browser
from tests.factories import program_body
from tests.web.conftest import browser_sign_in
from tests.web.test_console_programs import (
    EXAMPLES,
    HACHIOJI,
    add_family,
    add_program,
    form,
)

ROOT = Path(__file__).resolve().parents[2]
THIRD_FAILS = (
    EXAMPLES
    + """\
- date: 2026-11-26
  eligible: true
  note: 小学生の家庭
  family:
    municipality: "132012"
    children:
      - birth_date: 2016-06-15
"""
)
"""Three examples, the third expecting a family the rule (under 6) does not take."""


def text_of(page: str) -> str:
    """A page's text as a person reads it (tags dropped, entities decoded)."""
    return html_lib.unescape(re.sub(r"<[^>]+>", "", page))


# --- the rule checker's errors ---------------------------------------------------------------


async def test_a_japanese_page_words_the_rule_error_and_numbers_examples_from_one(
    client: Any, signed_in: Any
) -> None:
    csrf = await signed_in(HACHIOJI, "editor")
    mismatch = f'municipality == "{HACHIOJI}" and child_count == "3"'
    ja = await client.post(
        "/console/programs/new", data=form(csrf, eligibility=mismatch, per_child=None)
    )
    assert ja.status == 422
    said = text_of(await ja.text())
    assert (
        "型が合いません：child_count は数（FLOAT）、'3' は文字列（STRING）です。"
        "数は引用符を付けずに書いてください：3"
    ) in said
    assert "type mismatch" not in said
    en = await client.post(
        "/console/programs/new?lang=en", data=form(csrf, eligibility=mismatch, per_child=None)
    )
    assert (
        "type mismatch: child_count is a number (FLOAT) but '3' is a string (STRING)"
        " — write the number without quotes: 3"
    ) in text_of(await en.text())

    # The live check answers in the page's language too, the suggestion with it.
    headers = {"X-CSRF-Token": csrf}
    body = {"eligibility": "child.agee < 6", "per_child": True, "examples": ""}
    live_en = await client.post("/console/programs/check?lang=en", json=body, headers=headers)
    assert (await live_en.json())["errors"]["eligibility"] == (
        "unknown field 'agee'; did you mean 'age'?"
    )
    live_ja = await client.post("/console/programs/check?lang=ja", json=body, headers=headers)
    assert (await live_ja.json())["errors"]["eligibility"] == (
        "「agee」という項目はありません。「age」のことですか？"
    )

    # A failing example is named as the table names it: 例3, with its note.
    check = await client.post(
        "/console/programs/check?lang=ja",
        json={"eligibility": "child.age < 6", "per_child": True, "examples": THIRD_FAILS},
        headers=headers,
    )
    answer = await check.json()
    assert answer["errors"]["examples"] == (
        "例3「小学生の家庭」：2026-11-26 の判定は「対象」のはずですが、"
        "ルールでは「対象外」になります。"
    )
    assert [e["index"] + 1 for e in answer["examples"] if not e["passed"]] == [3]
    english = await client.post(
        "/console/programs/check?lang=en",
        json={"eligibility": "child.age < 6", "per_child": True, "examples": THIRD_FAILS},
        headers=headers,
    )
    assert (await english.json())["errors"]["examples"] == (
        "example 3 “小学生の家庭”: expected eligible=True on 2026-11-26, the rule gives False"
    )
    # An example the form cannot read is numbered from 1 as well.
    unreadable = THIRD_FAILS.replace("2016-06-15", "2016/06/15")
    refused = await client.post(
        "/console/programs/check?lang=ja",
        json={"eligibility": "child.age < 6", "per_child": True, "examples": unreadable},
        headers=headers,
    )
    problem = (await refused.json())["errors"]["examples"]
    assert problem.startswith("例3「小学生の家庭」 family.children[0].birth_date：")
    assert "examples[" not in problem
    # A date no calendar has is refused in words, not with a server error.
    impossible = await client.post(
        "/console/programs/check?lang=ja",
        json={
            "eligibility": "child.age < 6",
            "per_child": True,
            "examples": THIRD_FAILS.replace("2016-06-15", "2016-13-45"),
        },
        headers=headers,
    )
    assert impossible.status == 200
    assert "ありえない日付があります" in (await impossible.json())["errors"]["examples"]


async def test_the_publish_refusal_names_example_3_in_the_pages_language(
    client: Any, signed_in: Any
) -> None:
    csrf = await signed_in(HACHIOJI, "editor")
    created = await client.post(
        "/console/programs/new", data=form(csrf, examples=THIRD_FAILS), allow_redirects=False
    )
    assert created.status == 303
    location = created.headers["Location"]
    page = text_of(await (await client.post(f"{location}/publish", data={"_csrf": csrf})).text())
    assert "公開できません：例3「小学生の家庭」：2026-11-26 の判定は「対象」のはずですが" in page
    assert "examples[2]" not in page and "expected eligible" not in page
    english = await client.post(f"{location}/publish?lang=en", data={"_csrf": csrf})
    said = text_of(await english.text())
    assert (
        "Cannot publish: example 3 “小学生の家庭”: expected eligible=True on 2026-11-26, "
        "the rule gives False"
    ) in said


BAD_RULES = [
    ("", False),
    ("x" * 4001, False),
    ('municipality = "132012"', False),
    ("child_count >= 1 &&", False),
    ("child_count >=", False),
    ("child.age < 3", False),
    ("age < 3", False),
    ("agee < 3", False),
    ("zzzz < 3", False),
    ("True", False),
    ("child.agee < 3", True),
    ("child.foo < 3", True),
    ("child['age'] < 3", True),
    ('child_count == "3"', False),
    ('today > "2026-01-01"', False),
    ("child_count ?? 0 >= 3", False),
    ("child_count", False),
    ("$today > today", False),
    ('child.daycare == "applyng"', True),
    ('municipality == "13201"', False),
    ('municipality =~ "(a+)+"', False),
    ("today > d'2026-13-45'", False),
]


@pytest.mark.parametrize(("rule", "per_child"), BAD_RULES)
def test_every_kind_of_rule_error_is_worded_in_japanese(rule: str, per_child: bool) -> None:
    with pytest.raises(RuleError) as caught:
        compile_rule(rule, per_child=per_child)
    for detail in caught.value.details:
        assert detail.get("kind"), detail
        ja, en = error_text(detail, "ja"), error_text(detail, "en")
        assert en.startswith(detail["reason"])
        assert ja != en and re.search(r"[ぁ-んァ-ヶ一-龠]", ja), (ja, detail)
        for english in ("unknown field", "did you mean", "type mismatch", "syntax error"):
            assert english not in ja, (ja, detail)


def test_a_kind_not_known_keeps_the_checkers_own_text() -> None:
    error = {"location": "eligibility:1:3", "reason": "something new", "suggestion": "do this"}
    assert error_text({**error, "kind": "brand_new"}, "ja") == "something new (1:3) — do this"
    assert error_text(error, "en") == "something new (1:3) — do this"


# --- delete --------------------------------------------------------------------------------


async def test_no_delete_button_for_a_program_families_have_a_history_with(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    program_id = await add_program(sessions, "archived", issuer=HACHIOJI)
    family = await add_family(sessions, "UHIST", HACHIOJI, (date(2025, 6, 15),))
    async with transaction(sessions) as session:
        session.add(ProgramAction(family_id=family, program_id=program_id))
    free = await add_program(sessions, "archived", issuer=HACHIOJI)
    csrf = await signed_in(HACHIOJI, "editor")

    page = await (await client.get(f"/console/programs/{program_id}")).text()
    assert f"/console/programs/{program_id}/delete" not in page
    assert 'id="no-delete"' in page and "家庭の履歴があるため、この制度は削除できません" in page
    english = await (await client.get(f"/console/programs/{program_id}?lang=en")).text()
    assert "cannot be deleted: families were told about it or applied for it" in english
    other = await (await client.get(f"/console/programs/{free}?lang=ja")).text()
    assert f"/console/programs/{free}/delete" in other and 'id="no-delete"' not in other

    # Posted all the same (an old page): refused, in the page's language.
    refused = await client.post(f"/console/programs/{program_id}/delete", data={"_csrf": csrf})
    said = text_of(await refused.text())
    assert "この制度は削除できません。お知らせを受け取った、または申請した家庭の履歴" in said
    assert "cannot be deleted" not in said
    refused_en = await client.post(
        f"/console/programs/{program_id}/delete?lang=en", data={"_csrf": csrf}
    )
    assert "This program cannot be deleted: families were told" in await refused_en.text()
    async with sessions() as session:
        assert await repo.get_program(session, program_id) is not None


# --- versions --------------------------------------------------------------------------------


async def test_versions_show_labels_and_only_the_current_one_is_published(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    first = ProgramIn.model_validate(
        program_body(issuer=HACHIOJI, eligibility="child.age < 3", category=["gift"])
    )
    async with transaction(sessions) as session:
        row = await repo.create_program(session, first)
        await repo.set_status(session, row, "published")
        second = first.model_copy(
            update={"category": ["gift", "allowance"], "push": "on_request", "per_child": False}
        )
        second = ProgramIn.model_validate(
            {**second.model_dump(mode="json"), "eligibility": "child_count >= 1"}
        )
        await repo.update_program(session, row, second)
        program_id = row.id
    await signed_in(HACHIOJI, "viewer")

    page = await (await client.get(f"/console/programs/{program_id}/versions")).text()
    rows = dict(
        re.findall(
            r'<th scope="row">([^<]+?)\s*(?:<span[^>]*>[^<]*</span>)?</th>(.*?)</tr>', page, re.S
        )
    )
    assert "ギフト" in text_of(rows["分類"]) and "ギフト、手当・給付" in text_of(rows["分類"])
    push = text_of(rows["お知らせの方針"])
    assert "お知らせする（プッシュ）" in push and "お知らせしない（調べたときだけ表示）" in push
    assert "はい" in text_of(rows["子ごとに判定"]) and "いいえ" in text_of(rows["子ごとに判定"])
    for code in ("on_request", "proactive", "gift", "true", "false"):
        for name in ("分類", "お知らせの方針", "子ごとに判定"):
            assert code not in rows[name], (code, name)
    english = await client.get(f"/console/programs/{program_id}/versions?lang=en")
    said = text_of(await english.text())
    assert "Gifts, Allowances" in said and "Push to families who fit" in said
    assert "Yes" in said and "No" in said

    page = await (await client.get(f"/console/programs/{program_id}?lang=ja")).text()
    listed = page.split("<h2>版</h2>", 1)[1]
    assert listed.count("公開中") == 1 and "以前の版" in listed
    assert re.search(r"版 2 — <span class=\"badge published\">公開中</span>", listed)
    assert re.search(r"版 1 — 以前の版", listed)


async def test_the_examples_help_is_commented_in_the_pages_language(
    client: Any, signed_in: Any
) -> None:
    await signed_in(HACHIOJI, "editor")
    ja = await (await client.get("/console/programs/new")).text()
    assert "# この日に判定します" in ja and "the day the family is judged on" not in ja
    en = await (await client.get("/console/programs/new?lang=en")).text()
    assert "# the day the family is judged on" in en and "この日に判定します" not in en


# --- the history and the home page ---------------------------------------------------------


def _called(node: ast.Call) -> str:
    return str(getattr(node.func, "id", getattr(node.func, "attr", "")))


def recorded_actions() -> set[str]:
    """Every action code a `record_audit(...)` call in the project's sources writes, directly
    or through a module's own wrapper that passes its `action` parameter on."""
    found = set()
    for folder in ("registry", "integrations", "bot", "notifier", "hagukumi", "rules"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            wrappers: dict[str, int] = {}  # wrapper's name -> index of its action parameter
            for function in ast.walk(tree):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(function):
                    if isinstance(node, ast.Call) and _called(node) == "record_audit":
                        action = node.args[2]
                        if isinstance(action, ast.Constant):
                            found.add(str(action.value))
                            continue
                        assert isinstance(action, ast.Name), f"{path}: {ast.dump(action)}"
                        names = [a.arg for a in function.args.args]
                        wrappers[function.name] = names.index(action.id)
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and _called(node) in wrappers:
                    action = node.args[wrappers[_called(node)]]
                    assert isinstance(action, ast.Constant), f"{path}: {ast.dump(action)}"
                    found.add(str(action.value))
    return found


def test_every_action_recorded_has_a_label() -> None:
    actions = recorded_actions()
    assert len(actions) >= 20
    assert actions <= set(ACTION_LABELS), actions - set(ACTION_LABELS)


async def test_the_history_reads_as_words_in_both_languages(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    program_id = await add_program(sessions, issuer=HACHIOJI)
    await signed_in(HACHIOJI, "editor")
    async with sessions() as session:
        from sqlmodel import select

        user = (await session.exec(select(ConsoleUser))).first()
    async with transaction(sessions) as session:
        for action in ACTION_LABELS:
            target = {
                "program": f"program {program_id}",
                "facility": "facilities shisetsu.csv",
                "round": "round 7",
                "user": "someone@132012.example.jp",
            }.get(action.split(".")[0], "")
            await record_audit(
                session,
                user,
                action,
                issuer=HACHIOJI,
                target=target,
                summary=f"日本語の要約 {action.replace('.', '-')}",
                summary_en=f"English summary {action.replace('.', '-')}",
            )
        await record_audit(session, user, "program.delete", issuer=HACHIOJI, target="program 999")

    ja = await (await client.get("/console/history?action=all&lang=ja")).text()
    en = await (await client.get("/console/history?action=all&lang=en")).text()
    for action, (label_ja, label_en) in ACTION_LABELS.items():
        assert f"<strong>{label_ja}</strong>" in ja, action
        assert f"<strong>{escape(label_en)}</strong>" in en, action
        assert action not in ja and action not in en  # no raw action codes
    assert "日本語の要約" in ja and "English summary" not in ja
    assert "English summary" in en and "日本語の要約" not in en
    # Targets as words, a program linked to its page while it exists.
    assert f'<a href="/console/programs/{program_id}">制度 {program_id}</a>' in ja
    assert f'<a href="/console/programs/{program_id}">Program {program_id}</a>' in en
    assert "制度 999" in ja and 'href="/console/programs/999"' not in ja
    assert '<a href="/console/daycare/rounds/7">選考 7</a>' in ja
    assert "施設一覧「shisetsu.csv」" in ja
    for raw in (f">program {program_id}<", ">round 7<", ">facilities shisetsu.csv<"):
        assert raw not in ja and raw not in en

    # The default view and the home page leave sign-ins out; the filter shows them.
    default = await (await client.get("/console/history?lang=ja")).text()
    assert "<strong>制度を公開</strong>" in default
    assert "<strong>サインイン</strong>" not in default
    assert "<strong>サインアウト</strong>" not in default
    users = await (await client.get("/console/history?action=user")).text()
    assert "<strong>サインイン</strong>" in users and "<strong>制度を公開</strong>" not in users
    home = await (await client.get("/console/")).text()
    latest = home.split('id="latest"', 1)[1]
    assert "<strong>制度を削除</strong>" in latest and "サインイン" not in latest
    assert "program." not in latest and "user." not in latest
    home_en = await (await client.get("/console/?lang=en")).text()
    assert "<strong>Program deleted</strong>" in home_en.split('id="latest"', 1)[1]


def test_summaries_written_before_summary_en_are_shown_sensibly() -> None:
    from registry.models import ConsoleAudit

    joined = ConsoleAudit(
        action="program.publish",
        summary="「児童手当」を公開（版2） / published (version 2)",
        detail={},
    )
    assert summary_of(joined, "ja") == "「児童手当」を公開（版2）"
    assert summary_of(joined, "en") == "published (version 2)"
    cli = ConsoleAudit(action="user.create", summary="console user a@b.jp created", detail={})
    assert summary_of(cli, "ja") == "" and summary_of(cli, "en") == "console user a@b.jp created"
    plain = ConsoleAudit(action="round.confirm", summary="選考を確定: 内定2", detail={})
    assert summary_of(plain, "ja") == summary_of(plain, "en") == "選考を確定: 内定2"


# --- the list on a phone ------------------------------------------------------------------


def test_the_status_badge_never_wraps() -> None:
    css = (ROOT / "registry" / "web" / "static" / "console.css").read_text(encoding="utf-8")
    assert re.search(r"\.badge\s*\{[^}]*white-space:\s*nowrap", css)


async def test_the_published_badge_stays_on_one_line_on_a_phone(
    live: Any, make_user: Any, sessions: Any
) -> None:
    for n in range(3):
        await add_program(
            sessions,
            "published",
            issuer=HACHIOJI,
            name={"ja": f"八王子市ひとり親家庭等医療費助成制度（マル親）第{n}号の長い名称の制度"},
            category=["allowance", "medical", "single-parent", "consultation"],
        )
    email = await make_user(HACHIOJI, "viewer")
    driver = await asyncio.to_thread(start_browser)

    def look() -> list[list[float]]:
        browser_sign_in(driver, live, email)
        driver.get(live.url("/console/programs"))
        screenshot(driver, "programs-list-phone-ja")
        found: list[list[float]] = driver.execute_script(
            "return [...document.querySelectorAll('#programs .badge.published')].map(b => {"
            "const r = b.getBoundingClientRect(); const s = getComputedStyle(b);"
            "return [r.width, r.height, parseFloat(s.fontSize)];});"
        )
        return found

    try:
        badges = await asyncio.to_thread(look)
    finally:
        await asyncio.to_thread(driver.quit)
    assert len(badges) == 3
    for width, height, size in badges:
        # One line of three characters: wider than tall, and not two lines high.
        assert width > 2.5 * size and height < 2.2 * size, badges
