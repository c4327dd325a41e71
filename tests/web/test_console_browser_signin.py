"""Signing in to the console in a real browser (headless Chromium), with screenshots."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.browser import screenshot, start_browser
from tests.web.conftest import browser_sign_in


async def test_a_clerk_signs_in_sees_the_home_page_and_signs_out(
    live: Any, make_user: Any
) -> None:
    email = await make_user("132012", "editor")
    driver = await asyncio.to_thread(start_browser)

    def visit() -> tuple[str, str, str]:
        from selenium.webdriver.common.by import By

        driver.get(live.url("/console/"))
        assert "/console/signin" in driver.current_url
        screenshot(driver, "console-signin")
        browser_sign_in(driver, live, email, "wrong password!!")
        error = driver.find_element(By.ID, "signin-error").text
        browser_sign_in(driver, live, email)
        heading = driver.find_element(By.TAG_NAME, "h1").text
        screenshot(driver, "console-home")
        from selenium.webdriver.support.ui import WebDriverWait

        driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
        WebDriverWait(driver, 20).until(lambda d: "/console/signin" in d.current_url)
        return error, heading, driver.current_url

    try:
        error, heading, after = await asyncio.to_thread(visit)
    finally:
        await asyncio.to_thread(driver.quit)
    assert "パスワードが違います" in error
    assert heading == "八王子市"
    assert after.endswith("/console/signin")
