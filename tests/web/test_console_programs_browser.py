"""A clerk registers a program in a real browser (headless Chromium): the rule is checked as
it is typed, the examples run, the preview counts families, publishing and versions work.
Screenshots (ja and en, phone width, and the form on a desktop) go to var/screenshots/."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.browser import screenshot, start_browser
from tests.web.conftest import browser_sign_in
from tests.web.test_console_programs import EXAMPLES, HACHIOJI, RULE, seed_families

BAD_RULE = f'municipality == "{HACHIOJI}" and child.agee < 6'


async def test_a_clerk_registers_checks_previews_and_publishes_a_program(
    live: Any, make_user: Any, sessions: Any
) -> None:
    await seed_families(sessions)
    email = await make_user(HACHIOJI, "editor")
    driver = await asyncio.to_thread(start_browser)

    def clerk() -> dict[str, Any]:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        seen: dict[str, Any] = {}
        wait = WebDriverWait(driver, 20)

        def text_of(css: str) -> str:
            return str(driver.find_element(By.CSS_SELECTOR, css).text)

        def type_into(element_id: str, text: str) -> None:
            field = driver.find_element(By.ID, element_id)
            field.clear()
            field.send_keys(text)

        def live_rule_says(words: str) -> None:
            wait.until(lambda d: words in d.find_element(By.ID, "rule-status").text)

        def submit(css: str) -> None:
            button = driver.find_element(By.CSS_SELECTOR, css)
            button.click()
            wait.until(_alert).accept()  # the "publish now?" confirmation

        browser_sign_in(driver, live, email)
        driver.get(live.url("/console/programs"))
        screenshot(driver, "programs-list-ja")
        driver.find_element(By.LINK_TEXT, "新しい制度を登録").click()
        wait.until(lambda d: d.find_element(By.ID, "p-name_ja"))
        type_into("p-name_ja", "八王子こども応援金")
        type_into("p-summary_ja", "6歳未満の子がいる家庭に月5,000円")
        driver.find_element(By.CSS_SELECTOR, "input[name=category][value=allowance]").click()
        driver.find_element(By.ID, "p-per_child").click()
        type_into("p-eligibility", BAD_RULE)
        live_rule_says("「age」のことですか？")
        seen["live_error"] = text_of("#rule-status")
        screenshot(driver, "programs-form-error-ja")

        type_into("p-eligibility", RULE)
        driver.find_element(By.ID, "p-examples").send_keys(EXAMPLES)
        live_rule_says("ルールは有効です")
        wait.until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#examples-result tr.pass")) == 2
        )
        seen["examples"] = text_of("#examples-result")
        screenshot(driver, "programs-form-ok-ja")
        driver.find_element(By.CSS_SELECTOR, "#program-form button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.ID, "program-status"))
        seen["saved"] = text_of("main")
        program_url = driver.current_url

        driver.find_element(By.LINK_TEXT, "お知らせする世帯数を見る").click()
        wait.until(lambda d: d.find_elements(By.ID, "audience-families"))
        seen["families"] = text_of("#audience-families")
        seen["preview"] = text_of("main")
        screenshot(driver, "programs-preview-ja")
        submit("form[action$='/publish'] button")
        wait.until(lambda d: "公開中" in d.find_element(By.ID, "program-status").text)
        seen["published"] = text_of("main")
        screenshot(driver, "programs-view-ja")

        driver.get(program_url.split("?")[0] + "/edit")
        type_into("p-eligibility", RULE.replace("< 6", "< 5"))
        live_rule_says("ルールは有効です")
        driver.find_element(By.CSS_SELECTOR, "#program-form button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.ID, "program-status"))
        driver.find_element(By.LINK_TEXT, "版を比べる").click()
        wait.until(lambda d: d.find_elements(By.ID, "diff"))
        seen["diff"] = driver.find_element(By.ID, "diff").get_attribute("innerHTML")
        screenshot(driver, "programs-diff-ja")

        # The same pages in English.
        driver.get(live.url("/console/programs?lang=en"))
        screenshot(driver, "programs-list-en")
        driver.get(program_url.split("?")[0] + "/preview")
        seen["preview_en"] = text_of("main")
        screenshot(driver, "programs-preview-en")
        driver.get(program_url.split("?")[0] + "/versions")
        screenshot(driver, "programs-diff-en")
        driver.get(live.url("/console/programs/new"))
        type_into("p-eligibility", "municipality = '132012'")
        live_rule_says("compare with '=='")
        seen["live_error_en"] = text_of("#rule-status")
        screenshot(driver, "programs-form-error-en")
        driver.set_window_size(1280, 900)
        screenshot(driver, "programs-form-desktop-en")
        return seen

    try:
        seen = await asyncio.to_thread(clerk)
    finally:
        await asyncio.to_thread(driver.quit)
    assert "ルールに誤りがあります" in seen["live_error"]
    assert seen["examples"].count("合格") == 2
    assert "下書きを保存しました" in seen["saved"]
    assert seen["families"] == "2"
    assert "下書きを保存しました" not in seen["preview"]  # a message is shown once
    assert "公開しました" in seen["published"]
    assert "<del>6</del>" in seen["diff"] and "<ins>5</ins>" in seen["diff"]
    assert "families would be told" in seen["preview_en"]
    assert "The rule has an error" in seen["live_error_en"]


def _alert(driver: Any) -> Any:
    """The confirmation dialog when it is open (else False: wait on)."""
    from selenium.common.exceptions import NoAlertPresentException

    try:
        return driver.switch_to.alert
    except NoAlertPresentException:
        return False
