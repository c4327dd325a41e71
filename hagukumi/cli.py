"""The `hagukumi` command line. Every subcommand reads the same settings."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hagukumi.settings import PROJECT_ROOT, Settings, load_settings

DEMO_KEY_FILE = PROJECT_ROOT / "var" / "demo-api-key.txt"


FAMILY_LINE_FORMAT = """\
a line (only municipality is required; the rest are optional):
  {"municipality": "131130",
   "children": [{"birth_date": "2025-06-01", "disability": false, "daycare": "none"}],
   "pregnant": false, "due_date": null, "single_parent": null, "household_income": null,
   "resident_tax_exempt": null, "public_assistance": null, "language": "ja",
   "consented_at": "2026-04-01T09:00+09:00",
   "line_user_id": "U0123456789abcdef0123456789abcdef",
   "external_id": "131130:000123",
   "app": {"issuer": "131130", "callback_url": "https://app.example/hagukumi"}}

  municipality     6-digit local government code (131130 = Shibuya)
  children         birth_date YYYY-MM-DD; daycare none | applying | enrolled
  due_date         YYYY-MM-DD, only with "pregnant": true
  language         ja | en
  consented_at     when the family consented, with a UTC offset; missing or null = imported
                   without consent and never notified
  line_user_id     the family's LINE user ID: a re-import updates that family
  external_id      the family's id in your system (printable ASCII, no spaces, at most 64;
                   unique over every import, e.g. prefixed with the municipality code): a
                   line without line_user_id updates the family of the same external_id;
                   a line with neither is added again on every import
  app              also register a municipality app subscription (issuer, callback_url)

Bad lines are reported with their number and skipped (exit status 1); the rest are saved.
New app subscriptions' tokens and secrets go to --secrets-out only."""


