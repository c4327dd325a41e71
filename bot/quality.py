"""The public quality dashboard (`/quality`): parents' ratings per service, the item-specific
questions, trends, "you said, we did", and the same figures as open data (CC BY 4.0); and the
console page where staff write "you said, we did".

Comments are private free text: never published; only the console page shows them, to the
staff of the family's municipality, without who wrote them. Figures come from the rating and
the answers only, optionally scoped to the municipality the family lived in when it rated.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from html import escape
from typing import Any, TypedDict

from aiohttp import web
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import QualityEntry, Review
from bot.reviews import SERVICES, Service, service_of
from registry.db import transaction
from registry.http import CLOCK, SESSIONS
from registry.models import Municipality
from registry.users import record_audit
from registry.web.kit import (
    WEB,
    flash,
    language,
    read_form,
    redirect,
    render,
    require_editor,
    require_session,
    scope_issuer,
    translator,
)

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

LICENSE_NAME = "CC BY 4.0"
LICENSE_URL = "https://creativecommons.org/licenses/by/4.0/"
PUBLISHER_JA = "はぐくみ（子育て支援サービス）"
PUBLISHER_EN = "Hagukumi (childcare support service)"
GOAL = 3.0  # Tokyo's aim: no service rated 3 or below.
MONTHS = 12
MAX_SAID = 500
MAX_DID = 1000
COMMENTS_PER_PAGE = 20


@dataclass
class Figure:
    """How many answered, and their average (None when nobody did)."""

    count: int = 0
    total: int = 0

    def add(self, value: int) -> None:
        """Count one answer (1-5)."""
        self.count += 1
        self.total += value

    @property
    def average(self) -> float | None:
        """The mean, rounded to two decimals (None without answers)."""
        return round(self.total / self.count, 2) if self.count else None


@dataclass
class ServiceFigures:
    """Everything published about one service."""

    service: Service
    overall: Figure = field(default_factory=Figure)
    stars: dict[int, int] = field(default_factory=lambda: dict.fromkeys(range(1, 6), 0))
    questions: dict[str, Figure] = field(default_factory=dict)
    months: dict[str, Figure] = field(default_factory=dict)

    @property
    def below_goal(self) -> bool:
        """Rated 3 or below on average (Tokyo's goal is above 3)."""
        average = self.overall.average
        return average is not None and average <= GOAL

    @property
    def questions_below_goal(self) -> bool:
        """Some item-specific question averages 3 or below."""
        return any(q.average is not None and q.average <= GOAL for q in self.questions.values())


def month_keys(now: datetime, zone: Any, count: int = MONTHS) -> list[str]:
    """The last `count` months up to this one, oldest first, as `YYYY-MM` (Asia/Tokyo)."""
    local = now.astimezone(zone)
    year, month = local.year, local.month
    keys = []
    for _ in range(count):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return keys[::-1]


async def compute_figures(
    session: AsyncSession, *, municipality: str | None, now: datetime, zone: Any
) -> list[ServiceFigures]:
    """Per service: reviews, average, stars, each question, and the last 12 months."""
    keys = month_keys(now, zone)
    figures = {s.id: ServiceFigures(s) for s in SERVICES}
    for empty in figures.values():
        empty.questions = {q.id: Figure() for q in empty.service.questions}
        empty.months = {k: Figure() for k in keys}
    query = select(Review.service, Review.rating, Review.answers, Review.created_at)
    if municipality is not None:
        query = query.where(Review.municipality == municipality)
    result = await session.exec(query)  # type: ignore[call-overload]
    for service, rating, answers, created_at in result.all():
        figure = figures.get(service)
        if figure is None or not 1 <= rating <= 5:
            continue
        figure.overall.add(rating)
        figure.stars[rating] += 1
        for question_id, value in (answers or {}).items():
            question = figure.questions.get(question_id)
            if question is not None and isinstance(value, int) and 1 <= value <= 5:
                question.add(value)
        month = figure.months.get(created_at.astimezone(zone).strftime("%Y-%m"))
        if month is not None:
            month.add(rating)
    return list(figures.values())


async def municipality_names(session: AsyncSession) -> dict[str, tuple[str, str]]:
    """Code → (name in Japanese, name in English) of every municipality but the nation."""
    result = await session.exec(select(Municipality).order_by(Municipality.code))
    return {m.code: (m.name_ja, m.name_en) for m in result.all() if m.code != "000000"}


async def entries_of(session: AsyncSession, issuer: str | None) -> list[QualityEntry]:
    """ "You said, we did" entries (of one municipality, or all), newest first."""
    query = select(QualityEntry)
    if issuer is not None:
        query = query.where(QualityEntry.issuer == issuer)
    rows = list((await session.exec(query)).all())
    rows.sort(
        key=lambda e: (e.done_on or e.created_at.date(), e.created_at, e.id or 0), reverse=True
    )
    return rows


def stars_en(n: int) -> str:
    """ "1 star", "2 stars" (English plural rules)."""
    return f"{n} star" if n == 1 else f"{n} stars"


@dataclass
class CommentRow:
    """One parent's comment as staff read it: never who wrote it."""

    created_at: datetime
    service: Service | None
    rating: int
    comment: str


async def recent_comments(
    session: AsyncSession, issuer: str, page: int, per_page: int = COMMENTS_PER_PAGE
) -> tuple[list[CommentRow], bool]:
    """This municipality's comments, newest first, one page; and whether more follow."""
    query = (
        select(Review.created_at, Review.service, Review.rating, Review.comment)
        .where(Review.municipality == issuer)
        .where(col(Review.comment).is_not(None))
        .where(Review.comment != "")
        .order_by(col(Review.created_at).desc(), col(Review.id).desc())
        .offset((page - 1) * per_page)
        .limit(per_page + 1)
    )
    result = await session.exec(query)  # type: ignore[call-overload]
    rows = [
        CommentRow(created_at, service_of(service), rating, comment or "")
        for created_at, service, rating, comment in result.all()
    ]
    return rows[:per_page], len(rows) > per_page


def _page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    return min(int(raw), 10_000) if raw.isdigit() and 0 < len(raw) < 6 and int(raw) > 0 else 1


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def stars_svg(figure: ServiceFigures, lang: str) -> str:
    """The distribution of 1-5 stars as horizontal bars (SVG), with a text alternative."""
    t = translator(lang)
    total = figure.overall.count or 1
    top = max(figure.stars.values()) or 1
    row, label_w, bar_w = 26, 44, 220
    height = row * 5 + 4
    title = t("星の数の分布", "Distribution of stars") + f" — {figure.service.name(lang)}"
    desc = ", ".join(
        t(f"星{n}: {figure.stars[n]}件", f"{stars_en(n)}: {figure.stars[n]}")
        for n in range(5, 0, -1)
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 360 {height}" role="img" '
        f'class="stars-chart" aria-label="{escape(title)}: {escape(desc)}">',
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>",
    ]
    for i, n in enumerate(range(5, 0, -1)):
        y = 2 + i * row
        width = bar_w * figure.stars[n] / top
        share = round(100 * figure.stars[n] / total)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 17}" text-anchor="end" font-size="14" '
            f'fill="#1a1a1a">{n}★</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{bar_w}" height="16" fill="#e8eef3"/>'
            f'<rect x="{label_w}" y="{y + 4}" width="{width:.1f}" height="16" fill="#005a9c"/>'
            f'<text x="{label_w + bar_w + 8}" y="{y + 17}" font-size="13" fill="#1a1a1a">'
            f"{figure.stars[n]} ({share}%)</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def months_svg(figure: ServiceFigures, lang: str) -> str:
    """The average rating of each of the last 12 months as columns (SVG), 0-5."""
    t = translator(lang)
    keys = list(figure.months)
    width, height, left, top, bottom = 380, 170, 26, 10, 34
    plot_h = height - top - bottom
    slot = (width - left - 4) / max(len(keys), 1)
    title = t("月ごとの平均評価", "Average rating by month") + f" — {figure.service.name(lang)}"
    desc = ", ".join(
        f"{k}: {_fmt(f.average)} ({f.count})" for k, f in figure.months.items() if f.count
    ) or t("この12か月の評価はありません", "No ratings in these 12 months")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'class="months-chart" aria-label="{escape(title)}: {escape(desc)}">',
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>",
    ]
    for level in range(6):
        y = top + plot_h - plot_h * level / 5
        parts.append(
            f'<line x1="{left}" x2="{width - 4}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d0d0"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#333">{level}</text>'
        )
    goal_y = top + plot_h - plot_h * GOAL / 5
    parts.append(
        f'<line x1="{left}" x2="{width - 4}" y1="{goal_y:.1f}" y2="{goal_y:.1f}" '
        f'stroke="#b00020" stroke-dasharray="4 3"/>'
    )
    for i, key in enumerate(keys):
        figure_month = figure.months[key]
        x = left + slot * i
        average = figure_month.average
        if average is not None:
            h = plot_h * average / 5
            parts.append(
                f'<rect x="{x + slot * 0.15:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="#005a9c"/>'
            )
        month = int(key[5:])
        label = f"{month}月" if lang == "ja" else date(2000, month, 1).strftime("%b")
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
            f'font-size="10" fill="#333">{label}</text>'
        )
        if month == 1 or i == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{top + plot_h + 27}" text-anchor="middle" '
                f'font-size="10" fill="#333">{key[:4]}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _scope(request: web.Request, names: dict[str, tuple[str, str]]) -> str | None:
    asked = request.query.get("m", "")
    return asked if asked in names else None


