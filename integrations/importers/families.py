"""`hagukumi import-families FILE.jsonl`: families from an existing system, or for benchmarks.

One JSON object a line: the profile input (FamilyInput fields at the top level), then
`consented_at` (aware ISO datetime; missing or null = no consent), an optional `line_user_id`
and an optional `app` {"issuer", "callback_url"} that registers an app subscription.

- A line with a `line_user_id` that is already stored updates that family (profile and
  children) instead of adding another: importing a file twice changes nothing new. Lines
  without one are matched by `external_id` (the family's id in the source system, kept in the
  family's preferences) the same way; lines with neither create a new family every time.
- A family without consent is imported but never told anything: state "new", no consent.
  Re-importing a family without consent keeps a consent recorded earlier (e.g. via LINE).
- Bad lines are reported with their number and reason and skipped; the rest are saved in
  batches of 1,000 lines, one transaction each.
- App subscriptions get a fresh token and secret, never printed: with `--secrets-out FILE`
  they are written there (JSONL, mode 0600) for the app backend; a subscription already
  stored keeps its token and secret.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.importers.report import ImportReport, capped
from registry import subscriptions as subs
from registry.auth import hash_key
from registry.db import transaction
from registry.http import error_reason
from registry.models import AppSubscription, Child, Family, Municipality, utcnow
from registry.urls import CONTEXT_KEY as URL_CONTEXT
from registry.urls import STRICT, UrlPolicy
from rules.lgcode import is_valid_lgcode

log = logging.getLogger(__name__)

BATCH_LINES = 1000
MAX_LINE_BYTES = 1_000_000
LINE_USER_ID = r"^U[0-9a-f]{32}$"
EXTERNAL_ID = r"^[\x21-\x7e]{1,64}$"  # printable ASCII, no spaces, 1-64 characters
TOKYO = ZoneInfo("Asia/Tokyo")


class FamilyFileError(Exception):
    """The file as a whole cannot be read."""


class AppLink(BaseModel):
    """An app subscription to create with the family."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(description="Local government code of the app's municipality.")
    callback_url: subs.CallbackUrl | None = Field(
        default=None, description="Where the app backend takes notices (https)."
    )


class FamilyLine(subs.SubscriberProfile):
    """One line of the file."""

    consented_at: subs.ConsentTime | None = Field(
        default=None, description="When the family consented; null = imported without consent."
    )
    line_user_id: str | None = Field(
        default=None, pattern=LINE_USER_ID, description="The family's LINE user ID."
    )
    external_id: str | None = Field(
        default=None,
        pattern=EXTERNAL_ID,
        description="The family's stable id in the source system: a second import of a line "
        "without line_user_id updates the family of the same external_id.",
    )
    app: AppLink | None = Field(default=None, description="Register an app subscription too.")


@dataclass
class FamilyImportReport(ImportReport[int]):
    """What an import did. `rejected` are bad lines (line number, why); `skipped` are blank."""

    lines: int = 0
    skipped: int = 0
    without_consent: int = 0
    subscriptions: int = 0
    unmatched: int = 0  # lines with neither line_user_id nor external_id

    @property
    def errors(self) -> int:
        """Bad lines."""
        return len(self.rejected)

    def progress_line(self) -> str:
        """One line of progress."""
        return (
            f"{self.lines} lines: {self.created} created, {self.updated} updated, "
            f"{self.skipped} skipped, {self.errors} errors"
        )

    def render(self, *, max_problems: int = 50) -> str:
        """The final lines of the CLI."""
        lines = [
            f"import-families: {self.progress_line()}; "
            f"{self.without_consent} without consent (never notified), "
            f"{self.subscriptions} app subscriptions created"
        ]
        if self.unmatched:
            lines.append(
                f"  note: {self.unmatched} lines have neither line_user_id nor external_id: "
                "importing them again adds those families again"
            )
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += capped(
            self.rejected, max_problems, lambda p: f"  line {p[0]}: {p[1]}", "bad lines"
        )
        return "\n".join(lines)


@dataclass
class _Planned:
    """A family to insert in this batch."""

    line: int
    row: dict[str, Any]
    data: FamilyLine


