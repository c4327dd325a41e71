"""The console's delivery pages (this municipality's notices as charts, the LINE budget) and
the operator's view (`/console/ops`).

Both count the ledger with `notifier.stats` (the functions behind `GET /api/v1/stats/deliveries`)
and read the operator's figures with `notifier.ops.read_ops` (those of `/metrics`). Counts only:
no family, child or LINE user is ever named.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from notifier import stats
from notifier.ops import OpsSnapshot, read_ops, read_quota_into
from notifier.reasons import place_name
from registry.http import CLOCK, SESSIONS, TODAY
from registry.web.charts import Series, bar_chart, meter
from registry.web.kit import WEB, language, render, require_session, scope_issuer, translator

routes = web.RouteTableDef()

TOKYO = ZoneInfo("Asia/Tokyo")
PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
STALE_HEARTBEAT_S = 60.0  # workers beat every 10 s, schedulers every 5-10 s

# Colours of the four states (Okabe-Ito, distinguishable without colour vision).
STATE_COLOURS = {
    "sent": "#0072B2",
    "pending": "#E69F00",
    "failed": "#D55E00",
    "suppressed": "#6E6E6E",
}

STATE_TEXTS = {
    "sent": ("送信済み", "Sent"),
    "pending": ("送信待ち", "Pending"),
    "failed": ("失敗", "Failed"),
    "suppressed": ("送らず", "Suppressed"),
}

REASON_TEXTS = {
    "preference": ("家族が配信を止めた分野", "Turned off by the family"),
    "blocked": (
        "届け先なし（ブロック・退会・データ削除）",
        "Unreachable (blocked, left or data deleted)",
    ),
    "quota": ("LINE の月間上限", "LINE's monthly limit"),
    "budget": ("LINE の月間上限", "LINE's monthly limit"),
    "expired": ("締切を過ぎた", "Deadline passed"),
    "quiet_hours": ("夜間の配信停止", "Quiet hours"),
    "deleted": ("データ削除", "Data deleted"),
    "other": ("その他", "Other"),
    "": ("理由の記録なし", "No reason recorded"),
}

KIND_TEXTS = {
    "eligible": ("対象になった制度", "Programs the family qualifies for"),
    "deadline-7": ("締切の7日前", "Deadline in 7 days"),
    "deadline-2": ("締切の2日前", "Deadline in 2 days"),
    "broadcast": ("お知らせの一斉配信", "Broadcasts"),
    "daycare-result": ("保育の選考結果", "Daycare results"),
    "tour-reminder": ("見学の前日のお知らせ", "Tour reminders"),
    "tour-cancelled": ("見学の取り消し", "Tours cancelled"),
    "seat-opened": ("保育施設の空き", "Daycare places opened"),
}

CHANNEL_TEXTS = {"line": ("LINE", "LINE"), "app": ("アプリ", "App")}


def reason_text(label: str, t: Callable[[str, str], str]) -> str:
    """A reason label (`notifier.ops.reason_label`) as staff read it."""
    if label in REASON_TEXTS:
        return t(*REASON_TEXTS[label])
    if label.startswith("http_"):
        code = label[5:]
        return t(f"送信先のエラー（HTTP {code}）", f"Error from the channel (HTTP {code})")
    return label.replace("_", " ")


def _named(texts: dict[str, tuple[str, str]], t: Callable[[str, str], str]) -> Any:
    return lambda key: t(*texts[key]) if key in texts else key


def period_of(request: web.Request) -> int:
    """The days asked for (`?days=7|30|90`), else 30."""
    asked = request.query.get("days", "")
    return int(asked) if asked.isdigit() and int(asked) in PERIODS else DEFAULT_PERIOD


def month_start(today: date) -> datetime:
    """The first moment of `today`'s month in Tokyo (LINE counts its quota by month, JST)."""
    return datetime.combine(today.replace(day=1), time(0), tzinfo=TOKYO)


@dataclass
class Budget:
    """LINE's monthly message budget, as last read, and this municipality's part of it."""

    limit: float | None
    remaining: float | None
    used: float | None
    checked_at: datetime | None
    ours: int
    unlimited: bool

    @property
    def share(self) -> float | None:
        """This municipality's messages as a share of the monthly limit (0-100)."""
        return None if not self.limit else 100 * self.ours / self.limit


def _budget(snapshot: OpsSnapshot, ours: int) -> Budget:
    unlimited = snapshot.quota_remaining is not None and math.isinf(snapshot.quota_remaining)
    return Budget(
        limit=snapshot.quota_limit,
        remaining=None if unlimited else snapshot.quota_remaining,
        used=snapshot.quota_used,
        checked_at=(
            None
            if snapshot.quota_checked_at is None
            else datetime.fromtimestamp(snapshot.quota_checked_at, UTC)
        ),
        ours=ours,
        unlimited=unlimited,
    )


def _meter(budget: Budget, t: Callable[[str, str], str]) -> str:
    if budget.used is None or not budget.limit:
        return ""
    return meter(
        budget.used, budget.limit, title=t("今月の LINE 送信数", "LINE messages this month")
    )