def _unknown_scope(request: web.Request, names: dict[str, tuple[str, str]]) -> str | None:
    """The `?m=` asked for when it names no municipality (None when empty or known)."""
    asked = request.query.get("m", "")
    return asked[:12] if asked and asked not in names else None


def _now(request: web.Request) -> datetime:
    return request.app[CLOCK]()


async def _public_data(request: web.Request) -> dict[str, Any]:
    zone = request.app[WEB].zone
    now = _now(request)
    async with request.app[SESSIONS]() as db:
        names = await municipality_names(db)
        scope = _scope(request, names)
        unknown = _unknown_scope(request, names)
        figures = await compute_figures(db, municipality=scope, now=now, zone=zone)
        entries = await entries_of(db, scope)
    return {
        "names": names,
        "scope": scope,
        "unknown": unknown,
        "figures": figures,
        "entries": entries,
        "generated": now.astimezone(zone),
    }


def _entry_groups(entries: list[QualityEntry]) -> dict[str, list[QualityEntry]]:
    groups: dict[str, list[QualityEntry]] = {s.id: [] for s in SERVICES}
    for entry in entries:
        groups.setdefault(entry.service, []).append(entry)
    return groups


@routes.get("/quality")
async def quality_page(request: web.Request) -> web.Response:
    """The public dashboard: every service's ratings and "you said, we did"."""
    lang = language(request)
    data = await _public_data(request)
    query = f"?m={data['scope']}" if data["scope"] else ""
    return render(
        request,
        "quality.html",
        status=404 if data["unknown"] else 200,
        unknown=data["unknown"],
        figures=data["figures"],
        charts={f.service.id: (stars_svg(f, lang), months_svg(f, lang)) for f in data["figures"]},
        entries=_entry_groups(data["entries"]),
        names=data["names"],
        scope=data["scope"],
        generated=data["generated"],
        fmt=_fmt,
        goal=GOAL,
        csv_url="/quality.csv" + query,
        json_url="/quality.json" + query,
        license_url=LICENSE_URL,
        publisher=PUBLISHER_EN if lang == "en" else PUBLISHER_JA,
    )