async def import_families(
    path: Path,
    sessions: async_sessionmaker[AsyncSession],
    *,
    progress: Callable[[str], None] | None = print,
    secrets_out: Path | None = None,
    today: date | None = None,
    url_policy: UrlPolicy = STRICT,
) -> FamilyImportReport:
    """Import a JSONL file of families; never stops at a bad line.

    `url_policy`: the hosts the operator allows for app callbacks (HAGUKUMI_CALLBACK_ALLOW).
    """
    say = progress or (lambda _line: None)
    on = today or datetime.now(TOKYO).date()
    report = FamilyImportReport()
    async with sessions() as session:
        known = set((await session.exec(select(Municipality.code))).all())
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise FamilyFileError(f"cannot read {path}: {exc.strerror}") from exc
    with handle, _secrets_file(secrets_out) as secrets_file:
        batch: list[tuple[int, FamilyLine]] = []
        for number, raw in enumerate(handle, start=1):
            report.lines = number
            data = _parse(raw, number, report, known, on, url_policy)
            if data is not None:
                batch.append((number, data))
                if data.line_user_id is None and data.external_id is None:
                    report.unmatched += 1
            if number % BATCH_LINES == 0:
                await _save(sessions, batch, report, secrets_file)
                batch = []
                say(report.progress_line())
        if batch:
            await _save(sessions, batch, report, secrets_file)
    if report.subscriptions and secrets_out is None:
        report.warnings.append(
            f"{report.subscriptions} app subscriptions were created without --secrets-out: "
            "their tokens and secrets are not kept anywhere; the app backend must register "
            "those families again (POST /api/v1/app/subscribers) or re-import with --secrets-out"
        )
    log.info(
        "families imported",
        extra={
            # "created" is a LogRecord attribute: logging refuses it as an extra key.
            "lines": report.lines,
            "families_created": report.created,
            "families_updated": report.updated,
            "errors": report.errors,
        },
    )
    return report


@contextmanager
def _secrets_file(path: Path | None) -> Iterator[IO[str] | None]:
    if path is None:
        yield None
        return
    try:
        # Tokens and secrets are credentials: readable by the owner only, from the first byte.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
    except OSError as exc:
        raise FamilyFileError(f"cannot write {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        yield handle


def _parse(
    raw: bytes,
    number: int,
    report: FamilyImportReport,
    known: set[str],
    today: date,
    url_policy: UrlPolicy = STRICT,
) -> FamilyLine | None:
    if len(raw) > MAX_LINE_BYTES:
        report.reject(number, f"line longer than {MAX_LINE_BYTES} bytes")
        return None
    if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a UTF-8 byte order mark, as some spreadsheet exports write
    if not raw.strip():
        report.skipped += 1
        return None
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        report.reject(number, "not UTF-8 text")
        return None
    except json.JSONDecodeError as exc:
        report.reject(number, f"not JSON: {exc.msg} (column {exc.colno})")
        return None
    if not isinstance(value, dict):
        report.reject(number, "not a JSON object")
        return None
    try:
        data = FamilyLine.model_validate(value, context={URL_CONTEXT: url_policy})
    except ValidationError as exc:
        report.reject(number, _reasons(exc))
        return None
    if data.municipality not in known:
        report.reject(number, f"municipality: {data.municipality} is not a served municipality")
        return None
    if data.app is not None and (
        not is_valid_lgcode(data.app.issuer) or data.app.issuer not in known
    ):
        report.reject(number, "app.issuer: not a known local government code")
        return None
    unborn = subs.unborn_children(data.children, today)
    if unborn:
        report.reject(
            number,
            f"children.{unborn[0]}.birth_date: after today "
            "(record an expected child as pregnant/due_date)",
        )
        return None
    return data


def _reasons(exc: ValidationError) -> str:
    # Messages only, never the input: a bad line may hold personal data.
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {error_reason(e)}" for e in errors[:3]
    ]
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return "; ".join(parts)


async def _save(
    sessions: async_sessionmaker[AsyncSession],
    batch: list[tuple[int, FamilyLine]],
    report: FamilyImportReport,
    secrets_file: IO[str] | None,
) -> None:
    if not batch:
        return
    # A LINE user who follows while the import runs may take a line_user_id between our
    # look-up and our insert: the batch is then tried once more, seeing that family.
    for attempt in (1, 2):
        try:
            async with transaction(sessions) as session:
                outcome = await _write_batch(session, batch)
            break
        except IntegrityError:
            if attempt == 2:
                _batch_failed(batch, report, "a line_user_id was taken while importing")
                return
        except DBAPIError as exc:
            log.warning("import batch refused", extra={"error": type(exc.orig).__name__})
            _batch_failed(batch, report, f"the database refused the batch ({type(exc).__name__})")
            return
    created, updated, without_consent, new_secrets = outcome
    report.created += created
    report.updated += updated
    report.without_consent += without_consent
    report.subscriptions += len(new_secrets)
    if secrets_file is not None:
        for entry in new_secrets:
            secrets_file.write(json.dumps(entry) + "\n")
        secrets_file.flush()


