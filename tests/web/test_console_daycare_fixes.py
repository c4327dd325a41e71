"""What a newcomer trial found on the daycare console pages, fixed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import select

from integrations.daycare.models import Application, IntakeRound, Vacancy
from rules.points import ApplicationFacts
from tests.integrations.daycare.daycare_factories import insert
from tests.integrations.daycare.test_daycare_rounds_api import _apply, _facts, _round
from tests.web.test_console_daycare import HEADER, MUNI, _three, _upload


async def test_an_unreadable_capacity_or_time_is_shown_with_its_value(
    client: Any, signed_in: Any
) -> None:
    token = await signed_in(MUNI, "editor")
    text = "\n".join(
        [
            HEADER,
            f"{MUNI},101,みどり保育園,ミドリ,認可保育所,東京都八王子市元本郷町3-24-1,35.66,139.32,"
            "abc,産休明けから,月;火;水;木;金;土,25:99,19:00",
        ]
    )
    answer = await client.post(
        "/console/daycare/facilities/import", data=_upload(token, "list.csv", text.encode())
    )
    html = await answer.text()
    assert answer.status == 200, html
    assert "読めなかった値" in html and "変更していません" in html
    assert '<td class="num">2</td><td>収容定員</td><td><code>abc</code></td>' in html
    assert '<td class="num">2</td><td>開始時間</td><td><code>25:99</code></td>' in html


async def test_a_vacancy_of_some_places_keeps_its_level_in_the_inline_form(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    made = await _three(sessions)
    await insert(
        sessions,
        Vacancy(facility_pk=made[0].id, class_age=2, entry_month=date(2027, 4, 1), level="some"),
    )
    token = await signed_in(MUNI, "editor")
    html = await (await client.get("/console/daycare/vacancies")).text()
    # The number box is not required and the level 「あり（数不明）」 is chosen.
    form = html[html.index('class="vac-form"') :]
    form = form[: form.index("</form>")]
    assert '<option value="some" selected>あり（数不明）</option>' in form
    assert "required" not in form
    assert 'href="#vac-upload-title"' in html and 'id="vac-upload-title"' in html
    answer = await client.post(
        f"/console/daycare/vacancies/{made[0].id}",
        data={"_csrf": token, "class_age": "2", "month": "2027-04", "level": "some", "places": ""},
    )
    assert "空きを保存しました" in await answer.text()
    async with sessions() as session:
        (cell,) = (await session.exec(select(Vacancy))).all()
    assert cell.level == "some" and cell.places is None
    await client.post(
        f"/console/daycare/vacancies/{made[0].id}",
        data={
            "_csrf": token,
            "class_age": "2",
            "month": "2027-04",
            "level": "some",
            "places": "3",
        },
    )
    async with sessions() as session:
        (cell,) = (await session.exec(select(Vacancy))).all()
    assert cell.level == "number" and cell.places == 3  # a number typed wins
    await client.post(
        f"/console/daycare/vacancies/{made[0].id}",
        data={"_csrf": token, "class_age": "2", "month": "2027-04", "level": "none", "places": ""},
    )
    async with sessions() as session:
        (cell,) = (await session.exec(select(Vacancy))).all()
    assert cell.level == "none"
    blank = await client.post(
        f"/console/daycare/vacancies/{made[0].id}",
        data={"_csrf": token, "class_age": "2", "month": "2027-04", "level": "number"},
    )
    assert "空き数は" in await blank.text()


async def test_the_tour_slot_form_picks_the_facility_the_table_shows(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    made = await _three(sessions)
    await signed_in(MUNI, "editor")
    html = await (await client.get(f"/console/daycare/tours?facility={made[1].id}")).text()
    form = html[html.index('id="s-facility"') :]
    form = form[: form.index("</select>")]
    assert f'<option value="{made[1].id}" selected>いずみ保育園</option>' in form
    assert 'href="#new-slot"' in html and 'id="new-slot"' in html
    facilities = await (await client.get("/console/daycare/facilities")).text()
    assert 'href="#fac-upload-title"' in facilities


async def test_the_application_page_says_its_facts_and_audit_trail_in_words(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    setup = await _round(sessions, {"A": 1, "B": 1})
    facts = ApplicationFacts.model_validate(
        {
            "guardians": [
                {"relation": "other", "reason": "work", "hours_per_week": 40},
                {"relation": "father", "reason": "work", "hours_per_week": 40},
            ],
            "unlicensed_care": True,
        }
    )
    first = await _apply(sessions, setup, ["A", "B"], facts)
    token = await signed_in(MUNI, "editor")
    async with sessions() as session:
        row = await session.get(Application, first)
        assert row is not None and row.status == "received"
        key = next(iter(row.documents))
        document_ja = row.documents[key]["ja"]
    html = await (await client.get(f"/console/daycare/applications/{first}")).text()
    assert "<td>その他</td>" in html
    assert "<dt>きょうだい入所希望</dt><dd>別々の施設でもよい</dd>" in html
    assert "<dt>認可外保育施設等を利用中</dt><dd>はい</dd>" in html
    assert "<dt>きょうだい在園施設を第1希望</dt><dd>いいえ</dd>" in html
    assert "unlicensed care" not in html and "independent" not in html
    assert "「受付」から「審査中」に変わります" in html

    await client.post(
        f"/console/daycare/applications/{first}/documents",
        data={"_csrf": token, "key": key, "checked": "1"},
    )
    bad = await client.post(
        f"/console/daycare/applications/{first}/corrections",
        data={"_csrf": token, "field": "siblings_applying", "value": "two", "reason": "電話"},
    )
    said = await bad.text()
    assert (
        "「きょうだい同時申込数」の値が正しくありません: 整数（例: 1）で入力してください。" in said
    )
    assert "Input should be" not in said
    page = await (await client.get(f"/console/daycare/applications/{first}")).text()
    trail = page[page.index("監査記録") :]
    assert "editor" in trail and "@132012.example.jp" in trail and "console:" not in trail
    assert "<td>書類を受領</td>" in trail and f"<td>書類: {document_ja}</td>" in trail
    assert "<td>未受領</td><td>受領済み</td>" in trail
    assert "<td>状況の変更</td><td></td><td>受付</td><td>審査中</td>" in trail
    assert "document_checked" not in trail and "False" not in trail
    assert "under_review" not in trail
    assert "「受付」から「審査中」に変わります" not in page  # said only while it is 受付
    english = await (await client.get(f"/console/daycare/applications/{first}?lang=en")).text()
    assert "<td>Document received</td>" in english and "<td>Under review</td>" in english


async def test_a_tour_slot_that_ends_before_it_starts_is_refused_in_japanese(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    made = await _three(sessions)
    token = await signed_in(MUNI, "editor")
    day = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    answer = await client.post(
        "/console/daycare/tours",
        data={
            "_csrf": token,
            "facility": str(made[1].id),
            "date": day,
            "starts": "11:00",
            "ends": "10:00",
            "capacity": "3",
        },
    )
    html = await answer.text()
    assert "終了時刻は開始時刻より後にしてください" in html and "ends_at" not in html
    assert str(answer.url.query.get("facility")) == str(made[1].id)


async def test_a_dry_run_says_its_time_in_tokyo_and_what_to_do_about_vague_places(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    setup = await _round(sessions, {"A": 1, "B": 1})
    async with sessions() as session:
        for cell in (await session.exec(select(Vacancy))).all():
            cell.level, cell.places = "some", None
            session.add(cell)
        await session.commit()
    await _apply(sessions, setup, ["A", "B"], _facts((40, 40)))
    round_id = setup["round"].id
    token = await signed_in(MUNI, "editor")
    html = await (
        await client.post(f"/console/daycare/rounds/{round_id}/allocate", data={"_csrf": token})
    ).text()
    async with sessions() as session:
        round_ = await session.get(IntakeRound, round_id)
        assert round_ is not None and round_.allocation
    at = datetime.fromisoformat(round_.allocation["at"])
    tokyo = at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M")
    assert f">{tokyo}</time></dd>" in html and " UTC</dd>" not in html
    assert "2 クラスの空きが「あり（△）」だけで数がないため" in html
    assert "空き状況のページで数を入力" in html and "give exact places" not in html
    assert 'href="/console/daycare/vacancies?month=' in html


async def test_import_reasons_are_in_the_pages_language(client: Any, signed_in: Any) -> None:
    token = await signed_in(MUNI, "editor")
    text = "\n".join([HEADER, f"{MUNI},,みどり保育園,,認可保育所,八王子市,35.66,139.32,60,,,,"])
    ja = await (
        await client.post(
            "/console/daycare/facilities/import", data=_upload(token, "a.csv", text.encode())
        )
    ).text()
    assert '<td class="num">2</td><td>施設番号（NO）がありません</td>' in ja
    assert "no facility id" not in ja
    binary = await (
        await client.post(
            "/console/daycare/facilities/import",
            data=_upload(token, "b.csv", b"\x00\x01\x02" * 10),
        )
    ).text()
    assert "文字のファイルではありません（Excelのブックかもしれません）" in binary
    assert "binary content" not in binary
    en = await (
        await client.post(
            "/console/daycare/facilities/import?lang=en",
            data=_upload(token, "a.csv", text.encode()),
        )
    ).text()
    assert "no facility id (NO)" in en
