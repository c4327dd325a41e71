"""What a newcomer trial found on the daycare console pages, fixed."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import select

from integrations.daycare.models import Vacancy
from tests.integrations.daycare.daycare_factories import insert
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
