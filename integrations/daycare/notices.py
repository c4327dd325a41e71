"""Daycare notices through the notifier's ledger: tour reminders and "a seat opened".

Both are rows of the notice ledger (`notifier.ledger`), so each is recorded once per key and
delivered by the ordinary planning (quiet hours, the family's channel, LINE's budget):

- `tour-reminder`: subject `tour:<booking id>`, cycle the tour's date (Asia/Tokyo). Recorded the
  day before the tour (`tour_reminder_pass`, the scheduler's reminder job; or at booking time
  when the tour is tomorrow), due at 09:00 that day; its deadline is the tour's date, so it is
  never held past it and expires if somehow late. A cancelled booking's unsent reminder is
  removed (`forget_tour_reminders`).
  A reminder that could not go at least an hour before the tour (booked late the evening before
  an early tour: quiet hours would hold it past the start) is not recorded: the booking
  confirmation the parent just read is the reminder (`reminder_in_time`).
- `tour-cancelled`: subject `tour:<booking id>`, cycle the tour's date: the facility cancelled
  the slot (`tell_tour_cancelled`, from the tours API in the same transaction), due at once.
- `seat-opened`: subject `seat:<facility pk>:<class age>`, cycle the month of entry (YYYY-MM),
  for each family that saved the facility for a child of that class at that month (the saved
  month only, when one was saved). Due at once, with tomorrow as its deadline: urgent, so the
  planning sends it at the next moment outside quiet hours instead of holding it for the next
  day's digest (a place that opened does not wait), and it expires if it could not go by then.

The notifier never imports this package (ARCHITECTURE.md); the renderers are registered with
`notifier.messages.register_renderer` when this module is imported (the bot and the
composition root import it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare.classes import entry_class, month_start
from integrations.daycare.models import (
    Facility,
    OpenedSeat,
    SavedFacility,
    TourBooking,
    TourSlot,
)
from notifier import postbacks as pb
from notifier.formats import format_date, format_month
from notifier.ledger import NoticeDraft, record_new
from notifier.messages import RENDERERS, postback_data, register_renderer
from notifier.models import Notice
from notifier.timing import QuietHours, allowed_from, family_quiet_hours, parse_quiet_hours
from registry.db import transaction
from registry.models import Child, Family

log = logging.getLogger(__name__)

TOKYO = ZoneInfo("Asia/Tokyo")
TOUR_REMINDER = "tour-reminder"
SEAT_OPENED = "seat-opened"
TOUR_CANCELLED = "tour-cancelled"
DAYCARE_RESULT = "daycare-result"
DEFAULT_QUIET_HOURS = "20:00-08:00"
REMINDER_LEAD = timedelta(hours=1)
"""A reminder must be able to go at least this long before the tour starts, else it is not
recorded (quiet hours could hold it past the start)."""
REMIND_AT = time(9, 0)
"""Reminders are due at 09:00 the day before the tour (quiet hours may hold them further)."""

WEEKDAYS = {"ja": "月火水木金土日", "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "reminder.title": "明日は見学の日です（{name}）",
        "reminder.badge": "見学のリマインド",
        "seat.title": "空きが出ました（{name}）",
        "seat.badge": "空きが出ました",
        "seat.line": "{klass}・{month}入園",
        "class": "{age}歳児クラス",
        "map": "地図",
        "cancel": "予約をキャンセル",
        "details": "詳細",
        "book": "見学を予約",
        "when": "{date}({weekday}) {start}–{end}",
        "cancelled.title": "見学が中止になりました（{name}）",
        "cancelled.badge": "見学が中止になりました",
        "cancelled.line": "施設の都合により、この見学は中止になりました。",
        "another": "別の日時を選ぶ",
        "result.offered.title": "保育園の内定のお知らせ（{name}）",
        "result.waitlisted.title": "保育園の選考結果のお知らせ（保留）",
        "result.offered.badge": "内定",
        "result.waitlisted.badge": "保留（入所待ち）",
        "result.offered.line": "{month}入園・{klass}で{name}（第{rank}希望）に内定しました。",
        "result.waitlisted.line": (
            "{month}入園・{klass}は、今回はご希望の園に入所できませんでした（保留）。"
        ),
        "result.points": "あなたの点数: {points}点",
        "result.offered.next": (
            "次は: 区市町村から面接・健康診断の案内が届きます。辞退するときは早め"
            "に連絡してください。"
        ),
        "result.waitlisted.next": (
            "次は: 二次選考には「申込状況」から申し込めます（今回の回答が引き継がれます）。"
            "認証保育所・小規模保育などの空きも探せます。"
        ),
        "result.leave": (
            "育休を延長する場合は、この結果の「保留通知書」を勤務先に提出してください。"
        ),
        "result.search": "空きのある園をさがす",
        "result.status": "申込状況を見る",
    },
    "en": {
        "reminder.title": "Your tour is tomorrow ({name})",
        "reminder.badge": "Tour reminder",
        "seat.title": "A place opened ({name})",
        "seat.badge": "A place opened",
        "seat.line": "{klass}, entry {month}",
        "class": "{age}-year class",
        "map": "Map",
        "cancel": "Cancel booking",
        "details": "Details",
        "book": "Book a tour",
        "when": "{weekday} {date}, {start}–{end}",
        "cancelled.title": "Your tour was cancelled ({name})",
        "cancelled.badge": "Your tour was cancelled",
        "cancelled.line": "The facility cancelled this tour.",
        "another": "Pick another time",
        "result.offered.title": "Daycare place offered ({name})",
        "result.waitlisted.title": "Daycare result: on the waiting list",
        "result.offered.badge": "Place offered",
        "result.waitlisted.badge": "Waiting list",
        "result.offered.line": "{name} (wish {rank}) offered a place in the {klass} from {month}.",
        "result.waitlisted.line": (
            "No wished facility had a place for the {klass} from {month} this round"
            " (waiting list)."
        ),
        "result.points": "Your points: {points}",
        "result.offered.next": (
            "Next: the municipality will invite you to an interview and a health ch"
            "eck. If you decline, tell them soon."
        ),
        "result.waitlisted.next": (
            "Next: apply for the second round from My applications (your answers are kept). "
            "You can also look for places at certified (認証) and small-scale daycares."
        ),
        "result.leave": (
            "To extend parental leave, hand the waiti"
            "ng-list notice (保留通知書) of this result to"
            " your employer."
        ),
        "result.search": "Find daycares with places",
        "result.status": "My applications",
    },
}


def text(key: str, lang: str, **values: Any) -> str:
    """A notice text in the family's language (Japanese unless English)."""
    return TEXTS["en" if lang == "en" else "ja"][key].format(**values)