def _chart(summary: stats.DeliverySummary, t: Callable[[str, str], str], title: str) -> str:
    labels = [f"{d.month}/{d.day}" for d in summary.days]
    series = [
        Series(t(*STATE_TEXTS[s]), [summary.by_day[d][s] for d in summary.days], STATE_COLOURS[s])
        for s in stats.STATES
    ]
    description = t(
        f"{summary.days[0].isoformat()}から{summary.days[-1].isoformat()}までの日ごとの通知数。"
        "同じ数字を下の表に示します。",
        f"Notices per day from {summary.days[0].isoformat()} to {summary.days[-1].isoformat()}. "
        "The table below gives the same figures.",
    )
    return bar_chart(labels, series, title=title, description=description)


def _window(request: web.Request) -> tuple[int, date, date]:
    days = period_of(request)
    until = request.app[TODAY]()
    return days, until - timedelta(days=days - 1), until


def _common(request: web.Request) -> dict[str, Any]:
    t = translator(language(request))
    return {
        "states": stats.STATES,
        "state_text": _named(STATE_TEXTS, t),
        "state_colours": STATE_COLOURS,
        "reason_text": lambda label: reason_text(label, t),
        "kind_text": _named(KIND_TEXTS, t),
        "channel_text": _named(CHANNEL_TEXTS, t),
        "periods": PERIODS,
    }


def daily_rows(summary: stats.DeliverySummary) -> list[tuple[str, dict[str, int]]]:
    """The days of the table, newest first."""
    return [(d.isoformat(), summary.by_day[d]) for d in reversed(summary.days)]


@routes.get("/console/delivery")
async def delivery(request: web.Request) -> web.Response:
    """This municipality's notices per day, why some were not sent, and the LINE budget."""
    require_session(request)
    issuer = scope_issuer(request)
    lang = language(request)
    t = translator(lang)
    days, since, until = _window(request)
    async with request.app[SESSIONS]() as session:
        tallies = await stats.notice_tallies(session, since=since, until=until, issuers=[issuer])
        ours = await stats.line_messages_since(
            session, month_start(request.app[TODAY]()), [issuer]
        )
    summary = stats.summarize(tallies, since, until)
    snapshot = OpsSnapshot()
    try:
        await read_quota_into(request.app[WEB].redis, snapshot)
    except Exception:  # the page still shows the counts without the quota
        snapshot.errors.append("redis")
    name = place_name(issuer, lang) or issuer
    chart = _chart(summary, t, t(f"{name}の日ごとの通知", f"Notices of {name} per day"))
    budget = _budget(snapshot, ours)
    return render(
        request,
        "delivery.html",
        issuer=issuer,
        place_label=name,
        days=days,
        since=since,
        until=until,
        summary=summary,
        daily_rows=daily_rows(summary),
        chart=chart,
        budget=budget,
        month=request.app[TODAY]().strftime("%Y-%m"),
        meter_svg=_meter(budget, t),
        quota_error=bool(snapshot.errors),
        **_common(request),
    )


def _require_operator(request: web.Request) -> None:
    session = require_session(request)
    if not session.is_operator:
        raise web.HTTPForbidden(
            text=translator(language(request))(
                "運用のページは運用者だけが見られます。",
                "Only operators may see the operations view.",
            )
        )


@routes.get("/console/ops")
async def ops(request: web.Request) -> web.Response:
    """The operator's view: backlog, workers, the scheduler leader, failures, LINE quota, and
    the notices of every municipality per day."""
    _require_operator(request)
    lang = language(request)
    t = translator(lang)
    days, since, until = _window(request)
    snapshot = await read_ops(request.app[SESSIONS], request.app[WEB].redis, request.app[CLOCK]())
    async with request.app[SESSIONS]() as session:
        tallies = await stats.notice_tallies(session, since=since, until=until, issuers=None)
        ours = await stats.line_messages_since(session, month_start(request.app[TODAY]()), None)
    summary = stats.summarize(tallies, since, until)
    failures: dict[str, int] = {}
    for (state, _channel, reason), count in snapshot.notices.items():
        if state == "failed":
            failures[reason] = failures.get(reason, 0) + count
    ledger: dict[str, int] = {}
    for (state, _channel, _reason), count in snapshot.notices.items():
        ledger[state] = ledger.get(state, 0) + count
    budget = _budget(snapshot, ours)
    return render(
        request,
        "ops.html",
        days=days,
        since=since,
        until=until,
        snapshot=snapshot,
        summary=summary,
        daily_rows=daily_rows(summary),
        chart=_chart(
            summary, t, t("全自治体の日ごとの通知", "Notices of every municipality per day")
        ),
        failures=sorted(failures.items(), key=lambda item: (-item[1], item[0])),
        ledger=ledger,
        budget=budget,
        meter_svg=_meter(budget, t),
        place=lambda code: place_name(code, lang) or code,
        stale_s=STALE_HEARTBEAT_S,
        age=lambda seconds: _age(seconds, t),
        **_common(request),
    )


def _age(seconds: float | None, t: Callable[[str, str], str]) -> str:
    """A duration as people read it (12 s, 5 min, 3 h, 2 days)."""
    if seconds is None:
        return "—"
    s = int(seconds)
    if s < 60:
        return t(f"{s}秒", f"{s} s")
    if s < 3600:
        return t(f"{s // 60}分", f"{s // 60} min")
    if s < 86400:
        return t(f"{s // 3600}時間{s % 3600 // 60}分", f"{s // 3600} h {s % 3600 // 60} min")
    return t(f"{s // 86400}日", f"{s // 86400} days")