class CliError(Exception):
    """A problem to report to the user in one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hagukumi", description="Hagukumi (はぐくみ): push-type childcare support service"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the web server (API, webhook, health, metrics)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--demo", action="store_true", help="load the demo data first when the database is empty"
    )

    sub.add_parser("migrate", help="bring the database to the newest migration")

    sweep = sub.add_parser("sweep", help="match every family against every program (notices)")
    sweep.add_argument(
        "--now",
        type=_aware_datetime,
        default=None,
        help="as of this moment (ISO 8601 with a UTC offset, e.g. 2026-11-26T06:00+09:00)",
    )
    sweep.add_argument(
        "--dry-run", action="store_true", help="count who would be told; change nothing"
    )
    sub.add_parser("worker", help="deliver notices from the Redis stream (needs redis://)")
    sub.add_parser("scheduler", help="run the scheduled jobs; one active at a time (redis://)")

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="create a key (printed alone on the last line)")
    create.add_argument("--issuer", required=True, help="6-digit local government code")
    create.add_argument(
        "--role", default="municipality", choices=["municipality", "prefecture", "operator"]
    )
    create.add_argument("--name", default="", help="a label for people")
    keys_sub.add_parser("list", help="list keys (never the keys themselves)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id", type=int)

    users = sub.add_parser("users", help="manage the web console's users (staff, operators)")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    ucreate = users_sub.add_parser(
        "create", help="create a console user (a new password is printed once, unless given)"
    )
    ucreate.add_argument("--issuer", required=True, help="6-digit local government code")
    ucreate.add_argument("--email", required=True, help="the user's sign-in email address")
    ucreate.add_argument("--role", default="editor", choices=["editor", "viewer", "operator"])
    ucreate.add_argument("--name", default="", help="the person's name, for the history")
    ucreate.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (at least 12 characters)",
    )
    users_sub.add_parser("list", help="list console users (never their passwords)")
    upass = users_sub.add_parser("set-password", help="give a user a new password")
    upass.add_argument("--email", required=True)
    upass.add_argument("--password-stdin", action="store_true")
    udisable = users_sub.add_parser("disable", help="disable a user (sessions end at once)")
    udisable.add_argument("--email", required=True)

    elig = sub.add_parser("eligibility", help="which published programs a family can get")
    elig.add_argument("family", type=Path, help="FAMILY.json: the profile input form")
    elig.add_argument(
        "--date",
        type=_iso_date,
        default=None,
        help="YYYY-MM-DD; default: the file's `date`, else today",
    )
    elig.add_argument("--json", action="store_true", help="print the API's JSON answer")

    emu = sub.add_parser(
        "line-emulator", help="run the LINE platform emulator (a local stand-in for LINE)"
    )
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8081)
    emu.add_argument("--webhook-url", default=None, help="where to post webhook events")
    emu.add_argument("--channel-secret", default="emulator-secret")
    emu.add_argument("--channel-access-token", default="emulator-token")
    emu.add_argument("--monthly-limit", type=int, default=None, help="messages a month")
    emu.add_argument("--fail-rate", type=float, default=0.0, help="fraction answered 500")
    emu.add_argument("--latency-ms", type=int, default=0)

    fam = sub.add_parser(
        "import-families",
        help="import families from JSON Lines (one family a line)",
        description="Import families from a JSON Lines file (UTF-8, one JSON object a line).",
        epilog=FAMILY_LINE_FORMAT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fam.add_argument("file", type=Path, metavar="FAMILIES.jsonl")
    fam.add_argument(
        "--secrets-out",
        type=Path,
        default=None,
        help="write new app subscriptions' tokens and secrets here (JSONL, mode 0600)",
    )

    imp = sub.add_parser("import-registry", help="import Tokyo registry JSON files")
    imp.add_argument("files", type=Path, nargs="+")

    fac = sub.add_parser(
        "import-facilities",
        help="import childcare facility lists (子育て施設一覧 CSV, Minato's list, GeoJSON)",
        description="Import facility lists: the 推奨データセット 子育て施設一覧 CSV (UTF-8 or "
        "Shift-JIS), Minato's list, Sapporo's GeoJSON. Idempotent by (municipality, NO).",
    )
    fac.add_argument("files", type=Path, nargs="+", metavar="FILE")
    fac.add_argument(
        "--municipality",
        type=_lgcode,
        default=None,
        help="6-digit code, for files without a code column (e.g. 131032 for Minato)",
    )
    fac.add_argument("--dry-run", action="store_true", help="read and report; save nothing")
    fac.add_argument(
        "--force",
        action="store_true",
        help="import even when most addresses name another municipality than --municipality",
    )
    fac.add_argument(
        "--month",
        type=_month,
        default=None,
        help="month of entry (YYYY-MM) of the vacancies a GeoJSON carries (Sapporo's "
        '"2/1現在" has no year: without --month they are not imported)',
    )

    vac = sub.add_parser(
        "import-vacancies",
        help="import vacancy lists (空き状況 CSV: one row per facility, ０歳児 … ５歳児)",
        description="Import vacancy lists. The month of entry is --month, else the month "
        "after the as-of date of the title row (【令和7年9月1日時点】 → 2025-10).",
    )
    vac.add_argument("files", type=Path, nargs="+", metavar="FILE")
    vac.add_argument("--municipality", type=_lgcode, default=None, help="6-digit code")
    vac.add_argument("--month", type=_month, default=None, help="month of entry, YYYY-MM")

    res = sub.add_parser(
        "import-results",
        help="import past admission results (minimum points, first-round tables)",
        description="Import past results per facility and class: minimum admitted points "
        "(22以下, ―, 非公開) or first-round tables (points, 非公開, 空有).",
    )
    res.add_argument("files", type=Path, nargs="+", metavar="FILE")
    res.add_argument("--municipality", type=_lgcode, required=True, help="6-digit code")
    res.add_argument(
        "--year", type=_year, default=None, help="year of entry; default: from the file name"
    )
    res.add_argument(
        "--create-missing",
        action="store_true",
        help="add facilities the results name but the database lacks (located=false)",
    )
    pts = sub.add_parser(
        "points-rules",
        help="upload a municipality's points rules (利用調整基準) from a YAML or JSON file",
        description="Check the document (schema, conditions, examples) and store it as the "
        "municipality's next version; exit 2 when it is not valid.",
    )
    pts.add_argument("file", type=Path, metavar="FILE")
    pts.add_argument("--municipality", type=_lgcode, required=True, help="6-digit code")
    return parser


def _lgcode(text: str) -> str:
    from rules.lgcode import is_valid_lgcode

    if not is_valid_lgcode(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a local government code (6 digits with a valid check digit)"
        )
    return text


def _month(text: str) -> date:
    try:
        year, month = (int(part) for part in text.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a month: expected YYYY-MM (e.g. 2026-04)"
        ) from None


def _year(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 1990 <= int(text) <= 2100):
        raise argparse.ArgumentTypeError(f"{text!r} is not a year (e.g. 2021)")
    return int(text)


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: expected YYYY-MM-DD (e.g. 2026-11-26)"
        ) from None


def _settings_errors(exc: ValidationError) -> str:
    """What is wrong with the settings, naming the variables, never echoing their values."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)


