"""Signing in to the console: passwords, lockout, sessions, CSRF, sign-out, the history."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from registry.db import transaction
from registry.models import ConsoleUser
from registry.users import MAX_FAILURES, disable_user, find_user
from tests.web.conftest import PASSWORD, csrf_of, sign_in


async def test_pages_need_a_session_and_send_you_back_after_signing_in(
    client: Any, make_user: Any
) -> None:
    response = await client.get("/console/history?action=program", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].startswith("/console/signin?next=")
    email = await make_user("132012")
    page = await client.get(response.headers["Location"])
    html = await page.text()
    assert 'name="next" value="/console/history?action=program"' in html
    answer = await client.post(
        "/console/signin",
        data={
            "email": email.upper(),
            "password": PASSWORD,
            "_csrf": csrf_of(html),
            "next": "/console/history?action=program",
        },
        allow_redirects=False,
    )
    assert answer.status == 303
    assert answer.headers["Location"] == "/console/history?action=program"
    cookie = answer.cookies["hagukumi_console"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


async def test_the_password_is_stored_only_as_an_argon2id_hash(
    make_user: Any, sessions: Any
) -> None:
    email = await make_user("132012")
    async with sessions() as session:
        user = await find_user(session, email)
    assert user is not None
    assert PASSWORD not in user.password_hash
    assert user.password_hash.startswith("$argon2id$")
    assert "m=65536" in user.password_hash


async def test_a_wrong_password_and_an_unknown_email_answer_alike(
    client: Any, make_user: Any
) -> None:
    email = await make_user("132012")
    wrong = await sign_in(client, email, "not the password at all")
    unknown = await sign_in(client, "nobody@nowhere.example.jp", "not the password at all")
    assert wrong.status == unknown.status == 401
    assert "メールアドレスかパスワードが違います" in await wrong.text()
    assert "メールアドレスかパスワードが違います" in await unknown.text()


async def test_repeated_failures_lock_the_account_even_for_the_right_password(
    client: Any, make_user: Any
) -> None:
    email = await make_user("132012")
    for _ in range(MAX_FAILURES - 1):
        assert (await sign_in(client, email, "guess guess guess")).status == 401
    # The failure that reaches the limit already says so.
    assert (await sign_in(client, email, "guess guess guess")).status == 429
    locked = await sign_in(client, email)
    assert locked.status == 429
    assert "ロック" in await locked.text()
    other = await make_user("132012")
    assert (await sign_in(client, other)).status == 303  # others are not locked out


async def test_a_change_without_the_csrf_token_or_from_another_site_is_refused(
    client: Any, signed_in: Any
) -> None:
    csrf = await signed_in("132012")
    missing = await client.post("/console/signout", data={}, allow_redirects=False)
    assert missing.status == 403
    forged = await client.post(
        "/console/signout",
        data={"_csrf": csrf},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert forged.status == 403
    assert (await client.get("/console/", allow_redirects=False)).status == 200  # still in


async def test_sign_out_ends_the_session_on_the_server(client: Any, signed_in: Any) -> None:
    csrf = await signed_in("132012")
    token = client.session.cookie_jar.filter_cookies(client.make_url("/"))["hagukumi_console"]
    out = await client.post("/console/signout", data={"_csrf": csrf}, allow_redirects=False)
    assert out.status == 303
    # Replaying the old cookie does not bring the session back.
    client.session.cookie_jar.update_cookies({"hagukumi_console": token.value})
    again = await client.get("/console/", allow_redirects=False)
    assert again.status == 303 and again.headers["Location"].startswith("/console/signin")


async def test_a_disabled_user_is_signed_out_at_the_next_request(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    await signed_in("132012")
    async with transaction(sessions) as session:
        user = (await session.exec(select(ConsoleUser))).one()
        await disable_user(session, user)
    response = await client.get("/console/", allow_redirects=False)
    assert response.status == 303


async def test_the_history_shows_who_signed_in_and_out(client: Any, signed_in: Any) -> None:
    csrf = await signed_in("132012")
    await client.post("/console/signout", data={"_csrf": csrf})
    await signed_in("132012")
    page = await client.get("/console/history?action=user")
    html = await page.text()
    assert "<strong>サインイン</strong>" in html and "<strong>サインアウト</strong>" in html
    assert "user.sign_in" not in html and "user.sign_out" not in html  # no raw codes
    assert "editor1@132012.example.jp" in html
    english = await (await client.get("/console/history?action=user&lang=en")).text()
    assert "<strong>Signed in</strong>" in english and "<strong>Signed out</strong>" in english
    # Sign-ins are left out of the default view and of the home page's latest changes.
    default = await (await client.get("/console/history?lang=ja")).text()
    assert "サインアウト</strong>" not in default and "サインイン</strong>" not in default
    everything = await (await client.get("/console/history?action=all")).text()
    assert "<strong>サインアウト</strong>" in everything
    home = await (await client.get("/console/")).text()
    assert "サインアウト</strong>" not in home and "まだ変更はありません" in home


async def test_pages_are_japanese_first_english_on_request_and_locked_down(
    client: Any, signed_in: Any
) -> None:
    await signed_in("132012")
    ja = await client.get("/console/")
    assert '<html lang="ja">' in await ja.text()
    csp = ja.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert ja.headers["Cache-Control"] == "no-store"
    en = await client.get("/console/?lang=en")
    assert "Sign out" in await en.text()
    later = await client.get("/console/")  # the choice is remembered
    assert '<html lang="en">' in await later.text()


async def test_static_files_are_served_and_nothing_else_is(client: Any) -> None:
    css = await client.get("/static/console.css")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")
    for path in ("/static/..%2Fkit.py", "/static/kit.py", "/static/.hidden.css"):
        assert (await client.get(path)).status == 404


async def test_an_unknown_console_page_is_a_page_not_json(client: Any, signed_in: Any) -> None:
    await signed_in("132012")
    response = await client.get("/console/no-such-page")
    assert response.status == 404
    assert response.headers["Content-Type"].startswith("text/html")