def class_label(age: int, lang: str) -> str:
    """1歳児クラス / 1-year class."""
    return text("class", lang, age=age)


def weekday(day: date, lang: str) -> str:
    """水 / Wed."""
    return WEEKDAYS["en" if lang == "en" else "ja"][day.weekday()]


def tour_when(slot: TourSlot, lang: str, zone: tzinfo = TOKYO) -> str:
    """2026年12月9日(水) 10:00–11:00 / Wed 9 Dec 2026, 10:00–11:00 (people's time zone)."""
    start, end = slot.starts_at.astimezone(zone), slot.ends_at.astimezone(zone)
    return text(
        "when",
        lang,
        date=format_date(start.date(), lang),
        weekday=weekday(start.date(), lang),
        start=start.strftime("%H:%M"),
        end=end.strftime("%H:%M"),
    )


def facility_name(facility: Facility, lang: str) -> str:
    """The facility's name in the family's language (Japanese when there is no English)."""
    return (facility.name_en if lang == "en" else "") or facility.name_ja


def map_url(facility: Facility) -> str | None:
    """A Google Maps link to the facility (its coordinates, else its address)."""
    if facility.latitude is not None and facility.longitude is not None:
        query = f"{facility.latitude:.6f},{facility.longitude:.6f}"
    elif facility.address:
        query = facility.address
    else:
        return None
    return "https://www.google.com/maps/search/?api=1&query=" + quote(query, safe=",")


def tour_subject(booking_id: int) -> str:
    """The ledger subject of a booking's reminder."""
    return f"tour:{booking_id}"


