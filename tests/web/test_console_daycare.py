"""The console's daycare pages, as a clerk uses them: tables that filter, sort and page, CSV
uploads with their report, exports, single changes, scope and roles, and the history."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from sqlmodel import col, select

from integrations.daycare import tours
from integrations.daycare.models import (
    Application,
    Facility,
    IntakeRound,
    TourBooking,
    TourSlot,
    Vacancy,
)
from registry.db import transaction
from registry.models import ConsoleAudit, Family
from tests.integrations.daycare.daycare_factories import facility, insert
from tests.integrations.daycare.test_daycare_rounds_api import MUNI, _apply, _facts, _round

OTHER = "131016"  # Chiyoda
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "facilities"
HACHIOJI = DATA / "hachioji_kosodate_shisetsu.csv"
HEADER = (
    "都道府県コード又は市区町村コード,NO,名称,名称_カナ,種別,住所,緯度,経度,収容定員,受入年齢,"
    "利用可能曜日,開始時間,終了時間"
)


def _upload(token: str, name: str, content: bytes, **fields: str) -> FormData:
    form = FormData()
    form.add_field("_csrf", token)
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", content, filename=name, content_type="text/csv")
    return form


async def _audits(sessions: Any, action: str) -> list[ConsoleAudit]:
    async with sessions() as session:
        found = await session.exec(select(ConsoleAudit).where(ConsoleAudit.action == action))
        return list(found.all())


async def _three(sessions: Any) -> list[Facility]:
    return await insert(
        sessions,
        facility(
            municipality=MUNI,
            facility_id="1",
            name_ja="あおば保育園",
            name_kana="あおば",
            capacity=60,
            address="東京都八王子市元本郷町1",
        ),
        facility(
            municipality=MUNI,
            facility_id="2",
            name_ja="いずみ保育園",
            name_kana="いずみ",
            capacity=120,
            type="small_scale",
            address="東京都八王子市千人町2",
        ),
        facility(
            municipality=MUNI,
            facility_id="3",
            name_ja="うみ保育園",
            name_kana="うみ",
            capacity=90,
            address="東京都八王子市子安町3",
        ),
        facility(municipality=OTHER, facility_id="9", name_ja="よその保育園", name_kana="よそ"),
    )


def _order(html: str, names: list[str]) -> list[str]:
    return sorted(names, key=html.index)


# ---------------------------------------------------------------------------- facilities


async def test_facility_table_filters_sorts_and_shows_only_this_municipality(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    made = await _three(sessions)
    await signed_in(MUNI, "viewer")
    page = await client.get("/console/daycare/facilities")
    html = await page.text()
    assert page.status == 200
    names = ["あおば保育園", "いずみ保育園", "うみ保育園"]
    assert _order(html, names) == names  # by kana
    assert "よその保育園" not in html
    assert "3 件" in html
    assert 'enctype="multipart/form-data"' not in html  # a viewer gets no upload form

    by_capacity = await (await client.get("/console/daycare/facilities?sort=-capacity")).text()
    assert _order(by_capacity, names) == ["いずみ保育園", "うみ保育園", "あおば保育園"]
    assert 'aria-sort="descending"' in by_capacity

    searched = await (await client.get("/console/daycare/facilities?q=千人町")).text()
    assert "いずみ保育園" in searched and "あおば保育園" not in searched
    typed = await (await client.get("/console/daycare/facilities?type=small_scale")).text()
    assert "いずみ保育園" in typed and "うみ保育園" not in typed

    detail = await client.get(f"/console/daycare/facilities/{made[1].id}")
    assert detail.status == 200 and "千人町" in await detail.text()
    other = await client.get(f"/console/daycare/facilities/{made[3].id}")
    assert other.status == 404


async def test_facility_table_pages_long_lists(client: Any, sessions: Any, signed_in: Any) -> None:
    await insert(
        sessions,
        *(
            facility(municipality=MUNI, facility_id=f"P{n}", name_kana=f"p{n:03d}")
            for n in range(120)
        ),
    )
    await signed_in(MUNI, "viewer")
    first = await (await client.get("/console/daycare/facilities")).text()
    assert "120 件" in first and 'rel="next"' in first
    third = await (await client.get("/console/daycare/facilities?page=3")).text()
    assert third.count('href="/console/daycare/facilities/') == 20
    assert 'rel="next"' not in third


async def test_upload_of_the_real_hachioji_list_reports_and_exports_round_trip(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    if not HACHIOJI.is_file():
        pytest.skip(f"the real facility file is absent here ({HACHIOJI})")
    token = await signed_in(MUNI, "editor")
    raw = HACHIOJI.read_bytes()
    answer = await client.post(
        "/console/daycare/facilities/import", data=_upload(token, HACHIOJI.name, raw)
    )
    html = await answer.text()
    assert answer.status == 200, html
    async with sessions() as session:
        stored = (await session.exec(select(Facility).where(Facility.municipality == MUNI))).all()
    assert len(stored) > 150
    assert "取込結果" in html and HACHIOJI.name in html
    assert f"<dt>新規</dt><dd>{len(stored)}</dd>" in html
    (audit,) = await _audits(sessions, "facility.import")
    assert audit.issuer == MUNI and f"新規{len(stored)}" in (audit.summary or "")

    export = await client.get("/console/daycare/facilities.csv")
    assert export.status == 200
    assert export.headers["Content-Type"].startswith("text/csv")
    body = await export.read()
    assert body.startswith(b"\xef\xbb\xbf")  # a BOM, for Excel
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["都道府県コード又は市区町村コード", "NO", "名称"]
    assert len(rows) == len(stored) + 1

    again = await client.post(
        "/console/daycare/facilities/import", data=_upload(token, "export.csv", body)
    )
    report = await again.text()
    assert again.status == 200, report
    assert "<dt>新規</dt><dd>0</dd>" in report
    assert "<dt>取り込まなかった行</dt><dd>0</dd>" in report
    async with sessions() as session:
        after = (await session.exec(select(Facility).where(Facility.municipality == MUNI))).all()
    assert {f.facility_id: f.name_ja for f in after} == {f.facility_id: f.name_ja for f in stored}


async def test_upload_names_the_rows_it_refused_and_why(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    token = await signed_in(MUNI, "editor")
    text = "\n".join(
        [
            HEADER,
            f"{MUNI},101,みどり保育園,ミドリ,認可保育所,東京都八王子市元本郷町3-24-1,35.66,139.32,"
            "60,産休明けから,月;火;水;木;金;土,7:00,19:00",
            f"{MUNI},102,,,認可保育所,東京都八王子市旭町1,35.65,139.33,40,1歳から,,,",
            f"{OTHER},103,よその保育園,,認可保育所,東京都千代田区丸の内1,35.68,139.76,30,,,,",
        ]
    )
    # Shift_JIS, as many offices save CSV from Excel.
    answer = await client.post(
        "/console/daycare/facilities/import",
        data=_upload(token, "list.csv", text.encode("cp932")),
    )
    html = await answer.text()
    assert answer.status == 200, html
    assert "<dt>新規</dt><dd>1</dd>" in html
    assert "<dt>取り込まなかった行</dt><dd>2</dd>" in html
    assert '<td class="num">3</td><td>施設名（名称）がありません</td>' in html
    assert '<td class="num">4</td>' in html and f"ほかの自治体（{OTHER}）の行です" in html
    async with sessions() as session:
        names = [f.name_ja for f in (await session.exec(select(Facility))).all()]
    assert names == ["みどり保育園"]  # another municipality's row is never written

    page = await (await client.get("/console/daycare/facilities")).text()
    assert "みどり保育園" in page and "07:00–19:00" in page


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("book.xlsx", b"PK\x03\x04binary", "CSVファイル（.csv）を選んでください"),
        ("empty.csv", b"", "ファイルが空です"),
        ("other.csv", "氏名,電話\n山田,03\n".encode(), "見出しの行が見つかりません"),
        ("binary.csv", b"\x00\x01\x02" * 10, "文字のファイルではありません"),
    ],
)
async def test_a_bad_upload_is_refused_with_a_clear_message_and_saves_nothing(
    client: Any, sessions: Any, signed_in: Any, name: str, content: bytes, said: str
) -> None:
    token = await signed_in(MUNI, "editor")
    answer = await client.post(
        "/console/daycare/facilities/import", data=_upload(token, name, content)
    )
    html = await answer.text()
    assert answer.status == 200 and str(answer.url.path) == "/console/daycare/facilities"
    assert 'role="alert"' in html and said in html
    async with sessions() as session:
        assert not (await session.exec(select(Facility))).all()
    assert not await _audits(sessions, "facility.import")


async def test_an_upload_over_the_size_limit_gets_a_page_saying_so(
    client: Any, signed_in: Any
) -> None:
    token = await signed_in(MUNI, "editor")
    big = (HEADER + "\n" + ("x" * 100 + "\n") * 15_000).encode()
    answer = await client.post(
        "/console/daycare/facilities/import", data=_upload(token, "big.csv", big)
    )
    assert answer.status == 413
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "大きすぎます" in await answer.text()


async def test_viewers_may_not_change_anything(client: Any, sessions: Any, signed_in: Any) -> None:
    made = await _three(sessions)
    token = await signed_in(MUNI, "viewer")
    upload = await client.post(
        "/console/daycare/facilities/import", data=_upload(token, "x.csv", HEADER.encode())
    )
    assert upload.status == 403
    for path, data in [
        (f"/console/daycare/vacancies/{made[0].id}", {"class_age": "1", "month": "2027-04"}),
        ("/console/daycare/tours", {"facility": str(made[0].id)}),
        ("/console/daycare/rounds", {"name": "x"}),
        ("/console/daycare/rounds/1/allocate", {}),
        ("/console/daycare/applications/1/corrections", {"field": "single_parent"}),
    ]:
        answer = await client.post(path, data={"_csrf": token, **data})
        assert answer.status == 403, path
    assert "閲覧のみ" in await answer.text()


# ---------------------------------------------------------------------------- vacancies


async def test_vacancies_filter_and_a_single_number_is_changed_inline(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    made = await _three(sessions)
    april, may = date(2027, 4, 1), date(2027, 5, 1)
    await insert(
        sessions,
        Vacancy(facility_pk=made[0].id, class_age=0, entry_month=april, places=2),
        Vacancy(facility_pk=made[0].id, class_age=1, entry_month=april, places=0),
        Vacancy(facility_pk=made[1].id, class_age=1, entry_month=may, places=5),
        Vacancy(facility_pk=made[3].id, class_age=1, entry_month=april, places=7),
    )
    token = await signed_in(MUNI, "editor")
    html = await (await client.get("/console/daycare/vacancies?class=1")).text()
    assert "あおば保育園" in html and "いずみ保育園" in html and "よその保育園" not in html
    april_only = await (await client.get("/console/daycare/vacancies?month=2027-04")).text()
    assert f'href="/console/daycare/facilities/{made[1].id}"' not in april_only
    assert "2 件" in april_only

    answer = await client.post(
        f"/console/daycare/vacancies/{made[0].id}",
        data={"_csrf": token, "class_age": "1", "month": "2027-04", "places": "4"},
    )
    assert answer.status == 200 and "空きを保存しました" in await answer.text()
    async with sessions() as session:
        cell = (
            await session.exec(
                select(Vacancy).where(Vacancy.facility_pk == made[0].id, Vacancy.class_age == 1)
            )
        ).one()
    assert cell.places == 4 and cell.source == "console"
    (audit,) = await _audits(sessions, "vacancy.update")
    assert audit.target == "facility 1" and "4" in (audit.summary or "")

    past = await client.post(
        f"/console/daycare/vacancies/{made[0].id}",
        data={"_csrf": token, "class_age": "1", "month": "2025-04", "places": "4"},
    )
    assert "has passed" in await past.text()
    bad = await client.post(
        f"/console/daycare/vacancies/{made[0].id}",
        data={"_csrf": token, "class_age": "1", "month": "2027-04", "places": "many"},
    )
    assert "空き数は" in await bad.text()
    others = await client.post(
        f"/console/daycare/vacancies/{made[3].id}",
        data={"_csrf": token, "class_age": "1", "month": "2027-04", "places": "1"},
    )
    assert others.status == 404
    async with sessions() as session:
        theirs = (
            await session.exec(select(Vacancy).where(Vacancy.facility_pk == made[3].id))
        ).one()
    assert theirs.places == 7

    export = await client.get("/console/daycare/vacancies.csv?month=2027-04")
    rows = list(csv.reader(io.StringIO((await export.read()).decode("utf-8-sig"))))
    assert rows[0][:3] == ["入所月", "施設番号", "施設名"]
    assert rows[1][:5] == ["2027-04", "1", "あおば保育園", "2", "4"]


async def test_vacancy_list_upload_reports_the_facility_it_does_not_know(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    await _three(sessions)
    token = await signed_in(MUNI, "editor")
    text = "施設名,０歳児,１歳児,２歳児\nあおば保育園,3,○,×\nそら保育園,1,1,1\n"
    answer = await client.post(
        "/console/daycare/vacancies/import",
        data=_upload(token, "aki.csv", text.encode("cp932"), month="2027-04"),
    )
    html = await answer.text()
    assert answer.status == 200, html
    assert "<dt>保存した枠</dt><dd>3</dd>" in html
    assert '<td class="num">3</td><td>「そら保育園」という施設がありません' in html
    async with sessions() as session:
        cells = (await session.exec(select(Vacancy).order_by(col(Vacancy.class_age)))).all()
    assert [(c.class_age, c.level, c.places) for c in cells] == [
        (0, "number", 3),
        (1, "some", None),
        (2, "none", None),
    ]
    assert await _audits(sessions, "vacancy.import")

    past = await client.post(
        "/console/daycare/vacancies/import",
        data=_upload(token, "aki.csv", text.encode(), month="2020-04"),
    )
    assert "has passed" in await past.text()


# ---------------------------------------------------------------------------- tours


async def test_tour_slots_are_published_listed_cancelled_and_exported(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    made = await _three(sessions)
    token = await signed_in(MUNI, "editor")
    day = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    answer = await client.post(
        "/console/daycare/tours",
        data={
            "_csrf": token,
            "facility": str(made[0].id),
            "date": day,
            "starts": "10:00",
            "ends": "11:00",
            "capacity": "3",
        },
    )
    assert "見学枠を公開しました" in await answer.text()
    twice = await client.post(
        "/console/daycare/tours",
        data={
            "_csrf": token,
            "facility": str(made[0].id),
            "date": day,
            "starts": "10:00",
            "ends": "11:00",
            "capacity": "3",
        },
    )
    assert "見学枠がすでにあります" in await twice.text()
    async with sessions() as session:
        (slot,) = (await session.exec(select(TourSlot))).all()
    (family,) = await insert(
        sessions, Family(state="active", municipality=MUNI, line_user_id="Uabc123secret")
    )
    async with transaction(sessions) as session:
        booked = await tours.book(session, slot.id, family.id)
    page = await (await client.get("/console/daycare/tours")).text()
    assert f"#{booked.booking.id}" in page and "予約中" in page
    assert "Uabc123secret" not in page

    cancel = await client.post(f"/console/daycare/tours/{slot.id}/cancel", data={"_csrf": token})
    assert "予約1件" in await cancel.text()
    async with sessions() as session:
        booking = await session.get(TourBooking, booked.booking.id)
        assert booking is not None and booking.status == "cancelled"
    assert [a.action for a in await _audits(sessions, "tour.slot_create")] == ["tour.slot_create"]
    assert await _audits(sessions, "tour.slot_cancel")

    export = await client.get("/console/daycare/tours.csv")
    rows = list(csv.reader(io.StringIO((await export.read()).decode("utf-8-sig"))))
    assert rows[1][1:] == [
        "1",
        "あおば保育園",
        "cancelled",
        str(booked.booking.id),
        "tour_cancelled",
        "1",
        rows[1][-1],
    ]
    assert "Uabc123secret" not in str(rows)

    past = await client.post(
        "/console/daycare/tours",
        data={
            "_csrf": token,
            "facility": str(made[0].id),
            "date": "2020-01-01",
            "starts": "10:00",
            "ends": "11:00",
            "capacity": "3",
        },
    )
    assert "開始が過去の日時です" in await past.text()
    theirs = await client.post(
        "/console/daycare/tours",
        data={
            "_csrf": token,
            "facility": str(made[3].id),
            "date": day,
            "starts": "10:00",
            "ends": "11:00",
            "capacity": "3",
        },
    )
    assert theirs.status == 404


# ---------------------------------------------------------------------------- applications


async def test_applications_list_detail_documents_corrections_and_export(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    setup = await _round(sessions, {"A": 1, "B": 1})
    first = await _apply(sessions, setup, ["A", "B"], _facts((40, 40)))
    second = await _apply(sessions, setup, ["B"], _facts(single=True))
    round_id = setup["round"].id
    token = await signed_in(MUNI, "editor")

    page = await (await client.get(f"/console/daycare/applications?round={round_id}")).text()
    assert f'href="/console/daycare/applications/{first}"' in page
    assert f'href="/console/daycare/applications/{second}"' in page
    assert "2025-06-10" not in page  # birth dates only on the application's own page
    first_b = await (
        await client.get(f"/console/daycare/applications?round={round_id}&first_wish=B")
    ).text()
    assert f'/applications/{second}"' in first_b and f'/applications/{first}"' not in first_b
    newest = await (
        await client.get(f"/console/daycare/applications?round={round_id}&sort=-id")
    ).text()
    assert newest.index(f'/applications/{second}"') < newest.index(f'/applications/{first}"')

    detail = await client.get(f"/console/daycare/applications/{first}")
    html = await detail.text()
    assert detail.status == 200
    assert "2025-06-10" in html and "A保育園" in html
    assert "合計 20点" in html  # the points lines under the round's rules
    async with sessions() as session:
        row = await session.get(Application, first)
        assert row is not None
        key = next(iter(row.documents))
    mark = await client.post(
        f"/console/daycare/applications/{first}/documents",
        data={"_csrf": token, "key": key, "checked": "1"},
    )
    assert "書類の状態を保存しました" in await mark.text()
    no_reason = await client.post(
        f"/console/daycare/applications/{first}/corrections",
        data={"_csrf": token, "field": "single_parent", "value": "true", "reason": ""},
    )
    assert "訂正できませんでした" in await no_reason.text()
    fixed = await client.post(
        f"/console/daycare/applications/{first}/corrections",
        data={"_csrf": token, "field": "child_disability", "value": "true", "reason": "診断書"},
    )
    fixed_html = await fixed.text()
    assert "訂正を保存しました" in fixed_html and "診断書" in fixed_html
    async with sessions() as session:
        row = await session.get(Application, first)
        assert row is not None
    assert row.facts["child_disability"] is True and row.documents[key]["checked"] is True
    assert await _audits(sessions, "application.document")
    (correction,) = await _audits(sessions, "application.correct")
    assert "2025-06-10" not in str(correction.summary) + str(correction.detail)

    export = await client.get(f"/console/daycare/applications.csv?round={round_id}")
    rows = list(csv.reader(io.StringIO((await export.read()).decode("utf-8-sig"))))
    assert rows[0][:2] == ["申込番号", "状況コード"]
    assert [r[0] for r in rows[1:]] == [str(first), str(second)]


async def test_another_municipalitys_applications_and_rounds_are_not_there(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    setup = await _round(sessions, {"A": 1})
    application = await _apply(sessions, setup, ["A"], _facts((40, 40)))
    token = await signed_in(OTHER, "editor")
    round_id = setup["round"].id
    for path in (
        f"/console/daycare/applications/{application}",
        f"/console/daycare/rounds/{round_id}",
        f"/console/daycare/applications?round={round_id}",
        f"/console/daycare/applications.csv?round={round_id}",
    ):
        assert (await client.get(path)).status == 404, path
    changed = await client.post(
        f"/console/daycare/applications/{application}/corrections",
        data={"_csrf": token, "field": "single_parent", "value": "true", "reason": "x"},
    )
    assert changed.status == 404
    confirm = await client.post(
        f"/console/daycare/rounds/{round_id}/allocate", data={"_csrf": token}
    )
    assert confirm.status == 404
    listed = await (await client.get("/console/daycare/rounds")).text()
    assert f'href="/console/daycare/rounds/{round_id}"' not in listed


# ---------------------------------------------------------------------------- rounds


async def test_rounds_are_created_dry_run_and_confirmed_after_the_deadline(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    setup = await _round(sessions, {"A": 1, "B": 1})
    await _apply(sessions, setup, ["A", "B"], _facts((40, 40)))
    await _apply(sessions, setup, ["A"], _facts(single=True))
    await _apply(sessions, setup, ["A"], _facts((30, 30)))
    round_id = setup["round"].id
    token = await signed_in(MUNI, "editor")

    page = await (await client.get(f"/console/daycare/rounds/{round_id}")).text()
    assert "published-seed" not in page  # until the deadline, only its sha256
    assert "締切まで非公開" in page
    assert '<th scope="row">1歳児</th>' in page

    dry = await client.post(f"/console/daycare/rounds/{round_id}/allocate", data={"_csrf": token})
    html = await dry.text()
    assert "試行割当をしました" in html
    assert '<dd id="placed">2</dd>' in html and '<dd id="waitlisted">1</dd>' in html
    assert "安定" in html
    assert "この結果で確定する" not in html  # applications are not over yet
    async with sessions() as session:
        round_ = await session.get(IntakeRound, round_id)
        assert round_ is not None
    early = await client.post(
        f"/console/daycare/rounds/{round_id}/confirm",
        data={"_csrf": token, "input_hash": round_.input_hash},
    )
    assert "確定できませんでした" in await early.text()

    closed = await client.post(
        f"/console/daycare/rounds/{round_id}", data={"_csrf": token, "status": "closed"}
    )
    closed_html = await closed.text()
    assert "選考を変更しました" in closed_html and "published-seed" in closed_html
    confirm_form = 'data-confirm="この試行割当で確定し' in closed_html
    assert confirm_form
    ok = await client.post(
        f"/console/daycare/rounds/{round_id}/confirm",
        data={"_csrf": token, "input_hash": round_.input_hash},
    )
    assert "選考結果を確定しました" in await ok.text()
    async with sessions() as session:
        statuses = sorted(a.status for a in (await session.exec(select(Application))).all())
    assert statuses == ["offered", "offered", "waitlisted"]
    for action in ("round.allocate", "round.update", "round.confirm"):
        assert await _audits(sessions, action), action

    history = await (await client.get("/console/history?action=round")).text()
    assert "を確定" in history


async def test_a_round_is_created_from_the_form_and_bad_dates_are_refused(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    token = await signed_in(MUNI, "editor")
    deadline = (datetime.now(UTC) + timedelta(days=30)).date()
    answer = await client.post(
        "/console/daycare/rounds",
        data={
            "_csrf": token,
            "name": "令和9年4月 一次",
            "entry_month": "2027-04",
            "deadline_date": deadline.isoformat(),
            "deadline_time": "17:00",
        },
    )
    html = await answer.text()
    assert "選考を作成しました" in html and "SHA-256" in html
    async with sessions() as session:
        (row,) = (await session.exec(select(IntakeRound))).all()
    assert row.municipality == MUNI and len(row.seed) == 32 and row.seed not in html
    (audit,) = await _audits(sessions, "round.create")
    assert audit.target == f"round {row.id}"

    late = await client.post(
        "/console/daycare/rounds",
        data={
            "_csrf": token,
            "name": "遅い",
            "entry_month": "2027-01",
            "deadline_date": "2027-02-01",
        },
    )
    assert "締切は入所月より前に" in await late.text()
    missing = await client.post("/console/daycare/rounds", data={"_csrf": token, "name": "x"})
    assert "入所月" in await missing.text()


async def test_an_operator_works_on_a_municipality_picked_with_m(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    made = await _three(sessions)
    await insert(
        sessions, Vacancy(facility_pk=made[0].id, class_age=1, entry_month=date(2027, 4, 1))
    )
    token = await signed_in("130001", "operator")
    html = await (await client.get(f"/console/daycare/facilities?m={MUNI}")).text()
    assert f'href="/console/daycare/facilities/{made[0].id}?m={MUNI}"' in html
    assert "よその保育園" not in html
    detail = await client.get(f"/console/daycare/facilities/{made[0].id}?m={MUNI}")
    assert detail.status == 200
    saved = await client.post(
        f"/console/daycare/vacancies/{made[0].id}?m={MUNI}",
        data={"_csrf": token, "class_age": "1", "month": "2027-04", "places": "2"},
    )
    assert saved.status == 200 and "空きを保存しました" in await saved.text()
    assert str(saved.url).endswith(f"m={MUNI}")
    (audit,) = await _audits(sessions, "vacancy.update")
    assert audit.issuer == MUNI
