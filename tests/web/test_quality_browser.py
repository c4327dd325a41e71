"""The public quality dashboard in a real browser (headless Chromium): a parent rates the bot in
the emulator's chat, the page shows it in Japanese and English at phone and desktop widths
(screenshots in var/screenshots/), and a clerk writes a "you said, we did" entry that then
appears on /quality."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from bot.models import Review
from registry.db import transaction
from tests.browser import screenshot, start_browser
from tests.web.conftest import browser_sign_in

PARENT = "U" + "9a" * 16


async def seed(sessions: Any) -> None:
    """A few months of ratings, one service below Tokyo's goal."""
    now = datetime.now(UTC)
    rows = [
        ("tours", 5, {"booking_ease": 5, "slot_choice": 4, "reminder": 5}, "132012", 3),
        ("tours", 4, {"booking_ease": 4, "slot_choice": 3}, "132012", 40),
        ("tours", 4, {"booking_ease": 4}, "131130", 80),
        ("applications", 2, {"clarity": 2, "effort": 1, "documents": 3}, "132012", 10),
        ("applications", 3, {"clarity": 3}, "131130", 70),
        ("notices", 5, {"useful": 5, "timing": 4, "clarity": 5}, "132012", 20),
    ]
    async with transaction(sessions) as session:
        for service, rating, answers, muni, days in rows:
            session.add(
                Review(
                    service=service,
                    rating=rating,
                    answers=answers,
                    municipality=muni,
                    comment="非公開のコメント",
                    created_at=now - timedelta(days=days),
                )
            )


async def test_ratings_from_the_chat_show_on_the_public_page_and_staff_answer(
    live: Any, sessions: Any, make_user: Any
) -> None:
    await seed(sessions)
    email = await make_user("132012", "editor")
    driver = await asyncio.to_thread(start_browser, 420, 900)

    def rate_in_chat() -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        driver.get(live.url(f"/_line/_emulator/?user={PARENT}"))

        def chip(label: str, *, press: bool = True) -> None:
            """Wait for the quick reply chip `label` and press it (the bar is redrawn as
            messages arrive: a chip found just before a redraw is looked up again)."""
            from selenium.common.exceptions import StaleElementReferenceException

            def pressed(_: Any) -> bool:
                try:
                    for button in driver.find_elements(By.CSS_SELECTOR, "#quick button"):
                        if button.text == label:
                            if press:
                                button.click()
                            return True
                except StaleElementReferenceException:
                    return False
                return False

            WebDriverWait(driver, 30).until(pressed)

        driver.find_element(By.ID, "text").send_keys("評価")
        driver.find_element(By.CSS_SELECTOR, "#bar button[type=submit]").click()
        chip("4 ★★★★")
        chip("スキップ", press=False)  # the first item-specific question is on screen
        screenshot(driver, "quality-chat-question")
        chip("5 ★★★★★")
        WebDriverWait(driver, 30).until(
            lambda d: "返答のわかりやすさ" in d.find_element(By.ID, "chat").text
        )
        chip("3 ★★★")
        chip("答えない")
        WebDriverWait(driver, 30).until(
            lambda d: "評価ありがとうございました" in d.find_element(By.ID, "chat").text
        )
        screenshot(driver, "quality-chat-rating")

    def public_pages() -> dict[str, str]:
        from selenium.webdriver.common.by import By

        seen = {}
        for width in (420, 1280):
            driver.set_window_size(width, 900)
            for lang in ("ja", "en"):
                driver.get(live.url(f"/quality?lang={lang}"))
                seen[f"{lang}-{width}"] = driver.find_element(By.TAG_NAME, "main").text
                overflow = driver.execute_script(
                    "return document.documentElement.scrollWidth > window.innerWidth"
                )
                assert not overflow, f"/quality is wider than the screen at {width} px ({lang})"
                screenshot(driver, f"quality-{lang}-{width}")
        driver.get(live.url("/quality?lang=ja"))
        return seen

    def staff_writes() -> tuple[str, str]:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select, WebDriverWait

        driver.set_window_size(1280, 900)
        browser_sign_in(driver, live, email)
        driver.get(live.url("/console/quality"))
        Select(driver.find_element(By.ID, "e-service")).select_by_value("tours")
        driver.find_element(By.ID, "e-said_ja").send_keys("土曜日にも見学したい")
        driver.find_element(By.ID, "e-said_en").send_keys("Tours on Saturdays, please")
        driver.find_element(By.ID, "e-did_ja").send_keys("土曜日の見学枠を設けました")
        driver.find_element(By.ID, "e-did_en").send_keys("Saturday tour slots were added")
        day = driver.find_element(By.ID, "e-done_on")
        driver.execute_script("arguments[0].value = '2026-11-20'", day)
        button = driver.find_element(By.CSS_SELECTOR, "form.q-form button[type=submit]")
        button.click()
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "p.flash.ok"))
        flash = driver.find_element(By.CSS_SELECTOR, "p.flash.ok").text
        screenshot(driver, "quality-console")
        driver.get(live.url("/quality?lang=ja"))
        section = driver.find_element(By.ID, "svc-tours").text
        driver.find_element(By.ID, "svc-tours").location_once_scrolled_into_view  # noqa: B018
        screenshot(driver, "quality-ja-1280-entry")
        return flash, section

    try:
        await asyncio.to_thread(rate_in_chat)
        seen = await asyncio.to_thread(public_pages)
        flash, section = await asyncio.to_thread(staff_writes)
    finally:
        await asyncio.to_thread(driver.quit)

    for key, text in seen.items():
        assert "非公開のコメント" not in text, key
    ja, en = seen["ja-420"], seen["en-1280"]
    # The bot's rating from the chat: 1 review of 4, answers 5 and 3.
    bot_ja = ja[ja.rindex("はぐくみ（LINE）\n") : ja.rindex("お知らせ\n")]
    assert "4.0" in bot_ja and "評価 1件" in bot_ja
    async with sessions() as session:
        rated = (await session.exec(select(Review).where(Review.service == "bot"))).all()
    assert [(r.rating, r.answers, r.municipality) for r in rated] == [
        (4, {"ease": 5, "answers_clarity": 3}, None)
    ]
    assert "要改善" in ja and "まだ評価はありません。" in ja  # applications; daycare search
    assert "Needs work" in en and "No reviews yet." in en and "Ease of booking" in en
    assert "公開" in flash
    assert "土曜日の見学枠を設けました" in section and "八王子市" in section