def seat_subject(facility_pk: int, class_age: int) -> str:
    """The ledger subject of a "seat opened" notice."""
    return f"seat:{facility_pk}:{class_age}"


# -- tour reminders --------------------------------------------------------------------------


def _reminder_draft(
    booking: TourBooking, slot: TourSlot, facility: Facility, *, now: datetime, zone: tzinfo
) -> NoticeDraft:
    assert booking.id is not None and facility.id is not None
    day = slot.starts_at.astimezone(zone).date()
    due = datetime.combine(day - timedelta(days=1), REMIND_AT, tzinfo=zone).astimezone(UTC)
    later = due > now
    names = {lang: facility_name(facility, lang) for lang in ("ja", "en")}
    payload = {
        "title": {lang: text("reminder.title", lang, name=names[lang]) for lang in names},
        "facility": names,
        "facility_pk": facility.id,
        "booking": booking.id,
        "when": {lang: tour_when(slot, lang, zone) for lang in names},
        "address": facility.address,
        "notes": slot.notes,
        "map": map_url(facility),
    }
    return NoticeDraft(
        family_id=booking.family_id,
        subject=tour_subject(booking.id),
        program_id=None,
        child_key="",
        kind=TOUR_REMINDER,
        cycle=day.isoformat(),
        issuer=facility.municipality,
        category="",
        channel="line",
        deadline=day,
        due_at=due if later else now,
        # Scheduled until 09:00 the day before; planning then applies the quiet hours.
        status="scheduled" if later else "pending",
        payload=payload,
    )


def _quiet(value: str | QuietHours | None) -> QuietHours | None:
    return value if isinstance(value, QuietHours) or value is None else parse_quiet_hours(value)


def reminder_in_time(
    draft: NoticeDraft, slot: TourSlot, quiet: QuietHours | None, *, zone: tzinfo = TOKYO
) -> bool:
    """Whether a reminder due at `draft.due_at` would go (after the family's quiet hours) at
    least `REMINDER_LEAD` before the tour starts. A reminder is urgent (its deadline is the
    tour's date), so neither the digest nor the one-push-a-day rule holds it."""
    sends = allowed_from(draft.due_at.astimezone(zone), quiet)
    return sends <= slot.starts_at - REMINDER_LEAD


async def remind_if_tomorrow(
    session: AsyncSession,
    booking: TourBooking,
    slot: TourSlot,
    facility: Facility,
    *,
    now: datetime,
    zone: tzinfo = TOKYO,
    quiet_hours: str | QuietHours | None = DEFAULT_QUIET_HOURS,
) -> bool:
    """Record the reminder of a booking just made when its tour is tomorrow (the daily pass
    has run already) and it can still go an hour before the tour (`reminder_in_time`, with
    the family's quiet hours, else `quiet_hours`); whether a notice was recorded."""
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    if booking.status != "booked" or slot.starts_at.astimezone(zone).date() != tomorrow:
        return False
    draft = _reminder_draft(booking, slot, facility, now=now, zone=zone)
    family = await session.get(Family, booking.family_id)
    default = _quiet(quiet_hours)
    quiet = family_quiet_hours(family, default) if family is not None else default
    if not reminder_in_time(draft, slot, quiet, zone=zone):
        return False
    return bool(await record_new(session, [draft]))


