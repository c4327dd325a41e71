"""The emulator's chat page in a real browser (headless Chromium driven by selenium).

A parent chatting on the page must see each message once, however the page's timer poll and
the poll after a send interleave, and quick replies as compact chips that share rows.

Needs Debian's `chromium` and `chromium-driver` (and `fonts-noto-cjk` for a readable
screenshot); `.ci/run` installs them and sets HAGUKUMI_REQUIRE_BROWSER=1 so that a missing
browser fails there instead of skipping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.richmenu import ensure_rich_menu, menu_request
from integrations.line_emulator import EMULATOR, EmulatorConfig, create_emulator_app
from notifier.channels.line_api import LineApi
from tests.browser import browser_paths, start_browser
from tests.conftest import SHARED

TOKEN = "page-token"
SECRET = "page-secret"
USER = "U" + "5a" * 16
CHIPS = ["はい", "いいえ", "港区", "渋谷区", "English", "ヘルプ"]
SCREENSHOT_DIR = Path(__file__).resolve().parents[3] / "var" / "screenshots"
# Each read of a user's messages is held this long, so that the page's polls overlap as they
# do on a busy server; the test asserts what is shown, never how fast.
SLOW_READ_SECONDS = 0.6


def _bot_app(emulator_base: list[str]) -> web.Application:
    """A bot that answers every text with a push, then a reply carrying quick replies."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
            for event in body["events"]:
                if event["type"] != "message":
                    continue
                text = event["message"]["text"]
                quick = {
                    "items": [
                        {"type": "action", "action": {"type": "message", "label": c, "text": c}}
                        for c in CHIPS
                    ]
                }
                # The push first: quick replies show under the latest message only.
                push = {"to": USER, "messages": [{"type": "text", "text": f"push {text}"}]}
                async with session.post(f"{emulator_base[0]}/v2/bot/message/push", json=push):
                    pass
                reply = {
                    "replyToken": event["replyToken"],
                    "messages": [{"type": "text", "text": f"echo {text}", "quickReply": quick}],
                }
                async with session.post(f"{emulator_base[0]}/v2/bot/message/reply", json=reply):
                    pass
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/callback", handle)
    return app


@web.middleware
async def slow_message_reads(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path.endswith("/messages"):
        await asyncio.sleep(SLOW_READ_SECONDS)
    return await handler(request)


async def test_chat_page_shows_each_message_once_and_quick_replies_as_chips() -> None:
    browser_paths()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base: list[str] = []
    hook = TestServer(_bot_app(base), host="127.0.0.1")
    await hook.start_server()
    spec = SHARED / "line-openapi" / "messaging-api.yml"
    emulator = create_emulator_app(
        EmulatorConfig(
            channel_access_token=TOKEN,
            channel_secret=SECRET,
            webhook_url=str(hook.make_url("/callback")),
            spec_path=spec if spec.is_file() else None,
        )
    )
    outer = web.Application(middlewares=[slow_message_reads])
    outer.add_subapp("/_line", emulator)  # mounted under a prefix, as in sandbox mode
    server = TestServer(outer, host="127.0.0.1")
    await server.start_server()
    base.append(str(server.make_url("/_line")))
    page = f"{base[0]}/_emulator/?user={USER}"
    # The bot's own rich menu, set as the default the way the bot sets it.
    line = LineApi(base[0], TOKEN)
    await line.open()
    try:
        await ensure_rich_menu(line)
    finally:
        await line.close()

    def bot_texts() -> list[str]:
        return [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#chat .row.bot .bubble")]

    def wait_for(text: str) -> None:
        WebDriverWait(browser, 20).until(lambda _: text in bot_texts())

    def send(text: str) -> None:
        box = browser.find_element(By.ID, "text")
        box.send_keys(text)
        browser.find_element(By.CSS_SELECTOR, "#bar button[type=submit]").click()

    def menu_shown() -> bool:
        return bool(browser.find_element(By.ID, "richmenu").is_displayed())

    def settled() -> bool:
        # The page has read past the last delivery and no poll is in flight.
        since = browser.execute_script("return state.since")
        polling = browser.execute_script("return Boolean(state.polling)")
        delivered = emulator[EMULATOR].messages_for(USER)
        return bool(delivered and since == delivered[-1]["seq"] and not polling)

    sent = ["おはよう", "こんにちは", "こんばんは"]
    browser = await asyncio.to_thread(start_browser)

    def chat() -> tuple[list[str], list[str], list[dict[str, Any]], dict[str, Any]]:
        browser.get(page)
        for text in sent:
            send(text)
            wait_for(f"echo {text}")
        # A quick reply chip sends its text like a typed message.
        labels = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#quick button")]
        for chip in browser.find_elements(By.CSS_SELECTOR, "#quick button"):
            if chip.text == "港区":
                chip.click()
                wait_for("echo 港区")
                break
        WebDriverWait(browser, 20).until(lambda _: settled())
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT_DIR / "emulator-chat.png"))
        rects = [c.rect for c in browser.find_elements(By.CSS_SELECTOR, "#quick button")]
        # The chat bar folds the rich menu away (as in LINE) and opens it again.
        WebDriverWait(browser, 20).until(lambda _: menu_shown())
        open_chat = browser.find_element(By.ID, "chat").rect["height"]
        bar_text = browser.find_element(By.ID, "menubar").text
        browser.find_element(By.ID, "menubar").click()
        folded = (menu_shown(), browser.find_element(By.ID, "chat").rect["height"])
        browser.save_screenshot(str(SCREENSHOT_DIR / "emulator-chat-menu-folded.png"))
        browser.find_element(By.ID, "menubar").click()
        menu = (bar_text, open_chat, folded, menu_shown())
        return bot_texts(), labels, rects, browser.find_element(By.ID, "quick").rect, menu

    try:
        texts, labels, chip_rects, bar, menu = await asyncio.to_thread(chat)
    finally:
        # The page polls every second: close it first, or the servers wait for it.
        await asyncio.to_thread(browser.quit)
        await server.close()
        await hook.close()

    assert labels == CHIPS
    bar_text, open_chat, (shown_after_fold, folded_chat), shown_again = menu
    assert bar_text.startswith(menu_request().chat_bar_text) and bar_text.endswith("▼")
    assert not shown_after_fold and folded_chat > open_chat + 100, "folding gives the chat room"
    assert shown_again
    expected = [line for t in [*sent, "港区"] for line in (f"push {t}", f"echo {t}")]
    assert texts == expected, "each message once, in order"
    assert len(chip_rects) == len(CHIPS)
    for rect in chip_rects:
        assert rect["width"] < bar["width"] / 2, f"a chip as wide as the bar: {rect} in {bar}"
        assert bar["x"] <= rect["x"] and rect["x"] + rect["width"] <= bar["x"] + bar["width"], (
            f"a chip outside the visible bar: {rect} in {bar}"
        )
    rows = {round(rect["y"]) for rect in chip_rects}
    assert len(rows) < len(CHIPS), f"chips share rows: {len(rows)} rows for {len(CHIPS)} chips"
