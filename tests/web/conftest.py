"""Fixtures of the web pages: console users and a signed-in test client."""

from __future__ import annotations

import re
from typing import Any

import pytest

from registry.db import transaction
from registry.users import create_user

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of a page's first form."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture
def make_user(sessions: Any) -> Any:
    """Create a console user: `await make_user("132012", "editor")` → its email."""
    counter = iter(range(1, 1000))

    async def make(issuer: str = "132012", role: str = "editor", email: str | None = None) -> str:
        email = email or f"{role}{next(counter)}@{issuer}.example.jp"
        async with transaction(sessions) as session:
            await create_user(session, email=email, issuer=issuer, password=PASSWORD, role=role)
        return email

    return make


async def sign_in(client: Any, email: str, password: str = PASSWORD) -> Any:
    """Sign a test client in through the form; returns the last response."""
    page = await client.get("/console/signin")
    token = csrf_of(await page.text())
    return await client.post(
        "/console/signin",
        data={"email": email, "password": password, "_csrf": token, "next": "/console/"},
        allow_redirects=False,
    )


@pytest.fixture
def signed_in(client: Any, make_user: Any) -> Any:
    """`csrf = await signed_in("132012", "editor")`: the client is signed in as a new user;
    returns the session's CSRF token for posts."""

    async def go(issuer: str = "132012", role: str = "editor") -> str:
        email = await make_user(issuer, role)
        response = await sign_in(client, email)
        assert response.status == 303, await response.text()
        home = await client.get("/console/")
        assert home.status == 200
        return csrf_of(await home.text())

    return go


class Live:
    """The whole app (sandbox: with its LINE emulator) on a real port, for a real browser."""

    def __init__(self, server: Any, settings: Any) -> None:
        self.server = server
        self.settings = settings
        self.base = str(server.make_url("")).rstrip("/")

    def url(self, path: str) -> str:
        """The address of a path on this server."""
        return self.base + path


@pytest.fixture
async def live(settings: Any) -> Any:
    """`live.url("/console/")`: create_app(settings) served on a free port of 127.0.0.1,
    with the embedded worker (notices are delivered) and the emulator at `/_line`."""
    import socket

    from aiohttp.test_utils import TestServer

    from hagukumi.app import create_app
    from tests.conftest import TODAY

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configured = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    app = create_app(configured, today=lambda: TODAY, run_workers=True)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield Live(server, configured)
    finally:
        await server.close()


def browser_sign_in(driver: Any, live: Live, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person would (blocking: call in a thread)."""
    from selenium.webdriver.common.by import By

    driver.get(live.url("/console/signin"))
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    button = driver.find_element(By.CSS_SELECTOR, "form button[type=submit]")
    button.click()

    def left_the_form(_: Any) -> bool:
        # The next page replaced the form. While it does, Chromium may answer for the old
        # button with "node does not belong to the document" rather than "stale": both mean
        # it is gone (selenium's staleness_of waits only for the second).
        try:
            button.is_enabled()
        except WebDriverException:
            return True
        return False

    WebDriverWait(driver, 20).until(left_the_form)