def _aware_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give a UTC offset, e.g. 2026-11-26T06:00+09:00")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ValidationError as exc:
        print(f"hagukumi: bad settings: {_settings_errors(exc)}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # alembic announces every plugin it loads; only the migrate command's steps matter.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if args.command != "migrate":
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        if args.command == "serve":
            return _serve(settings, args)
        if args.command == "line-emulator":
            return _line_emulator(settings, args)
        return asyncio.run(_run(settings, args))
    except CliError as exc:
        print(f"hagukumi: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from hagukumi.models import MODEL_MODULES, load_models
    from registry.db import DatabaseURLError, create_engine, session_factory
    from registry.migrate import DatabaseBehind, ensure_current, upgrade

    load_models()  # every process knows every table (the registry hooks find them there)

    if args.command == "migrate":
        try:
            await upgrade(settings.database_url, models=MODEL_MODULES)
        except DatabaseURLError as exc:
            raise CliError(str(exc)) from exc
        print(f"database migrated: {_safe_url(settings.database_url)}")
        return 0
    try:
        engine = create_engine(settings.database_url)
    except DatabaseURLError as exc:
        raise CliError(str(exc)) from exc
    try:
        try:
            await ensure_current(engine)
        except DatabaseBehind as exc:
            raise CliError(str(exc)) from exc
        sessions = session_factory(engine)
        if args.command == "keys":
            return await _keys(sessions, args)
        if args.command == "users":
            return await _users(sessions, args)
        if args.command == "eligibility":
            return await _eligibility(settings, sessions, args)
        if args.command == "import-registry":
            return await _import_registry(sessions, args)
        if args.command in {"import-facilities", "import-vacancies", "import-results"}:
            return await _import_daycare(settings, sessions, args)
        if args.command == "import-families":
            return await _import_families(settings, sessions, args)
        if args.command == "points-rules":
            return await _points_rules(sessions, args)
        if args.command == "sweep":
            return await _sweep(settings, sessions, args)
        if args.command in {"worker", "scheduler"}:
            return await _notifier_process(settings, sessions, args.command)
        raise CliError(f"unknown command {args.command}")
    finally:
        await engine.dispose()


async def _points_rules(sessions: Any, args: argparse.Namespace) -> int:
    from integrations.daycare.points import InvalidDocument, load_document, save_rules
    from registry.api import require_known_municipality
    from registry.db import transaction
    from registry.http import ApiError
    from rules.points import run_examples

    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {args.file}: {exc}") from exc
    try:
        document = load_document(text)
    except InvalidDocument as exc:
        print(f"{args.file}: {exc.message}", file=sys.stderr)
        for detail in exc.details:
            hint = f" ({detail['suggestion']})" if detail.get("suggestion") else ""
            print(f"  {detail['location']}: {detail['reason']}{hint}", file=sys.stderr)
        return 2
    if document.municipality != args.municipality:
        raise CliError(f"{args.file} is for {document.municipality}, not {args.municipality}")
    async with transaction(sessions) as session:
        try:
            await require_known_municipality(session, document.municipality, location="file")
        except ApiError as exc:
            raise CliError(exc.message) from exc
        saved = await save_rules(session, document, created_by="cli")
    state = "new version" if saved.created else "unchanged"
    print(
        f"{document.municipality} version {saved.row.version} ({state}) digest {saved.row.digest}"
    )
    for outcome in run_examples(document):
        mark = "ok" if outcome.passed else "FAIL"
        print(f"  example {outcome.index} {mark}: {outcome.name} = {outcome.actual_points:g}")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _password_input(from_stdin: bool) -> tuple[str, bool]:
    """The password given on standard input, or a new random one (True: print it once)."""
    import secrets

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return secrets.token_urlsafe(15), True


async def _users(sessions: Any, args: argparse.Namespace) -> int:
    from registry.db import transaction
    from registry.users import (
        UserError,
        create_user,
        disable_user,
        find_user,
        list_users,
        record_audit,
        set_password,
    )

    if args.users_command == "list":
        async with sessions() as session:
            rows = await list_users(session)
        print(f"{'id':>4}  {'email':<32} {'role':<9} {'issuer':<7} {'state':<9} last sign-in")
        for u in rows:
            state = "disabled" if u.disabled_at else "active"
            last = u.last_sign_in_at.isoformat(timespec="minutes") if u.last_sign_in_at else "-"
            print(f"{u.id:>4}  {u.email:<32} {u.role:<9} {u.issuer:<7} {state:<9} {last}")
        return 0
    if args.users_command == "create":
        password, generated = _password_input(args.password_stdin)
        try:
            async with transaction(sessions) as session:
                user = await create_user(
                    session,
                    email=args.email,
                    issuer=args.issuer,
                    password=password,
                    role=args.role,
                    name=args.name,
                )
                await record_audit(
                    session,
                    None,
                    "user.create",
                    issuer=user.issuer,
                    target=user.email,
                    summary=f"コンソール利用者 {user.email}（{user.role}）をCLIで作成",
                    summary_en=f"console user {user.email} created ({user.role}) by the CLI",
                )
        except UserError as exc:
            raise CliError(str(exc)) from exc
        print(f"created console user {user.id}: {user.email} ({user.role}, issuer {user.issuer})")
        if generated:
            print("password (shown once; the user signs in at /console/signin):")
            print(password)
        return 0
    async with transaction(sessions) as session:
        found = await find_user(session, args.email)
        if found is None:
            raise CliError(f"no console user {args.email}")
        user = found
        if args.users_command == "disable":
            await disable_user(session, user)
            await record_audit(
                session,
                None,
                "user.disable",
                issuer=user.issuer,
                target=user.email,
                summary=f"コンソール利用者 {user.email} をCLIで無効化",
                summary_en=f"console user {user.email} disabled by the CLI",
            )
            print(f"console user {user.email} disabled")
            return 0
        password, generated = _password_input(args.password_stdin)
        try:
            await set_password(session, user, password)
        except UserError as exc:
            raise CliError(str(exc)) from exc
        await record_audit(
            session,
            None,
            "user.password",
            issuer=user.issuer,
            target=user.email,
            summary=f"{user.email} の新しいパスワードをCLIで設定",
            summary_en=f"new password for {user.email} set by the CLI",
        )
    print(f"new password set for {user.email}")
    if generated:
        print(password)
    return 0


async def _keys(sessions: Any, args: argparse.Namespace) -> int:
    from registry.auth import KeyError_, create_key, list_keys, revoke_key
    from registry.db import transaction

    if args.keys_command == "create":
        try:
            async with transaction(sessions) as session:
                key, text = await create_key(
                    session, issuer=args.issuer, role=args.role, name=args.name
                )
        except KeyError_ as exc:
            raise CliError(str(exc)) from exc
        print(f"created key {key.id} ({key.role}, issuer {key.issuer}); keep it secret:")
        print(text)
        return 0
    if args.keys_command == "list":
        async with sessions() as session:
            keys = await list_keys(session)
        print(f"{'id':>4}  {'prefix':<12} {'role':<12} {'issuer':<7} {'state':<8} name")
        for key in keys:
            state = "revoked" if key.revoked_at else "active"
            print(
                f"{key.id:>4}  {key.prefix:<12} {key.role:<12} {key.issuer:<7} {state:<8} "
                f"{key.name}"
            )
        return 0
    async with transaction(sessions) as session:
        revoked = await revoke_key(session, args.id)
    if revoked is None:
        raise CliError(f"no key {args.id}")
    print(f"key {args.id} revoked")
    return 0


async def _eligibility(settings: Settings, sessions: Any, args: argparse.Namespace) -> int:
    from registry.eligibility import Catalog, evaluate
    from registry.http import error_reason
    from rules.profile import FamilyInput

    try:
        raw = json.loads(args.family.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read {args.family}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise CliError(f"{args.family} is not valid JSON: {exc}") from exc
    # The file is the family, or the API's request {"family": ..., "date": ...}; either may
    # carry the evaluation `date` (--date overrides it).
    file_date: date | None = None
    if isinstance(raw, dict) and "date" in raw:
        raw = dict(raw)
        written = raw.pop("date")
        try:
            file_date = date.fromisoformat(written) if isinstance(written, str) else None
        except ValueError:
            file_date = None
        if file_date is None and written is not None:
            raise CliError(f"{args.family}: date: expected YYYY-MM-DD (e.g. 2026-11-26)")
    if isinstance(raw, dict) and "family" in raw and "municipality" not in raw:
        raw = raw["family"]
    try:
        family = FamilyInput.model_validate(raw)
    except ValidationError as exc:
        lines = [f"  {'.'.join(map(str, e['loc']))}: {error_reason(e)}" for e in exc.errors()]
        raise CliError(
            f"{args.family} is not a valid family profile:\n" + "\n".join(lines)
        ) from exc
    on = args.date or file_date or datetime.now(settings.zone).date()
    async with sessions() as session:
        entries = await Catalog().entries(session)
    try:
        answer = evaluate(entries, family, on)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        print(answer.model_dump_json(indent=2))
        return 0
    lang = family.language
    print(
        f"{on.isoformat()}: {len(answer.programs)} programs"
        + ("" if lang == "en" else f"（{len(answer.programs)}件の支援）")
    )
    for program in answer.programs:
        name = program.name.en if lang == "en" and program.name.en else program.name.ja
        who = f" (children {', '.join(map(str, program.children))})" if program.per_child else ""
        print(f"  [{program.id}] {name}{who}")
        for held in program.explanation.held:
            print(f"        ✓ {held}")
    if answer.near_misses:
        print("near misses:")
        for miss in answer.near_misses:
            name = miss.name.en if lang == "en" and miss.name.en else miss.name.ja
            print(f"  [{miss.id}] {name}: missed {'; '.join(miss.failed)}")
    return 0


async def _import_registry(sessions: Any, args: argparse.Namespace) -> int:
    from integrations.importers.tokyo_registry import RegistryFileError, import_files

    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        raise CliError(f"no such file: {', '.join(missing)}")
    try:
        report = await import_files(args.files, sessions, progress=print)
    except RegistryFileError as exc:
        raise CliError(str(exc)) from exc
    print(report.render())
    return 0


async def _import_daycare(settings: Settings, sessions: Any, args: argparse.Namespace) -> int:
    from integrations.importers.tabular import DataFileError

    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        raise CliError(f"no such file: {', '.join(missing)}")

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.municipality is not None:
        from integrations.importers.facilities import EXTRA_MUNICIPALITIES
        from registry.models import Municipality

        async with sessions() as session:
            known = await session.get(Municipality, args.municipality) is not None
        if not known and args.municipality not in EXTRA_MUNICIPALITIES:
            raise CliError(
                f"municipality {args.municipality} is not one this service knows: nothing "
                "imported (is --municipality right?)"
            )

    report: Any
    try:
        if args.command == "import-facilities":
            from integrations.importers.facilities import import_facilities

            report = await import_facilities(
                args.files,
                sessions,
                municipality=args.municipality,
                dry_run=args.dry_run,
                progress=progress,
                today=datetime.now(settings.zone).date(),
                entry_month=args.month,
                force=args.force,
            )
        elif args.command == "import-vacancies":
            from integrations.importers.vacancies import import_vacancies

            report = await import_vacancies(
                args.files,
                sessions,
                municipality=args.municipality,
                month=args.month,
                progress=progress,
                today=datetime.now(settings.zone).date(),
            )
        else:
            from integrations.importers.results import import_results

            report = await import_results(
                args.files,
                sessions,
                municipality=args.municipality,
                year=args.year,
                create_missing=args.create_missing,
                progress=progress,
            )
    except DataFileError as exc:
        raise CliError(str(exc)) from exc
    opened = list(getattr(report, "opened", []))
    if opened and not getattr(args, "dry_run", False):
        # Seats that opened (committed by now): families that saved the facility for a child
        # of that class are told, once each; the notifier sends the notices.
        from integrations.daycare.notices import seats_opened
        from registry.db import transaction

        async with transaction(sessions) as session:
            told = await seats_opened(session, opened, zone=settings.zone)
        print(f"seat opened: {len(opened)} class(es) newly open, {told} family notice(s)")
    print(report.render())
    # A file of which no row could be saved is a failure, even if others went in.
    return 1 if getattr(report, "all_skipped", []) else 0


async def _sweep(settings: Settings, sessions: Any, args: argparse.Namespace) -> int:
    from notifier.sweep import sweep

    now = args.now or datetime.now(UTC)
    report = await sweep(
        sessions, now=now, zone=settings.zone, dry_run=args.dry_run, progress=print
    )
    print(report.render())
    return 0


async def _notifier_process(settings: Settings, sessions: Any, command: str) -> int:
    import signal

    from hagukumi.app import line_endpoint
    from hagukumi.resources import make_redis
    from notifier.runtime import Notices
    from notifier.worker import Worker, default_consumer

    if settings.redis_url.startswith("memory://"):
        raise CliError(
            f"`hagukumi {command}` needs a Redis shared with the server (HAGUKUMI_REDIS_URL="
            "redis://...); with memory:// the worker and scheduler run inside `hagukumi serve`"
        )
    redis = make_redis(settings.redis_url)
    base_url, token = line_endpoint(settings)
    from functools import partial

    from integrations.daycare.notices import tour_reminder_pass

    notices = Notices(
        settings,
        sessions,
        redis,
        line_base_url=base_url,
        line_token=token,
        remind=partial(tour_reminder_pass, quiet_hours=settings.quiet_hours),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await notices.open()
    holder = default_consumer()
    print(f"hagukumi {command} {holder} running; Ctrl-C stops it", flush=True)
    try:
        if command == "worker":
            await Worker(notices.queue, notices.deliver, consumer=holder).run(stop)
        else:
            from notifier.scheduler import run_scheduler

            await run_scheduler(notices.job_context(), redis, holder=holder, stop=stop)
    finally:
        await notices.close()
        await redis.aclose()
    return 0


async def _import_families(settings: Settings, sessions: Any, args: argparse.Namespace) -> int:
    from integrations.importers.families import FamilyFileError, import_families

    if not args.file.is_file():
        raise CliError(f"no such file: {args.file}")
    try:
        report = await import_families(
            args.file,
            sessions,
            progress=print,
            secrets_out=args.secrets_out,
            today=datetime.now(settings.zone).date(),
            url_policy=settings.url_policy,
        )
    except FamilyFileError as exc:
        raise CliError(str(exc)) from exc
    print(report.render())
    # Bad lines were skipped: say so in the exit status, so migration scripts notice.
    return 1 if report.errors else 0


def _line_emulator(settings: Settings, args: argparse.Namespace) -> int:
    from integrations.line_emulator import EmulatorConfig, run_emulator

    if not 0.0 <= args.fail_rate <= 1.0:
        raise CliError("--fail-rate is a fraction from 0 to 1")
    config = EmulatorConfig(
        channel_access_token=args.channel_access_token,
        channel_secret=args.channel_secret,
        webhook_url=args.webhook_url,
        monthly_limit=args.monthly_limit,
        fail_rate=args.fail_rate,
        latency_ms=args.latency_ms,
        spec_path=settings.shared_dir / "line-openapi" / "messaging-api.yml",
    )
    # The emulator keeps every request and message it was sent (for tests to read back): a
    # heap of millions of small objects after a large send, which each full collection would
    # walk again, slowing a load test's LINE down by 7 %. Full collections become rare; the
    # kept data is not cyclic, so little waits for them.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    asyncio.run(run_emulator(config, args.host, args.port))
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from hagukumi.app import create_app
    from integrations.line_emulator import PrivateAccessLogger
    from registry.db import DatabaseURLError, create_engine, session_factory
    from registry.migrate import DatabaseBehind, ensure_current

    async def prepare() -> None:
        try:
            engine = create_engine(settings.database_url)
        except DatabaseURLError as exc:
            raise CliError(str(exc)) from exc
        try:
            await ensure_current(engine)
            if args.demo:
                from hagukumi.demo import load_demo

                await load_demo(
                    session_factory(engine),
                    key_file=DEMO_KEY_FILE,
                    registry_dir=settings.shared_dir / "data" / "registry",
                    facilities_dir=settings.shared_dir / "data" / "facilities",
                    today=datetime.now(settings.zone).date(),
                )
        except DatabaseBehind as exc:
            raise CliError(str(exc)) from exc
        finally:
            await engine.dispose()

    _check_port_free(args.host, args.port)
    if "HAGUKUMI_PUBLIC_URL" not in os.environ:
        reach = "127.0.0.1" if args.host in {"0.0.0.0", "::", ""} else args.host
        settings = settings.model_copy(update={"public_url": f"http://{reach}:{args.port}"})
    asyncio.run(prepare())
    embedded = settings.redis_url.startswith("memory://")
    base = f"http://{args.host}:{args.port}"
    banner = [
        "",
        "  Hagukumi はぐくみ — push-type childcare support",
        f"  API          {base}/api/v1/programs",
        f"  OpenAPI      {base}/openapi.json",
        f"  health       {base}/healthz   metrics {base}/metrics",
        f"  database     {_safe_url(settings.database_url)}",
        f"  redis        {settings.redis_url}",
    ]
    if settings.sandbox:
        line = settings.public_url.rstrip("/") + "/_line"
        banner.append(f"  LINE         sandbox: built-in emulator at {line}")
        banner.append(f"  chat as a parent  {line}/_emulator/")
    else:
        banner.append(f"  LINE         {settings.line_api_base_url or 'https://api.line.me'}")
    banner.append(f"  webhook      {base}/line/webhook")
    banner.append(
        "  notices      worker and scheduler "
        + ("inside this server" if embedded else "not here: run `hagukumi worker` and `scheduler`")
    )
    if DEMO_KEY_FILE.exists() and settings.sandbox:
        banner.append(f"  demo API key {DEMO_KEY_FILE.read_text().strip()}  (operator)")
    elif DEMO_KEY_FILE.exists():
        # With real LINE this output ends up in a service's log: name the file, not the key.
        banner.append(f"  demo API key in {DEMO_KEY_FILE} (operator)")
    banner.append(f"  console      {base}/console/   (staff: `hagukumi users create`)")
    banner.append(f"  quality      {base}/quality    (public ratings, open data)")
    users_file = DEMO_KEY_FILE.parent / "demo-console-users.txt"
    if users_file.exists():
        banner.append(f"  demo console users and passwords in {users_file}")
    banner.append("")
    print("\n".join(banner), flush=True)
    app = create_app(settings, settle_gc=True, run_workers=embedded)
    try:
        web.run_app(
            app,
            host=args.host,
            port=args.port,
            print=None,
            access_log_class=PrivateAccessLogger,
        )
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        # Taken between the check and the start.
        raise CliError(_port_taken(args.host, args.port)) from exc
    return 0


def _port_taken(host: str, port: int) -> str:
    other = 8081 if port == 8080 else port + 1
    return (
        f"port {port} on {host} is already in use (another server?): pick another with "
        f"`make serve PORT={other}` or `hagukumi serve --port {other}`"
    )


def _check_port_free(host: str, port: int) -> None:
    """Refuse early, in one line, when the server could not listen where it was asked to."""
    import socket

    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise CliError(f"cannot listen on host {host!r}: {exc.strerror}") from exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            # As the server itself will: a port left in TIME_WAIT by a stopped server is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise CliError(_port_taken(host, port)) from exc
                raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


if __name__ == "__main__":
    raise SystemExit(main())