def open_data(data: dict[str, Any]) -> dict[str, Any]:
    """The figures as open data (the same numbers as the page)."""
    names = data["names"]
    scope = data["scope"]
    generated: datetime = data["generated"]
    return {
        "title": {
            "ja": "はぐくみ サービス品質（利用者評価）",
            "en": "Hagukumi service quality (user ratings)",
        },
        "license": {"name": LICENSE_NAME, "url": LICENSE_URL},
        "publisher": {"ja": PUBLISHER_JA, "en": PUBLISHER_EN},
        "generated_at": generated.isoformat(timespec="seconds"),
        "municipality": scope,
        "municipality_name": (
            {"ja": names[scope][0], "en": names[scope][1]} if scope is not None else None
        ),
        "goal": {"above": GOAL, "ja": "3を上回ること", "en": "above 3"},
        "note": {
            "ja": "自由記述のコメントは公開していません。",
            "en": "Free-text comments are not published.",
        },
        "services": [
            {
                "service": f.service.id,
                "name": {"ja": f.service.ja, "en": f.service.en},
                "reviews": f.overall.count,
                "average": f.overall.average,
                "below_goal": f.below_goal,
                "stars": {str(n): f.stars[n] for n in range(1, 6)},
                "questions": [
                    {
                        "id": q.id,
                        "ja": q.ja,
                        "en": q.en,
                        "count": f.questions[q.id].count,
                        "average": f.questions[q.id].average,
                    }
                    for q in f.service.questions
                ],
                "months": [
                    {"month": k, "count": m.count, "average": m.average}
                    for k, m in f.months.items()
                ],
            }
            for f in data["figures"]
        ],
        "you_said_we_did": [
            {
                "service": e.service,
                "municipality": e.issuer,
                "municipality_name": {
                    "ja": names.get(e.issuer, (e.issuer, e.issuer))[0],
                    "en": names.get(e.issuer, (e.issuer, e.issuer))[1],
                },
                "said": {"ja": e.said_ja, "en": e.said_en},
                "did": {"ja": e.did_ja, "en": e.did_en},
                "done_on": e.done_on.isoformat() if e.done_on else None,
            }
            for e in data["entries"]
        ],
    }


