"""The console's delivery page (one municipality's notices, the LINE budget) and the operator's
view: what they count, what they leave out, and who may see them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from notifier.models import Notice, SendRequest
from notifier.ops import record_heartbeat, record_quota
from registry.db import transaction
from registry.models import Family
from registry.web.kit import WEB

HACHIOJI, SHIBUYA, TOKYO = "132012", "131130", "130001"


def utc(month: int, day: int, hour: int = 3, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# (family, issuer, kind, channel, status, reason, created UTC, request); TODAY is 2026-11-26.
NOTICES: list[tuple[str, str, str, str, str, str | None, datetime, str | None]] = [
    ("F1", HACHIOJI, "eligible", "line", "sent", None, utc(11, 26, 1), "R1"),
    # 23:30 UTC is 08:30 the next day in Tokyo: counted on 11-26. One multicast, two families.
    ("F2", HACHIOJI, "deadline-7", "line", "sent", None, utc(11, 25, 23, 30), "R2"),
    ("F3", HACHIOJI, "deadline-7", "line", "sent", None, utc(11, 25, 23, 30), "R2"),
    ("F1", HACHIOJI, "eligible", "line", "sent", "shown in chat", utc(11, 26, 2), None),
    ("F1", HACHIOJI, "broadcast", "app", "sent", None, utc(11, 19), "A1"),
    ("F1", HACHIOJI, "daycare-result", "line", "sent", None, utc(11, 21), "R3"),
    ("F2", HACHIOJI, "eligible", "line", "pending", None, utc(11, 25), None),
    ("F3", HACHIOJI, "eligible", "line", "scheduled", None, utc(11, 25, 4), None),
    ("F1", HACHIOJI, "eligible", "line", "failed", "500 Internal Server Error", utc(11, 24), None),
    ("F2", HACHIOJI, "eligible", "line", "suppressed", "preference", utc(11, 24), None),
    ("F3", HACHIOJI, "eligible", "line", "suppressed", "blocked", utc(11, 23), None),
    ("F1", HACHIOJI, "deadline-2", "line", "suppressed", "blocked", utc(11, 23), None),
    ("F2", HACHIOJI, "eligible", "line", "suppressed", "quota", utc(11, 22), None),
    # Outside the last 30 days, inside 90; sent last month (not this month's LINE budget).
    ("F1", HACHIOJI, "eligible", "line", "sent", None, utc(10, 1), "R4"),
    # Other issuers: Shibuya's, and Tokyo's notice to a Hachioji family (bundled with R1).
    ("G1", SHIBUYA, "eligible", "line", "sent", None, utc(11, 26, 1), "R5"),
    ("G2", SHIBUYA, "eligible", "line", "sent", None, utc(11, 26, 1), "R5"),
    ("G1", SHIBUYA, "eligible", "line", "failed", "429 Too Many Requests", utc(11, 25), None),
    ("F1", TOKYO, "eligible", "line", "sent", None, utc(11, 26, 1), "R1"),
]


async def seed(sessions: Any) -> None:
    """The notices above, with their families and send requests."""
    async with transaction(sessions) as session:
        families: dict[str, int] = {}
        requests: dict[str, int] = {}
        for index, (family, issuer, kind, channel, status, reason, created, request) in enumerate(
            NOTICES
        ):
            if family not in families:
                row = Family(
                    line_user_id=f"U{len(families):032x}",
                    state="active",
                    municipality=SHIBUYA if family.startswith("G") else HACHIOJI,
                )
                session.add(row)
                await session.flush()
                assert row.id is not None
                families[family] = row.id
            if request is not None and request not in requests:
                sent = SendRequest(
                    channel="app" if request.startswith("A") else "line",
                    retry_key=f"key-{request}",
                    status="sent",
                    created_at=created,
                    sent_at=created,
                )
                session.add(sent)
                await session.flush()
                assert sent.id is not None
                requests[request] = sent.id
            session.add(
                Notice(
                    family_id=families[family],
                    subject=f"program:{index}",
                    kind=kind,
                    cycle="2026",
                    issuer=issuer,
                    channel=channel,
                    status=status,
                    reason=reason,
                    created_at=created,
                    updated_at=created,
                    sent_at=created if status == "sent" else None,
                    send_id=requests.get(request) if request else None,
                )
            )


async def page(client: Any, path: str, status: int = 200) -> str:
    response = await client.get(path)
    text = await response.text()
    assert response.status == status, text[:500]
    return text


def cells(html: str, table: str, key: str) -> dict[str, str]:
    """The figures of one row (data-key or data-reason) of a table, by state."""
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    row = re.search(rf'<tr data-(?:key|reason)="{re.escape(key)}">(.*?)</tr>', body, re.S)
    assert row, f"no row {key} in {table}"
    found = dict(re.findall(r'<td class="num" data-state="(\w+)">([^<]*)</td>', row.group(1)))
    if not found:
        found = {"count": re.findall(r'<td class="num">([^<]*)</td>', row.group(1))[0]}
    return found


def totals(html: str) -> dict[str, str]:
    block = html.split('id="totals"', 1)[1].split("</ul>", 1)[0]
    return dict(re.findall(r'data-state="(\w+)">.*?<strong>([^<]*)</strong>', block, re.S))


def figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">(.*?)</dd>', html, re.S)
    assert found, f"no figure {name}"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


async def test_the_delivery_page_counts_this_municipalitys_notices(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    await seed(sessions)
    await signed_in(HACHIOJI, "viewer")
    html = await page(client, "/console/delivery")
    assert "配信" in html and "八王子市" in html
    # Last 30 days: Shibuya's and Tokyo's notices and the October one are not counted.
    assert totals(html) == {
        "sent": "6",
        "pending": "2",
        "failed": "1",
        "suppressed": "4",
        "total": "13",
    }
    # 23:30 UTC on 11-25 is 11-26 in Tokyo.
    assert cells(html, "per-day", "2026-11-26") == {
        "sent": "4",
        "pending": "0",
        "failed": "0",
        "suppressed": "0",
        "total": "4",
    }
    assert cells(html, "per-day", "2026-11-25")["pending"] == "2"  # pending and scheduled
    assert cells(html, "per-day", "2026-10-28")["total"] == "0"  # every day is listed
    assert "2026-10-27" not in html.split('id="per-day"')[1]
    # The chart draws the same figures (one bar part per day and state).
    assert "<title>11/26 送信済み: 4</title>" in html
    assert "<title>11/25 送信待ち: 2</title>" in html
    assert "<title>11/23 送らず: 2</title>" in html
    assert "11/26 失敗" not in html
    # Why not sent, in words.
    assert cells(html, "suppressed", "blocked") == {"count": "2"}
    assert cells(html, "suppressed", "preference") == {"count": "1"}
    assert cells(html, "suppressed", "quota") == {"count": "1"}
    assert "家族が配信を止めた分野" in html and "LINE の月間上限" in html
    assert cells(html, "failed", "http_500") == {"count": "1"}
    assert "送信先のエラー（HTTP 500）" in html
    # Pending: one due now, one held (quiet hours, the digest).
    assert cells(html, "waiting", "pending") == {"count": "1"}
    assert cells(html, "waiting", "scheduled") == {"count": "1"}
    # By channel and by kind.
    assert cells(html, "by-channel", "line")["sent"] == "5"
    assert cells(html, "by-channel", "app") == {
        "sent": "1",
        "pending": "0",
        "failed": "0",
        "suppressed": "0",
        "total": "1",
    }
    assert cells(html, "by-kind", "deadline-7")["sent"] == "2"
    assert cells(html, "by-kind", "daycare-result")["sent"] == "1"
    assert "保育の選考結果" in html
    # No LINE quota recorded yet: the page says so and still counts this month's messages.
    assert "まだ読み取られていません" in html
    assert figure(html, "ours") == "4"
    # Counts only: no LINE user id.
    assert "U0000" not in html


async def test_the_budget_shows_the_channels_quota_and_this_municipalitys_part(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    await seed(sessions)
    redis = client.server.app[WEB].redis
    await record_quota(redis, 400, 1000, utc(11, 26, 5))
    await signed_in(HACHIOJI, "editor")
    html = await page(client, "/console/delivery")
    assert figure(html, "limit") == "1,000"
    assert figure(html, "used") == "600 (60.0%)"
    assert figure(html, "remaining") == "400"
    # This month: R1 (F1), R2 (F2 and F3: two recipients), R3 (F1); not the chat, the app,
    # October, Shibuya's or Tokyo's.
    assert figure(html, "ours") == "4 (上限の0.4%)"
    assert 'class="meter"' in html and "<title>今月の LINE 送信数</title>" in html


async def test_the_period_select_changes_the_days_counted(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    await seed(sessions)
    await signed_in(HACHIOJI, "viewer")
    week = await page(client, "/console/delivery?days=7")
    assert '<option value="7" selected>' in week
    assert totals(week)["sent"] == "5"  # the broadcast of 11-19 is older than a week
    assert "2026-11-19" not in week.split('id="per-day"')[1]
    quarter = await page(client, "/console/delivery?days=90")
    assert totals(quarter)["sent"] == "7"
    assert cells(quarter, "per-day", "2026-10-01")["sent"] == "1"
    assert len(quarter.encode()) < 200_000  # no page over 200 KB
    odd = await page(client, "/console/delivery?days=5")
    assert '<option value="30" selected>' in odd
    assert totals(odd)["total"] == "13"


async def test_another_municipality_sees_only_its_own(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    await seed(sessions)
    await signed_in(SHIBUYA, "viewer")
    html = await page(client, "/console/delivery?m=132012")  # not an operator: ignored
    assert "渋谷区" in html
    assert totals(html) == {
        "sent": "2",
        "pending": "0",
        "failed": "1",
        "suppressed": "0",
        "total": "3",
    }
    assert cells(html, "failed", "http_429") == {"count": "1"}
    assert figure(html, "ours") == "2"


async def test_the_pages_in_english(client: Any, signed_in: Any, sessions: Any) -> None:
    await seed(sessions)
    await signed_in(HACHIOJI, "viewer")
    html = await page(client, "/console/delivery?lang=en")
    assert "<h1>Delivery — Hachioji" in html
    assert "Turned off by the family" in html and "Daycare results" in html
    assert "<title>11/26 Sent: 4</title>" in html
    assert "送信済み" not in html


async def test_the_operations_view_is_for_operators_only(client: Any, signed_in: Any) -> None:
    await signed_in(HACHIOJI, "editor")
    html = await page(client, "/console/ops", status=403)
    assert "運用者だけ" in html


async def test_the_operator_sees_every_municipality_and_the_health_of_delivery(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    await seed(sessions)
    app = client.server.app
    redis = app[WEB].redis
    now = datetime.now(UTC)
    await record_heartbeat(redis, "worker", "host-a-101", now)
    await record_heartbeat(redis, "scheduler", "host-a-101", now)
    await redis.set("hagukumi:scheduler:lease", "host-a-101", px=30_000)
    await record_quota(redis, None, None, now)  # no monthly limit
    await signed_in(TOKYO, "operator")
    html = await page(client, "/console/ops")
    assert "<h1>運用</h1>" in html
    assert 'href="/metrics"' in html
    assert figure(html, "leader").startswith("host-a-101")
    assert "稼働中" in html and "host-a-101" in html
    assert figure(html, "pending") == "0"
    assert figure(html, "stream") == "0"
    assert cells(html, "failures", "http_500") == {"count": "1"}
    assert cells(html, "failures", "http_429") == {"count": "1"}
    assert "月間の上限はありません" in html
    # Every municipality, in one chart and one table.
    assert totals(html) == {
        "sent": "9",
        "pending": "2",
        "failed": "2",
        "suppressed": "4",
        "total": "17",
    }
    assert "<title>11/26 送信済み: 7</title>" in html
    assert cells(html, "by-issuer", SHIBUYA)["total"] == "3"
    assert cells(html, "by-issuer", HACHIOJI)["total"] == "13"
    assert cells(html, "by-issuer", TOKYO)["sent"] == "1"
    assert f'href="/console/delivery?m={SHIBUYA}&amp;days=30"' in html
    # The operator may open one municipality's delivery page.
    shibuya = await page(client, f"/console/delivery?m={SHIBUYA}")
    assert totals(shibuya)["total"] == "3"
    english = await page(client, "/console/ops?lang=en")
    assert "<h1>Operations</h1>" in english and "Alive" in english


async def test_the_operator_is_told_when_nothing_runs(client: Any, signed_in: Any) -> None:
    await signed_in(TOKYO, "operator")
    html = await page(client, "/console/ops")
    assert "定時の処理が止まっています" in html
    assert "応答しているものはありません" in html
    assert "この期間の通知はありません" in html


async def test_the_page_counts_what_the_rest_statistics_count(
    client: Any, signed_in: Any, sessions: Any, make_key: Any
) -> None:
    await seed(sessions)
    answer = await client.get(
        "/api/v1/stats/deliveries",
        params={"since": "2026-10-28", "until": "2026-11-26"},
        headers=await make_key(HACHIOJI),
    )
    rest = await answer.json()
    await signed_in(HACHIOJI, "viewer")
    html = await page(client, "/console/delivery")
    assert totals(html)["total"] == str(rest["total"]) == "13"
    sent = sum(i["count"] for i in rest["items"] if i["status"] == "sent")
    assert totals(html)["sent"] == str(sent)


async def test_a_silent_worker_is_shown_as_silent(client: Any, signed_in: Any) -> None:
    redis = client.server.app[WEB].redis
    now = datetime.now(UTC)
    await record_heartbeat(redis, "worker", "host-b-7", now - timedelta(minutes=3))
    await record_heartbeat(redis, "worker", "host-c-9", now - timedelta(days=2))  # long gone
    await signed_in(TOKYO, "operator")
    html = await page(client, "/console/ops")
    row = html.split("host-b-7", 1)[1].split("</tr>", 1)[0]
    assert "3分前" in row and "応答なし" in row
    assert "host-c-9" not in html