async def record_tour_reminders(
    session: AsyncSession,
    *,
    now: datetime,
    zone: tzinfo = TOKYO,
    quiet_hours: str | QuietHours | None = DEFAULT_QUIET_HOURS,
) -> int:
    """Record reminders for every live booking whose tour is tomorrow and whose reminder can
    go an hour before the tour (`reminder_in_time`); how many were new (a second run records
    nothing)."""
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(tomorrow + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    rows = await session.exec(
        select(TourBooking, TourSlot, Facility, Family)
        .join(TourSlot, col(TourSlot.id) == col(TourBooking.slot_id))
        .join(Facility, col(Facility.id) == col(TourSlot.facility_pk))
        .join(Family, col(Family.id) == col(TourBooking.family_id))
        .where(
            col(TourBooking.status) == "booked",
            col(TourSlot.status) == "open",
            col(TourSlot.starts_at) >= start,
            col(TourSlot.starts_at) < end,
            col(Family.state) == "active",
        )
    )
    default = _quiet(quiet_hours)
    drafts = []
    for booking, slot, facility, family in rows.all():
        draft = _reminder_draft(booking, slot, facility, now=now, zone=zone)
        if reminder_in_time(draft, slot, family_quiet_hours(family, default), zone=zone):
            drafts.append(draft)
    return len(await record_new(session, drafts))


async def tour_reminder_pass(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    zone: tzinfo = TOKYO,
    quiet_hours: str | QuietHours | None = DEFAULT_QUIET_HOURS,
) -> dict[str, int]:
    """The scheduler's reminder pass (`JobContext.remind`; the composition root binds the
    operator's quiet hours): unsent reminders of bookings no longer live go (cancelled
    through the API, a slot the facility cancelled), then tomorrow's tours' reminders are
    recorded."""
    async with transaction(sessions) as session:
        dropped = await forget_stale_tour_reminders(session)
        new = await record_tour_reminders(session, now=now, zone=zone, quiet_hours=quiet_hours)
    return {"reminders": new, "new": new, "suppressed": dropped}


async def forget_stale_tour_reminders(session: AsyncSession) -> int:
    """Unsent reminders whose booking was cancelled or deleted, or whose slot was cancelled,
    are removed; how many."""
    found = await session.exec(
        select(Notice).where(
            col(Notice.kind) == TOUR_REMINDER,
            col(Notice.send_id).is_(None),
            col(Notice.status).in_(("pending", "scheduled")),
        )
    )
    unsent = list(found.all())
    if not unsent:
        return 0
    booking_ids = {
        int(n.subject.split(":", 1)[1]) for n in unsent if n.subject.split(":", 1)[1].isdigit()
    }
    live = set(
        (
            await session.exec(
                select(TourBooking.id)
                .join(TourSlot, col(TourSlot.id) == col(TourBooking.slot_id))
                .where(
                    col(TourBooking.id).in_(sorted(booking_ids)),
                    col(TourBooking.status) == "booked",
                    col(TourSlot.status) == "open",
                )
            )
        ).all()
    )
    stale = [n for n in unsent if n.subject not in {tour_subject(i) for i in live if i}]
    for notice in stale:
        await session.delete(notice)
    await session.flush()
    return len(stale)


async def forget_tour_reminders(session: AsyncSession, booking_id: int) -> int:
    """A booking was cancelled or moved: its reminder, not yet handed to a channel, goes
    (so a booking made again later is reminded again); how many."""
    result = await session.exec(
        delete(Notice).where(  # type: ignore[call-overload]
            col(Notice.subject) == tour_subject(booking_id),
            col(Notice.kind) == TOUR_REMINDER,
            col(Notice.send_id).is_(None),
            col(Notice.status).in_(("pending", "scheduled")),
        )
    )
    return int(result.rowcount or 0)


# -- tour cancelled --------------------------------------------------------------------------


def _cancelled_draft(
    booking: TourBooking, slot: TourSlot, facility: Facility, *, now: datetime, zone: tzinfo
) -> NoticeDraft:
    assert booking.id is not None and facility.id is not None
    day = slot.starts_at.astimezone(zone).date()
    names = {lang: facility_name(facility, lang) for lang in ("ja", "en")}
    return NoticeDraft(
        family_id=booking.family_id,
        subject=tour_subject(booking.id),
        program_id=None,
        child_key="",
        kind=TOUR_CANCELLED,
        cycle=day.isoformat(),
        issuer=facility.municipality,
        category="",
        channel="line",
        # The tour's date: urgent, so neither the digest nor the daily limit holds it.
        deadline=day,
        due_at=now,
        status="pending",
        payload={
            "title": {lang: text("cancelled.title", lang, name=names[lang]) for lang in names},
            "facility": names,
            "facility_pk": facility.id,
            "booking": booking.id,
            "when": {lang: tour_when(slot, lang, zone) for lang in names},
            "notes": slot.notes,
        },
    )


async def tell_tour_cancelled(
    session: AsyncSession,
    bookings: Sequence[TourBooking],
    slot: TourSlot,
    facility: Facility,
    *,
    now: datetime,
    zone: tzinfo = TOKYO,
) -> int:
    """The facility cancelled a slot: one `tour-cancelled` notice per booking it cancelled,
    due now (the notifier's release job sends it); how many new."""
    drafts = [_cancelled_draft(b, slot, facility, now=now, zone=zone) for b in bookings]
    new = await record_new(session, drafts)
    if new:
        log.info("tour-cancelled notices", extra={"slot": slot.id, "new": len(new)})
    return len(new)


# -- seat opened -----------------------------------------------------------------------------


async def seats_opened(
    session: AsyncSession,
    opened: Sequence[OpenedSeat],
    *,
    now: datetime | None = None,
    zone: tzinfo = TOKYO,
) -> int:
    """Tell each family that saved a facility for a child of the class where places opened:
    one `seat-opened` notice per (family, facility, class, month of entry); how many new.

    The saved child decides the class (else, when that child was re-entered since, any child of
    the family); months already begun are not announced.
    """
    now = now or datetime.now(UTC)
    this_month = month_start(now.astimezone(zone).date())
    wanted = [o for o in dict.fromkeys(opened) if month_start(o.entry_month) >= this_month]
    if not wanted:
        return 0
    pks = sorted({o.facility_pk for o in wanted})
    facilities = {
        f.id: f
        for f in (
            await session.exec(
                select(Facility).where(col(Facility.id).in_(pks), col(Facility.status) == "active")
            )
        ).all()
    }
    saved = list(
        (
            await session.exec(
                select(SavedFacility).where(col(SavedFacility.facility_pk).in_(pks))
            )
        ).all()
    )
    family_ids = sorted({s.family_id for s in saved})
    families = {
        f.id: f
        for f in (await session.exec(select(Family).where(col(Family.id).in_(family_ids)))).all()
        if f.state == "active"
    }
    children: dict[int, list[Child]] = {}
    for child in (
        await session.exec(select(Child).where(col(Child.family_id).in_(family_ids)))
    ).all():
        children.setdefault(child.family_id, []).append(child)
    drafts: dict[tuple[Any, ...], NoticeDraft] = {}
    for seat in wanted:
        facility = facilities.get(seat.facility_pk)
        if facility is None:
            continue
        month = month_start(seat.entry_month)
        for row in saved:
            if row.facility_pk != seat.facility_pk or row.family_id not in families:
                continue
            if row.entry_month is not None and month_start(row.entry_month) != month:
                continue  # saved for another month of entry
            kids = children.get(row.family_id, [])
            own = [c for c in kids if c.id == row.child_id]
            births = [c.birth_date for c in (own or kids)]
            if row.child_id is None:
                # Saved for a baby not yet born: the due date stands for the birth date.
                due = families[row.family_id].due_date
                births = [due] if due is not None else births
            if not any(entry_class(birth, month) == seat.class_age for birth in births):
                continue
            draft = _seat_draft(row.family_id, facility, seat.class_age, month, now, zone)
            drafts.setdefault(draft.key, draft)
    new = await record_new(session, list(drafts.values()))
    if new:
        log.info("seat-opened notices", extra={"new": len(new), "seats": len(wanted)})
    return len(new)


def _seat_draft(
    family_id: int,
    facility: Facility,
    class_age: int,
    month: date,
    now: datetime,
    zone: tzinfo = TOKYO,
) -> NoticeDraft:
    assert facility.id is not None
    # Tomorrow (local): urgent for the planning (sent at the next moment outside quiet hours,
    # never held for the digest), and still in date after a night's quiet hours.
    deadline = now.astimezone(zone).date() + timedelta(days=1)
    names = {lang: facility_name(facility, lang) for lang in ("ja", "en")}
    return NoticeDraft(
        family_id=family_id,
        subject=seat_subject(facility.id, class_age),
        program_id=None,
        child_key="",
        kind=SEAT_OPENED,
        cycle=month.strftime("%Y-%m"),
        issuer=facility.municipality,
        category="daycare",
        channel="line",
        deadline=deadline,
        due_at=now,
        payload={
            "title": {lang: text("seat.title", lang, name=names[lang]) for lang in names},
            "facility": names,
            "facility_pk": facility.id,
            "class_age": class_age,
            "month": month.isoformat(),
            "map": map_url(facility),
        },
    )


# -- renderers ------------------------------------------------------------------------------

Json = dict[str, Any]


def _localized(value: Any, lang: str) -> str:
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("ja") or "")
    return str(value or "")