CSV_COLUMNS = (
    "service",
    "service_name_ja",
    "service_name_en",
    "measure",
    "key",
    "label_ja",
    "label_en",
    "count",
    "average",
    "license",
    "license_url",
    "publisher",
    "generated",
    "municipality",
)
LINK_LICENSE = f'<{LICENSE_URL}>; rel="license"'


def open_data_csv(data: dict[str, Any]) -> str:
    """One row per figure (overall, stars, question, month); every row carries the licence,
    the publisher, the date and the municipality as columns (a strict CSV: nothing else)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    generated: datetime = data["generated"]
    tail = [
        LICENSE_NAME,
        LICENSE_URL,
        f"{PUBLISHER_EN} / {PUBLISHER_JA}",
        generated.date().isoformat(),
        data["scope"] or "",
    ]
    for f in data["figures"]:
        head = [f.service.id, f.service.ja, f.service.en]
        rows: list[list[Any]] = [
            [*head, "overall", "", "総合", "overall", f.overall.count, _num(f)]
        ]
        for n in range(5, 0, -1):
            rows.append([*head, "stars", n, f"星{n}", stars_en(n), f.stars[n], ""])
        for q in f.service.questions:
            figure = f.questions[q.id]
            rows.append([*head, "question", q.id, q.ja, q.en, figure.count, _avg(figure)])
        for key, month in f.months.items():
            rows.append([*head, "month", key, key, key, month.count, _avg(month)])
        writer.writerows(row + tail for row in rows)
    return out.getvalue()


def _avg(figure: Figure) -> str:
    return "" if figure.average is None else f"{figure.average:.2f}"


def _num(f: ServiceFigures) -> str:
    return _avg(f.overall)


def _download_name(data: dict[str, Any], ext: str) -> str:
    stamp = data["generated"].date().isoformat()
    scope = f"-{data['scope']}" if data["scope"] else ""
    return f"hagukumi-quality{scope}-{stamp}.{ext}"


def _unknown_data(code: str) -> web.Response:
    """404 for open data of a municipality code that names none (never all of Tokyo)."""
    body = {
        "error": "unknown municipality",
        "municipality": code,
        "ja": f"市区町村コード {code} は見つかりません。",
        "en": f"No municipality has the code {code}.",
    }
    return web.json_response(body, status=404, dumps=lambda v: json.dumps(v, ensure_ascii=False))


@routes.get("/quality.json")
async def quality_json(request: web.Request) -> web.Response:
    """The dashboard's figures as JSON open data (CC BY 4.0)."""
    data = await _public_data(request)
    if data["unknown"]:
        return _unknown_data(data["unknown"])
    body = json.dumps(open_data(data), ensure_ascii=False, indent=1)
    return web.Response(
        text=body,
        content_type="application/json",
        headers={
            "Link": LINK_LICENSE,
            "Content-Disposition": f'inline; filename="{_download_name(data, "json")}"',
            "Access-Control-Allow-Origin": "*",
        },
    )