def _batch_failed(
    batch: list[tuple[int, FamilyLine]], report: FamilyImportReport, why: str
) -> None:
    for number, _data in batch:
        report.reject(number, why)


class _Stored(NamedTuple):
    """What an update needs of a stored family."""

    id: int
    state: str
    consented_at: datetime | None
    onboarded_at: datetime | None
    preferences: dict[str, Any] | None
    line_user_id: str | None


async def _write_batch(
    session: AsyncSession, batch: Sequence[tuple[int, FamilyLine]]
) -> tuple[int, int, int, list[dict[str, Any]]]:
    """Insert and update one batch; returns (created, updated, without consent, secrets)."""
    now = utcnow()
    stored = await _stored_families(session, batch)
    by_external = await _stored_by_external_id(session, batch)
    subscribed: dict[int, int] = {}
    if stored or by_external:
        family_ids = [f.id for f in stored.values()] + [f.id for f in by_external.values()]
        found = await session.exec(
            select(AppSubscription.family_id, AppSubscription.id).where(
                col(AppSubscription.family_id).in_(family_ids)
            )
        )
        subscribed = {family_id: sub_id for family_id, sub_id in found.all() if sub_id}

    planned: list[_Planned] = []
    planned_by_user: dict[str, int] = {}
    planned_by_external: dict[str, int] = {}
    changes: dict[int, tuple[int, FamilyLine, dict[str, Any]]] = {}
    created = updated = 0
    for number, data in batch:
        uid, ext = data.line_user_id, data.external_id
        family = stored.get(uid) if uid is not None else None
        if family is None and ext is not None and ext in by_external:
            family = by_external[ext]
            # Known by its external id only: a LINE user ID the line brings links it.
            if family.line_user_id is not None and uid is not None and family.line_user_id != uid:
                family = None  # another LINE user: not the same family
        if family is not None:
            changes[family.id] = (number, data, _changed_family(family, data, now))
            updated += 1
            continue
        earlier = planned_by_user.get(uid) if uid is not None else None
        if earlier is None and uid is None and ext is not None:
            earlier = planned_by_external.get(ext)
        if earlier is not None:
            # The same family twice in one batch: the later line wins, as on a later import.
            planned[earlier] = _Planned(number, _new_family(data, now), data)
            updated += 1
            continue
        if uid is not None:
            planned_by_user[uid] = len(planned)
        if ext is not None:
            planned_by_external.setdefault(ext, len(planned))
        planned.append(_Planned(number, _new_family(data, now), data))
        created += 1
    without_consent = sum(1 for p in planned if p.data.consented_at is None)

    new_ids = await _insert_returning_ids(session, Family, [p.row for p in planned])
    if changes:
        # Bulk UPDATE by primary key: one executemany, not an ORM object a row.
        await session.exec(update(Family), params=[row for _, _, row in changes.values()])
        await session.exec(
            delete(Child).where(col(Child.family_id).in_(list(changes)))  # type: ignore[call-overload]
        )
    child_rows: list[dict[str, Any]] = []
    for family_id, p in zip(new_ids, planned, strict=True):
        child_rows += subs.child_rows(family_id, p.data.children)
    for family_id, (_number, data, _row) in changes.items():
        child_rows += subs.child_rows(family_id, data.children)
    if child_rows:
        await session.exec(insert(Child), params=child_rows)

    links: list[tuple[int, int, FamilyLine]] = [
        (p.line, family_id, p.data)
        for family_id, p in zip(new_ids, planned, strict=True)
        if p.data.app is not None
    ]
    relinked: list[dict[str, Any]] = []
    for family_id, (number, data, _row) in changes.items():
        if data.app is None:
            continue
        if family_id in subscribed:
            relinked.append(
                {
                    "id": subscribed[family_id],
                    "issuer": data.app.issuer,
                    "callback_url": data.app.callback_url,
                }
            )
        else:
            links.append((number, family_id, data))
    if relinked:
        await session.exec(update(AppSubscription), params=relinked)
    new_secrets = await _subscribe(session, links, now)
    return created, updated, without_consent, new_secrets


async def _stored_families(
    session: AsyncSession, batch: Sequence[tuple[int, FamilyLine]]
) -> dict[str, _Stored]:
    user_ids = {d.line_user_id for _, d in batch if d.line_user_id is not None}
    if not user_ids:
        return {}
    # Locked until the batch commits, so a bot turn cannot change the state in between.
    statement = (
        sa_select(*_STORED_COLUMNS).where(col(Family.line_user_id).in_(user_ids)).with_for_update()
    )
    rows = await session.exec(statement)  # type: ignore[call-overload]
    return {row[-1]: _Stored(*row) for row in rows.all() if row[-1] is not None}