def _line(value: str, **style: Any) -> Json:
    return {"type": "text", "text": value[:300] or "-", "wrap": True, **style}


def _uri_button(label: str, url: Any) -> Json | None:
    if not isinstance(url, str) or not url.startswith("https://") or len(url) > 1000:
        return None
    return {"type": "uri", "label": label, "uri": url}


def _postback_button(label: str, action: str, **params: Any) -> Json | None:
    data = postback_data(action, **params)
    return {"type": "postback", "label": label, "data": data} if data else None


def _bubble(lines: list[Json], actions: list[Json | None]) -> Json:
    buttons = [
        {
            "type": "button",
            "action": action,
            "height": "sm",
            "style": "primary" if i == 0 else "secondary",
        }
        for i, action in enumerate(a for a in actions if a is not None)
    ]
    bubble: Json = {
        "type": "bubble",
        "size": "kilo",
        "body": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": lines},
    }
    if buttons:
        bubble["footer"] = {
            "type": "box",
            "layout": "vertical",
            "spacing": "sm",
            "contents": buttons,
        }
    return bubble


def tour_reminder_bubble(notice: Notice, lang: str, today: date | None = None) -> Json:
    """The reminder: facility, time, address, notes; buttons map and cancel."""
    payload = notice.payload or {}
    lines = [
        _line(text("reminder.badge", lang), size="xs", weight="bold", color="#1E7D32"),
        _line(_localized(payload.get("facility"), lang), weight="bold", size="md"),
        _line(_localized(payload.get("when"), lang), size="sm", weight="bold"),
    ]
    if payload.get("address"):
        lines.append(_line(str(payload["address"]), size="sm", color="#555555"))
    if payload.get("notes"):
        lines.append(_line(str(payload["notes"]), size="sm", color="#555555"))
    booking = payload.get("booking")
    return _bubble(
        lines,
        [
            _uri_button(text("map", lang), payload.get("map")),
            _postback_button(text("cancel", lang), pb.DC_CANCEL, b=booking)
            if isinstance(booking, int)
            else None,
        ],
    )