@routes.get("/quality.csv")
async def quality_csv(request: web.Request) -> web.Response:
    """The dashboard's figures as CSV open data (UTF-8 with BOM, CC BY 4.0)."""
    data = await _public_data(request)
    if data["unknown"]:
        return _unknown_data(data["unknown"])
    body = "\ufeff" + open_data_csv(data)
    return web.Response(
        body=body.encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Link": LINK_LICENSE,
            "Content-Disposition": f'attachment; filename="{_download_name(data, "csv")}"',
            "Access-Control-Allow-Origin": "*",
        },
    )


# -- the console ------------------------------------------------------------------------------


@dataclass
class EntryForm:
    """What a clerk typed in the "you said, we did" form, and what is wrong with it."""

    service: str = "bot"
    said_ja: str = ""
    said_en: str = ""
    did_ja: str = ""
    did_en: str = ""
    done_on: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, entry: QualityEntry) -> EntryForm:
        """The form filled with a stored entry."""
        return cls(
            service=entry.service,
            said_ja=entry.said_ja,
            said_en=entry.said_en,
            did_ja=entry.did_ja,
            did_en=entry.did_en,
            done_on=entry.done_on.isoformat() if entry.done_on else "",
        )

    def day(self) -> date | None:
        """The date done (None when empty or not a date)."""
        try:
            return date.fromisoformat(self.done_on) if self.done_on else None
        except ValueError:
            return None


def read_entry(form: Any, lang: str) -> EntryForm:
    """The posted entry, checked (errors in the page's language)."""
    t = translator(lang)

    def text(name: str) -> str:
        return str(form.get(name, "")).replace("\r\n", "\n").strip()

    entry = EntryForm(
        service=text("service"),
        said_ja=text("said_ja"),
        said_en=text("said_en"),
        did_ja=text("did_ja"),
        did_en=text("did_en"),
        done_on=text("done_on"),
    )
    if service_of(entry.service) is None:
        entry.errors["service"] = t("サービスを選んでください。", "Choose a service.")
    limits = {"said_ja": MAX_SAID, "said_en": MAX_SAID, "did_ja": MAX_DID, "did_en": MAX_DID}
    for name, limit in limits.items():
        if len(getattr(entry, name)) > limit:
            entry.errors[name] = t(
                f"{limit}文字以内で入力してください。", f"At most {limit} characters."
            )
    if not entry.said_ja:
        entry.errors["said_ja"] = t(
            "いただいた声（日本語）を入力してください。", "Enter what parents said (Japanese)."
        )
    if not entry.did_ja:
        entry.errors["did_ja"] = t(
            "対応したこと（日本語）を入力してください。", "Enter what was done (Japanese)."
        )
    if entry.done_on and entry.day() is None:
        entry.errors["done_on"] = t(
            "日付は YYYY-MM-DD の形で入力してください。", "Enter the date as YYYY-MM-DD."
        )
    return entry


async def _console_page(
    request: web.Request, form: EntryForm | None = None, status: int = 200
) -> web.Response:
    session = require_session(request)
    issuer = scope_issuer(request)
    lang = language(request)
    zone = request.app[WEB].zone
    async with request.app[SESSIONS]() as db:
        names = await municipality_names(db)
        figures = await compute_figures(db, municipality=issuer, now=_now(request), zone=zone)
        entries = await entries_of(db, issuer)
        page = _page_number(request)
        comments, more = await recent_comments(db, issuer, page)
    return render(
        request,
        "quality_console.html",
        comments=comments,
        comments_page=page,
        comments_more=more,
        status=status,
        issuer=issuer,
        muni_name=names.get(issuer, (issuer, issuer))[1 if lang == "en" else 0],
        public_url="/quality" + (f"?m={issuer}" if issuer in names else ""),
        figures=figures,
        charts={f.service.id: (stars_svg(f, lang), months_svg(f, lang)) for f in figures},
        entries=entries,
        services=SERVICES,
        form=form or EntryForm(),
        can_edit=session.can_edit,
        fmt=_fmt,
        goal=GOAL,
        operator_query=f"?m={issuer}" if session.is_operator else "",
    )


@routes.get("/console/quality")
async def console_quality(request: web.Request) -> web.Response:
    """This municipality's ratings, and its "you said, we did" entries with the form."""
    return await _console_page(request)


class _Summaries(TypedDict):
    summary: str
    summary_en: str


