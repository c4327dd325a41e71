"""The public quality dashboard `/quality`, its open data (CSV, JSON) and the console page where
staff write "you said, we did". The app's clock is noon in Tokyo on 2026-11-26."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import select

from bot.models import QualityEntry, Review
from registry.db import transaction
from registry.models import ConsoleAudit
from tests.conftest import TODAY
from tests.web.conftest import csrf_of

NOW = datetime(TODAY.year, TODAY.month, TODAY.day, 3, 0, tzinfo=UTC)
SECRET = "誰にも見せたくない秘密の感想"
LINK = '<https://creativecommons.org/licenses/by/4.0/>; rel="license"'


@pytest.fixture
async def client(settings: Any, aiohttp_client: Any) -> Any:
    """The app with its clock fixed (the months of the trend are the last 12 up to Nov 2026)."""
    from hagukumi.app import create_app

    return await aiohttp_client(create_app(settings, today=lambda: TODAY, clock=lambda: NOW))


def at(year: int, month: int, day: int, hour: int = 3) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


async def seed(sessions: Any) -> None:
    """Tours rated 5, 4, 4, 3 (Hachioji and Shibuya), applications 2 and 3 (Hachioji)."""
    rows = [
        ("tours", 5, {"booking_ease": 5, "slot_choice": 4}, "132012", at(2026, 11, 2)),
        ("tours", 4, {"booking_ease": 4, "reminder": 2}, "132012", at(2026, 10, 20)),
        # 2026-10-31 16:00 UTC is 2026-11-01 01:00 in Tokyo: a November rating.
        ("tours", 4, {"booking_ease": 3}, "131130", datetime(2026, 10, 31, 16, tzinfo=UTC)),
        # Older than 12 months: in the totals, not in the trend.
        ("tours", 3, {}, None, at(2025, 10, 5)),
        ("applications", 2, {"clarity": 2, "effort": 1}, "132012", at(2026, 11, 20)),
        ("applications", 3, {"clarity": 4}, "132012", at(2026, 9, 1)),
    ]
    async with transaction(sessions) as session:
        for service, rating, answers, muni, when in rows:
            session.add(
                Review(
                    service=service,
                    rating=rating,
                    answers=answers,
                    municipality=muni,
                    comment=SECRET,
                    created_at=when,
                )
            )


async def test_figures_distribution_months_and_no_comment(client: Any, sessions: Any) -> None:
    await seed(sessions)
    page = await client.get("/quality")
    assert page.status == 200
    html = await page.text()
    assert "Content-Security-Policy" in page.headers
    assert SECRET not in html
    assert "自由記述のコメントは" in html and "公開していません" in html
    # Tours: (5 + 4 + 4 + 3) / 4 = 4.0; applications (2 + 3) / 2 = 2.5, below Tokyo's goal.
    tours = html[html.index('id="svc-tours"') : html.index('id="svc-applications"')]
    assert '<span class="q-avg">4.0</span>' in tours and "評価 4件" in tours
    assert '<th scope="row">4★</th><td class="num">2</td>' in tours
    assert '<th scope="row">1★</th><td class="num">0</td>' in tours
    assert '予約のしやすさ</th><td class="num">4.0' in tours
    assert '<th scope="row">2026-11</th><td class="num">2</td><td class="num">4.5' in tours
    assert '<th scope="row">2026-10</th><td class="num">1</td><td class="num">4.0' in tours
    assert "2025-10" not in tours and "2025-12" in tours  # the last 12 months
    assert "要改善" not in tours and "<svg" in tours
    applications = html[html.index('id="svc-applications"') :]
    assert '<span class="q-avg">2.5</span>' in applications
    assert "要改善：平均が3以下です" in applications
    notices = html[html.index('id="svc-notices"') : html.index('id="svc-daycare_search"')]
    assert "まだ評価はありません。" in notices
    assert 'href="/quality.csv"' in html and 'href="/quality.json"' in html
    assert "CC BY 4.0" in html
    english = await (await client.get("/quality?lang=en")).text()
    assert "No reviews yet." in english and "Needs work" in english
    assert "Ease of booking" in english and SECRET not in english


async def test_open_data_match_the_page_and_carry_the_licence(client: Any, sessions: Any) -> None:
    await seed(sessions)
    response = await client.get("/quality.json")
    assert response.status == 200
    assert response.headers["Link"] == LINK
    data = await response.json()
    raw = await response.text()
    assert SECRET not in raw
    assert data["license"] == {
        "name": "CC BY 4.0",
        "url": "https://creativecommons.org/licenses/by/4.0/",
    }
    assert data["publisher"]["ja"] and data["generated_at"].startswith("2026-11-26T12:00")
    by = {s["service"]: s for s in data["services"]}
    assert list(by) == ["bot", "notices", "daycare_search", "tours", "applications"]
    tours = by["tours"]
    assert (tours["reviews"], tours["average"], tours["below_goal"]) == (4, 4.0, False)
    assert tours["stars"] == {"1": 0, "2": 0, "3": 1, "4": 2, "5": 1}
    questions = {q["id"]: (q["count"], q["average"]) for q in tours["questions"]}
    assert questions == {"booking_ease": (3, 4.0), "slot_choice": (1, 4.0), "reminder": (1, 2.0)}
    months = {m["month"]: (m["count"], m["average"]) for m in tours["months"]}
    assert len(months) == 12 and months["2026-11"] == (2, 4.5) and months["2026-10"] == (1, 4.0)
    assert by["applications"]["below_goal"] is True and by["notices"]["reviews"] == 0

    response = await client.get("/quality.csv")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    body = await response.read()
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    assert SECRET not in text
    assert response.headers["Link"] == LINK
    # A strict CSV: every line is a record of the header's columns (no comment, no blank).
    assert not text.endswith("\r\n\r\n") and "#" not in text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == ["service", "service_name_ja", "service_name_en", "measure", "key"]
    assert all(len(r) == len(rows[0]) for r in rows)
    records = list(csv.DictReader(io.StringIO(text)))
    assert {r["license"] for r in records} == {"CC BY 4.0"}
    assert {r["license_url"] for r in records} == {"https://creativecommons.org/licenses/by/4.0/"}
    assert all("Hagukumi" in r["publisher"] and r["generated"] == "2026-11-26" for r in records)
    assert {r["label_en"] for r in records if r["measure"] == "stars"} == {
        "1 star",
        "2 stars",
        "3 stars",
        "4 stars",
        "5 stars",
    }
    figures = {(r[0], r[3], r[4]): (r[7], r[8]) for r in rows[1:]}
    assert figures[("tours", "overall", "")] == ("4", "4.00")
    assert figures[("tours", "stars", "4")] == ("2", "")
    assert figures[("tours", "question", "reminder")] == ("1", "2.00")
    assert figures[("tours", "month", "2026-11")] == ("2", "4.50")
    assert figures[("applications", "overall", "")] == ("2", "2.50")
    assert figures[("notices", "overall", "")] == ("0", "")
    english = await (await client.get("/quality?lang=en")).text()
    assert "1 star: 0" in english and "1 stars" not in english


async def test_the_municipality_filter(client: Any, sessions: Any) -> None:
    await seed(sessions)
    data = await (await client.get("/quality.json?m=131130")).json()
    by = {s["service"]: s for s in data["services"]}
    assert data["municipality"] == "131130" and data["municipality_name"]["ja"] == "渋谷区"
    assert (by["tours"]["reviews"], by["tours"]["average"]) == (1, 4.0)
    assert by["applications"]["reviews"] == 0
    html = await (await client.get("/quality?m=131130")).text()
    assert "渋谷区" in html and 'href="/quality.csv?m=131130"' in html
    assert '<option value="131130" selected>' in html
    # An unknown code says so (never a silent fallback to the whole of Tokyo).
    page = await client.get("/quality?m=999999")
    html = await page.text()
    assert page.status == 404 and "「999999」に当たる市区町村はありません" in html
    assert 'id="svc-tours"' not in html
    english = await (await client.get("/quality?m=999999&lang=en")).text()
    assert "No municipality has the code “999999”" in english
    for path in ("/quality.json?m=999999", "/quality.csv?m=999999"):
        answer = await client.get(path)
        assert answer.status == 404 and "999999" in (await answer.json())["en"]


async def test_staff_write_edit_and_delete_you_said_we_did(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    await seed(sessions)
    csrf = await signed_in("132012", "editor")
    page = await client.get("/console/quality")
    assert page.status == 200
    html = await page.text()
    assert SECRET in html  # staff read their municipality's comments (never the public)
    # Only Hachioji's ratings: tours 5 and 4, applications 2 and 3.
    tours = html[html.index('id="svc-tours"') : html.index('id="svc-applications"')]
    assert '<span class="q-avg">4.5</span>' in tours and "評価 2件" in tours

    # A mistake keeps what was typed.
    typed = {
        "_csrf": csrf,
        "service": "tours",
        "said_ja": "見学の日時をもっと選びたい",
        "said_en": "More tour dates, please",
        "did_ja": "",
        "did_en": "",
        "done_on": "2026-11-20",
    }
    answer = await client.post("/console/quality/entries", data=typed)
    assert answer.status == 422
    again = await answer.text()
    assert "見学の日時をもっと選びたい" in again and "More tour dates, please" in again
    assert "対応したこと（日本語）を入力してください" in again

    typed["did_ja"] = "土曜日の見学枠を増やしました"
    answer = await client.post("/console/quality/entries", data=typed, allow_redirects=False)
    assert answer.status == 303
    async with sessions() as session:
        [entry] = (await session.exec(select(QualityEntry))).all()
    assert (entry.issuer, entry.service, entry.done_on) == ("132012", "tours", date(2026, 11, 20))
    assert entry.created_by.startswith("editor")
    public = await (await client.get("/quality")).text()
    tours = public[public.index('id="svc-tours"') : public.index('id="svc-applications"')]
    assert "土曜日の見学枠を増やしました" in tours and "八王子市" in tours
    english = await (await client.get("/quality?lang=en")).text()
    assert "More tour dates, please" in english
    data = await (await client.get("/quality.json")).json()
    assert data["you_said_we_did"][0]["municipality_name"]["ja"] == "八王子市"

    form = await client.get(f"/console/quality/entries/{entry.id}")
    assert form.status == 200
    assert "土曜日の見学枠を増やしました" in await form.text()
    typed["did_ja"] = "土曜日と日曜日の見学枠を増やしました"
    typed["_csrf"] = csrf_of(await form.text())
    answer = await client.post(
        f"/console/quality/entries/{entry.id}", data=typed, allow_redirects=False
    )
    assert answer.status == 303
    assert "土曜日と日曜日" in await (await client.get("/quality")).text()
    answer = await client.post(
        f"/console/quality/entries/{entry.id}/delete",
        data={"_csrf": csrf},
        allow_redirects=False,
    )
    assert answer.status == 303
    assert "土曜日と日曜日" not in await (await client.get("/quality")).text()
    async with sessions() as session:
        audits = (
            await session.exec(select(ConsoleAudit).order_by(ConsoleAudit.id))  # type: ignore[arg-type]
        ).all()
    trail = [(a.action, a.target, a.issuer) for a in audits if a.action.startswith("quality")]
    assert trail == [
        ("quality.create", f"quality entry {entry.id}", "132012"),
        ("quality.update", f"quality entry {entry.id}", "132012"),
        ("quality.delete", f"quality entry {entry.id}", "132012"),
    ]
    history = await (await client.get("/console/history?action=quality&lang=ja")).text()
    assert "見学の日時をもっと選びたい" in history
    english = await (await client.get("/console/history?action=quality&lang=en")).text()
    assert "More tour dates, please" in english  # the summary in the page's language


async def test_viewers_read_only_csrf_and_other_municipalities(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    async with transaction(sessions) as session:
        other = QualityEntry(
            service="bot", issuer="131130", said_ja="渋谷の声", did_ja="渋谷の対応"
        )
        session.add(other)
        await session.flush()
        other_id = other.id
    csrf = await signed_in("132012", "viewer")
    page = await (await client.get("/console/quality")).text()
    assert "閲覧のみの権限です" in page and 'action="/console/quality/entries"' not in page
    assert "渋谷の声" not in page  # another municipality's entry
    body = {"_csrf": csrf, "service": "bot", "said_ja": "声", "did_ja": "対応"}
    assert (await client.post("/console/quality/entries", data=body)).status == 403
    await client.post("/console/signout", data={"_csrf": csrf})

    csrf = await signed_in("132012", "editor")
    no_token = {"service": "bot", "said_ja": "声", "did_ja": "対応"}
    assert (await client.post("/console/quality/entries", data=no_token)).status == 403
    # Someone else's entry is not found (neither shown, changed nor deleted).
    assert (await client.get(f"/console/quality/entries/{other_id}")).status == 404
    answer = await client.post(f"/console/quality/entries/{other_id}/delete", data={"_csrf": csrf})
    assert answer.status == 404
    async with sessions() as session:
        rows = (await session.exec(select(QualityEntry))).all()
    assert [r.said_ja for r in rows] == ["渋谷の声"]
    public = await (await client.get("/quality")).text()
    assert "渋谷の声" in public and "渋谷区" in public


async def test_staff_read_their_municipalitys_comments_paged_never_the_public(
    client: Any, sessions: Any, signed_in: Any, make_user: Any
) -> None:
    async with transaction(sessions) as session:
        for i in range(23):  # Hachioji: 23 comments, one a day in November (JST dates)
            session.add(
                Review(
                    service="tours" if i % 2 else "applications",
                    rating=1 + i % 5,
                    comment=f"八王子の感想{i:02d}",
                    municipality="132012",
                    # 15:30 UTC is 00:30 the next day in Tokyo.
                    created_at=datetime(2026, 11, 1 + i, 15, 30, tzinfo=UTC),
                )
            )
        session.add(Review(service="bot", rating=5, comment="渋谷の感想", municipality="131130"))
        session.add(Review(service="bot", rating=4, comment="同意前の感想", municipality=None))
        session.add(Review(service="bot", rating=2, comment=None, municipality="132012"))
    await signed_in("132012", "viewer")
    html = await (await client.get("/console/quality")).text()
    section = html[html.index('id="h-comments"') : html.index("この自治体の評価</h2>")]
    assert "保護者のコメント（職員のみ）" in section
    # Newest first, 20 a page; the date as in Tokyo; the service and the stars.
    assert section.index("八王子の感想22") < section.index("八王子の感想03")
    assert "八王子の感想02" not in section and "八王子の感想22" in section
    row = section[section.index("2026-11-24") :]
    assert row.index("入所申込") < row.index("★★★") < row.index("八王子の感想22")
    assert "渋谷の感想" not in section and "同意前の感想" not in section
    assert 'href="/console/quality?page=2#h-comments"' in section
    older = await (await client.get("/console/quality?page=2")).text()
    older = older[older.index('id="h-comments"') : older.index("この自治体の評価</h2>")]
    assert "八王子の感想02" in older and "八王子の感想00" in older
    assert "八王子の感想03" not in older and 'href="/console/quality#h-comments"' in older
    english = await (await client.get("/console/quality?lang=en")).text()
    assert "Parents&#39; comments (staff only)" in english and "Older comments" in english
    await client.post("/console/signout", data={"_csrf": csrf_of(html)})

    # The operator reads a municipality picked with ?m=, its pages keep it.
    await signed_in("000000", "operator")
    shibuya = await (await client.get("/console/quality?m=131130")).text()
    assert "渋谷の感想" in shibuya and "八王子の感想" not in shibuya
    hachioji = await (await client.get("/console/quality?m=132012")).text()
    assert 'href="/console/quality?m=132012&amp;page=2#h-comments"' in hachioji

    # Never on the public page nor in the open data.
    for path in ("/quality", "/quality?m=132012", "/quality.json", "/quality.csv?m=132012"):
        body = await (await client.get(path)).text()
        assert "感想" not in body, path