def seat_opened_bubble(notice: Notice, lang: str, today: date | None = None) -> Json:
    """A seat opened: facility, class and month; buttons details, book a tour and map."""
    payload = notice.payload or {}
    lines = [
        _line(text("seat.badge", lang), size="xs", weight="bold", color="#C62828"),
        _line(_localized(payload.get("facility"), lang), weight="bold", size="md"),
    ]
    age, month = payload.get("class_age"), payload.get("month")
    if isinstance(age, int) and isinstance(month, str):
        shown = format_month(date.fromisoformat(month), lang)
        lines.append(
            _line(text("seat.line", lang, klass=class_label(age, lang), month=shown), size="sm")
        )
    facility = payload.get("facility_pk")
    known = isinstance(facility, int)
    return _bubble(
        lines,
        [
            _postback_button(text("details", lang), pb.DC_DETAILS, f=facility) if known else None,
            _postback_button(text("book", lang), pb.DC_SLOTS, f=facility) if known else None,
            _uri_button(text("map", lang), payload.get("map")),
        ],
    )


def tour_cancelled_bubble(notice: Notice, lang: str, today: date | None = None) -> Json:
    """The facility cancelled the tour: facility, time, its note; buttons another time and
    details."""
    payload = notice.payload or {}
    lines = [
        _line(text("cancelled.badge", lang), size="xs", weight="bold", color="#C62828"),
        _line(_localized(payload.get("facility"), lang), weight="bold", size="md"),
        _line(_localized(payload.get("when"), lang), size="sm", weight="bold"),
        _line(text("cancelled.line", lang), size="sm"),
    ]
    if payload.get("notes"):
        lines.append(_line(str(payload["notes"]), size="sm", color="#555555"))
    facility = payload.get("facility_pk")
    known = isinstance(facility, int)
    return _bubble(
        lines,
        [
            _postback_button(text("another", lang), pb.DC_SLOTS, f=facility) if known else None,
            _postback_button(text("details", lang), pb.DC_DETAILS, f=facility) if known else None,
        ],
    )


