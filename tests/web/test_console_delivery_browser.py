"""The delivery page and the operator's view in a real browser (headless Chromium), ja and en,
at phone and desktop widths, with screenshots in var/screenshots/."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from notifier.ops import record_quota
from registry.web.kit import WEB
from tests.browser import screenshot, start_browser
from tests.web.conftest import browser_sign_in
from tests.web.test_console_delivery import NOTICES, seed

# The live server's scheduler plans pending notices: keep only the states it leaves alone.
SETTLED = [n for n in NOTICES if n[4] not in ("pending", "scheduled")]


def _text(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


async def test_a_clerk_and_an_operator_read_the_delivery_figures(
    live: Any, make_user: Any, sessions: Any, monkeypatch: Any
) -> None:
    import tests.web.test_console_delivery as data

    monkeypatch.setattr(data, "NOTICES", SETTLED)
    await seed(sessions)
    await record_quota(live.server.app[WEB].redis, 400, 1000, datetime.now(UTC))
    clerk = await make_user("132012", "viewer")
    operator = await make_user("130001", "operator")
    seen: dict[str, str] = {}

    def visit(width: int, email: str) -> None:
        from selenium.webdriver.common.by import By

        driver = start_browser(width, 900 if width < 600 else 1000)
        # An operator looks at Hachioji's page through ?m=.
        scope = "&m=132012" if email == operator else ""
        try:
            browser_sign_in(driver, live, email)
            for lang in ("ja", "en"):
                driver.get(live.url(f"/console/delivery?lang={lang}{scope}"))
                seen[f"delivery-{lang}-{width}"] = _text(driver, "h1")
                seen[f"sent-{lang}-{width}"] = _text(driver, '#totals li[data-state="sent"]')
                if not scope:
                    screenshot(driver, f"console-delivery-{lang}-{width}")
                if email == operator:
                    from selenium.webdriver.support.ui import WebDriverWait

                    alive = "稼働中" if lang == "ja" else "Alive"

                    def heartbeats_in(d: Any, lang: str = lang, alive: str = alive) -> bool:
                        # The server's worker and scheduler report within seconds of start;
                        # reload until both have (a loaded machine can be slow to start them).
                        d.get(live.url(f"/console/ops?lang={lang}"))
                        text = _text(d, "#processes")
                        return text.count(alive) >= 2

                    WebDriverWait(driver, 30, poll_frequency=1).until(heartbeats_in)
                    seen[f"ops-{lang}-{width}"] = _text(driver, "h1")
                    seen[f"processes-{lang}-{width}"] = _text(driver, "#processes")
                    screenshot(driver, f"console-ops-{lang}-{width}")
            # The period select works by keyboard and form submission.
            driver.get(live.url(f"/console/delivery?lang=ja{scope}"))
            from selenium.webdriver.support.ui import Select

            Select(driver.find_element(By.ID, "f-days")).select_by_value("90")
            driver.find_element(By.CSS_SELECTOR, "form.filters button").click()
            from selenium.webdriver.support.ui import WebDriverWait

            WebDriverWait(driver, 20).until(lambda d: "days=" in d.current_url)
            seen[f"period-{width}"] = driver.current_url
        finally:
            driver.quit()

    for width in (420, 1280):
        await asyncio.to_thread(visit, width, clerk)
    await asyncio.to_thread(visit, 1280, operator)
    await asyncio.to_thread(visit, 420, operator)

    for width in (420, 1280):
        assert seen[f"delivery-ja-{width}"] == "配信 — 八王子市"
        assert seen[f"delivery-en-{width}"] == "Delivery — Hachioji City"
        assert seen[f"sent-ja-{width}"].split() == ["送信済み", "6"]
        assert seen[f"sent-en-{width}"].split() == ["Sent", "6"]
        assert "days=90" in seen[f"period-{width}"]
        assert seen[f"ops-ja-{width}"] == "運用"
        assert seen[f"ops-en-{width}"] == "Operations"
        # The live server's own worker and scheduler report alive.
        assert "送信ワーカー" in seen[f"processes-ja-{width}"]
        assert "稼働中" in seen[f"processes-ja-{width}"]
        assert "Alive" in seen[f"processes-en-{width}"]