def _summaries(service: str, said_ja: str, said_en: str) -> _Summaries:
    """The history's summary of an entry, in Japanese and in English: its service and what
    parents said, shortened."""

    def one(lang: str, said: str) -> str:
        name = getattr(service_of(service), lang, service)
        return f"{name}: {said if len(said) <= 60 else said[:59] + '…'}"

    return _Summaries(summary=one("ja", said_ja), summary_en=one("en", said_en or said_ja))


@routes.post("/console/quality/entries")
async def create_entry(request: web.Request) -> web.StreamResponse:
    """Write a new "you said, we did" entry."""
    session = require_editor(request)
    issuer = scope_issuer(request)
    form = read_entry(await read_form(request), language(request))
    if form.errors:
        return await _console_page(request, form, status=422)
    async with transaction(request.app[SESSIONS]) as db:
        entry = QualityEntry(
            service=form.service,
            issuer=issuer,
            said_ja=form.said_ja,
            said_en=form.said_en,
            did_ja=form.did_ja,
            did_en=form.did_en,
            done_on=form.day(),
            created_by=session.user.email,
        )
        db.add(entry)
        await db.flush()
        await record_audit(
            db,
            session.user,
            "quality.create",
            issuer=issuer,
            target=f"quality entry {entry.id}",
            **_summaries(form.service, form.said_ja, form.said_en),
        )
    t = translator(language(request))
    flash(request, t("「いただいた声への対応」を公開しました。", "The entry is published."))
    # Returned, not raised: the flash is saved only for a response the handler returns.
    return redirect("/console/quality" + (f"?m={issuer}" if session.is_operator else ""))


async def _own_entry(request: web.Request, db: AsyncSession) -> QualityEntry:
    raw = request.match_info["entry_id"]
    entry = await db.get(QualityEntry, int(raw)) if raw.isdigit() and len(raw) < 10 else None
    if entry is None or entry.issuer != scope_issuer(request):
        raise web.HTTPNotFound()
    return entry


@routes.get("/console/quality/entries/{entry_id}")
async def edit_entry_form(request: web.Request) -> web.Response:
    """The form to change one entry."""
    session = require_session(request)
    async with request.app[SESSIONS]() as db:
        entry = await _own_entry(request, db)
    return render(
        request,
        "quality_entry.html",
        entry=entry,
        form=EntryForm.of(entry),
        services=SERVICES,
        can_edit=session.can_edit,
        operator_query=f"?m={entry.issuer}" if session.is_operator else "",
    )


@routes.post("/console/quality/entries/{entry_id}")
async def update_entry(request: web.Request) -> web.StreamResponse:
    """Save changes to one entry."""
    session = require_editor(request)
    form = read_entry(await read_form(request), language(request))
    async with transaction(request.app[SESSIONS]) as db:
        entry = await _own_entry(request, db)
        if form.errors:
            return render(
                request,
                "quality_entry.html",
                status=422,
                entry=entry,
                form=form,
                services=SERVICES,
                can_edit=True,
                operator_query=f"?m={entry.issuer}" if session.is_operator else "",
            )
        entry.service = form.service
        entry.said_ja, entry.said_en = form.said_ja, form.said_en
        entry.did_ja, entry.did_en = form.did_ja, form.did_en
        entry.done_on = form.day()
        db.add(entry)
        await record_audit(
            db,
            session.user,
            "quality.update",
            issuer=entry.issuer,
            target=f"quality entry {entry.id}",
            **_summaries(form.service, form.said_ja, form.said_en),
        )
        issuer = entry.issuer
    t = translator(language(request))
    flash(request, t("変更を保存しました。", "Changes saved."))
    return redirect("/console/quality" + (f"?m={issuer}" if session.is_operator else ""))


@routes.post("/console/quality/entries/{entry_id}/delete")
async def delete_entry(request: web.Request) -> web.StreamResponse:
    """Remove one entry from the public page."""
    session = require_editor(request)
    async with transaction(request.app[SESSIONS]) as db:
        entry = await _own_entry(request, db)
        issuer = entry.issuer
        await record_audit(
            db,
            session.user,
            "quality.delete",
            issuer=issuer,
            target=f"quality entry {entry.id}",
            **_summaries(entry.service, entry.said_ja, entry.said_en),
        )
        await db.delete(entry)
    t = translator(language(request))
    flash(request, t("削除しました。", "Deleted."))
    return redirect("/console/quality" + (f"?m={issuer}" if session.is_operator else ""))