def _points_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def result_bubble(notice: Notice, lang: str, today: date | None = None) -> Json:
    """A round's result for one child: 内定 (where, which wish) or 保留, the reason in words,
    the family's points and what to do next."""
    payload = notice.payload or {}
    offered = payload.get("status") == "offered"
    state = "offered" if offered else "waitlisted"
    age = payload.get("class_age")
    month = payload.get("entry_month")
    klass = class_label(age, lang) if isinstance(age, int) else ""
    shown = format_month(date.fromisoformat(month), lang) if isinstance(month, str) else ""
    name = _localized(payload.get("facility"), lang)
    lines = [
        _line(
            text(f"result.{state}.badge", lang),
            size="xs",
            weight="bold",
            color="#2E7D32" if offered else "#C62828",
        ),
        _line(
            text(
                f"result.{state}.line",
                lang,
                name=name,
                rank=payload.get("wish_rank") or "-",
                klass=klass,
                month=shown,
            ),
            weight="bold",
            size="sm",
        ),
    ]
    explanation = _localized(payload.get("explanation"), lang)
    # Placed at the first wish: the headline says it all; otherwise the why is worth reading.
    if explanation and not (offered and payload.get("wish_rank") == 1):
        lines.append(_line(explanation, size="sm", color="#555555"))
    if payload.get("points") is not None:
        lines.append(
            _line(text("result.points", lang, points=_points_text(payload["points"])), size="sm")
        )
    lines.append(_line(text(f"result.{state}.next", lang), size="sm"))
    if not offered and payload.get("accepts_leave_extension"):
        lines.append(_line(text("result.leave", lang), size="sm"))
    facility = payload.get("facility_pk")
    actions = [
        _postback_button(text("details", lang), pb.DC_DETAILS, f=facility)
        if offered and isinstance(facility, int)
        else _postback_button(text("result.search", lang), pb.MENU_DAYCARE),
        _postback_button(text("result.status", lang), pb.AP_STATUS),
    ]
    return _bubble(lines, actions)


def register() -> None:
    """Teach the notifier's messages the daycare notice kinds (once per process)."""
    if TOUR_REMINDER not in RENDERERS:
        register_renderer(
            TOUR_REMINDER,
            tour_reminder_bubble,
            badge={"ja": TEXTS["ja"]["reminder.badge"], "en": TEXTS["en"]["reminder.badge"]},
        )
    if TOUR_CANCELLED not in RENDERERS:
        register_renderer(
            TOUR_CANCELLED,
            tour_cancelled_bubble,
            badge={"ja": TEXTS["ja"]["cancelled.badge"], "en": TEXTS["en"]["cancelled.badge"]},
        )
    if DAYCARE_RESULT not in RENDERERS:
        register_renderer(
            DAYCARE_RESULT,
            result_bubble,
            badge={
                "ja": TEXTS["ja"]["result.offered.badge"]
                + "・"
                + TEXTS["ja"]["result.waitlisted.badge"],
                "en": "Daycare result",
            },
        )
    if SEAT_OPENED not in RENDERERS:
        register_renderer(
            SEAT_OPENED,
            seat_opened_bubble,
            badge={"ja": TEXTS["ja"]["seat.badge"], "en": TEXTS["en"]["seat.badge"]},
        )


register()

__all__ = [
    "DAYCARE_RESULT",
    "SEAT_OPENED",
    "TOUR_CANCELLED",
    "TOUR_REMINDER",
    "forget_stale_tour_reminders",
    "forget_tour_reminders",
    "record_tour_reminders",
    "remind_if_tomorrow",
    "reminder_in_time",
    "seats_opened",
    "tell_tour_cancelled",
    "tour_reminder_pass",
]