_STORED_COLUMNS = (
    col(Family.id),
    col(Family.state),
    col(Family.consented_at),
    col(Family.onboarded_at),
    col(Family.preferences),
    col(Family.line_user_id),
)


async def _stored_by_external_id(
    session: AsyncSession, batch: Sequence[tuple[int, FamilyLine]]
) -> dict[str, _Stored]:
    """The stored families of the batch's external ids (kept in `preferences`)."""
    external_ids = {d.external_id for _, d in batch if d.external_id is not None}
    if not external_ids:
        return {}
    stored_id = col(Family.preferences)["external_id"].as_string()
    statement = (
        sa_select(stored_id, *_STORED_COLUMNS)
        .where(stored_id.in_(external_ids), col(Family.state) != "deleted")
        .order_by(col(Family.id))
        .with_for_update()
    )
    rows = await session.exec(statement)  # type: ignore[call-overload]
    found: dict[str, _Stored] = {}
    for ext, *rest in rows.all():
        found.setdefault(ext, _Stored(*rest))  # the oldest, should two share an id
    return found


async def _subscribe(
    session: AsyncSession, links: list[tuple[int, int, FamilyLine]], now: datetime
) -> list[dict[str, Any]]:
    if not links:
        return []
    rows: list[dict[str, Any]] = []
    secrets: list[dict[str, Any]] = []
    for number, family_id, data in links:
        assert data.app is not None
        token, secret = subs.new_token(), subs.new_secret()
        rows.append(
            {
                "family_id": family_id,
                "issuer": data.app.issuer,
                "token_hash": hash_key(token),
                "secret": secret,
                "callback_url": data.app.callback_url,
                "created_at": now,
            }
        )
        entry: dict[str, Any] = {"line": number, "family_id": family_id}
        if data.line_user_id is not None:
            entry["line_user_id"] = data.line_user_id
        if data.external_id is not None:
            entry["external_id"] = data.external_id
        secrets.append({**entry, "issuer": data.app.issuer, "token": token, "secret": secret})
    ids = await _insert_returning_ids(session, AppSubscription, rows)
    for entry, subscription_id in zip(secrets, ids, strict=True):
        entry["subscription_id"] = subscription_id
    return secrets


async def _insert_returning_ids(
    session: AsyncSession, model: type[Family] | type[AppSubscription], rows: list[dict[str, Any]]
) -> list[int]:
    """Insert rows in one statement; their new ids in the order of `rows`."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "sqlite":
        # To keep RETURNING in parameter order SQLAlchemy sends SQLite one INSERT a row (ten
        # times slower). SQLite has one writer and numbers the rows of one INSERT in VALUES
        # order (each new rowid is the largest plus one), so ascending ids are in row order.
        result = await session.exec(insert(model).returning(col(model.id)), params=rows)
        return sorted(row[0] for row in result.all())
    result = await session.exec(
        insert(model).returning(col(model.id), sort_by_parameter_order=True), params=rows
    )
    return [row[0] for row in result.all()]


def _new_family(data: FamilyLine, now: datetime) -> dict[str, Any]:
    consented = data.consented_at is not None
    app_only = data.app is not None and data.line_user_id is None
    return {
        "line_user_id": data.line_user_id,
        "state": "active" if consented else "new",
        "consented_at": data.consented_at,
        # A complete profile from the old system: the bot need not onboard a consenting
        # family again (without consent it asks for consent first anyway).
        "onboarded_at": now if consented else None,
        "blocked_at": None,
        "deleted_at": None,
        "preferences": {
            **({"channel": "app"} if app_only else {}),
            **({"external_id": data.external_id} if data.external_id is not None else {}),
        },
        "created_at": now,
        "updated_at": now,
        **subs.household_fields(data),
    }


def _changed_family(family: _Stored, data: FamilyLine, now: datetime) -> dict[str, Any]:
    """The columns to update; a consent stored earlier stays when the line has none."""
    consented = data.consented_at is not None
    row = {
        "id": family.id,
        "consented_at": data.consented_at or family.consented_at,
        "onboarded_at": family.onboarded_at or (now if consented else None),
        "state": "active" if consented and family.state == "new" else family.state,
        "line_user_id": family.line_user_id or data.line_user_id,
        "preferences": dict(family.preferences or {}),
        "updated_at": now,
        **subs.household_fields(data),
    }
    if data.external_id is not None:
        row["preferences"]["external_id"] = data.external_id
    return row
