"""The daycare pages in a real browser (headless Chromium): a clerk uploads a facility list and
reads the report, sorts a table and opens an application; screenshots ja/en, phone and desktop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from integrations.daycare.models import TourSlot, Vacancy
from tests.browser import screenshot, start_browser
from tests.integrations.daycare.daycare_factories import insert
from tests.integrations.daycare.test_daycare_rounds_api import ENTRY, MUNI, _apply, _facts, _round
from tests.web.conftest import browser_sign_in

CSV = "\n".join(
    [
        "都道府県コード又は市区町村コード,NO,名称,名称_カナ,種別,住所,緯度,経度,収容定員,受入年齢,"
        "利用可能曜日,開始時間,終了時間",
        f"{MUNI},201,ひかり保育園,ヒカリ,認可保育所,東京都八王子市旭町1-1,35.65,139.33,150,"
        "産休明けから,月;火;水;木;金;土,7:00,19:00",
        f"{MUNI},202,こだま保育園,コダマ,小規模保育事業,東京都八王子市明神町2-2,35.66,139.34,19,"
        "0歳から2歳,月;火;水;木;金,7:30,18:30",
        f"{MUNI},203,,,認可保育所,東京都八王子市本町3,35.65,139.33,40,1歳から,,,",
    ]
)
PAGES = [
    ("facilities", "/console/daycare/facilities"),
    ("vacancies", "/console/daycare/vacancies"),
    ("tours", "/console/daycare/tours"),
    ("applications", "/console/daycare/applications"),
    ("rounds", "/console/daycare/rounds"),
]


async def test_a_clerk_uploads_sorts_and_opens_an_application(
    live: Any, make_user: Any, sessions: Any, tmp_path: Path
) -> None:
    setup = await _round(sessions, {"A": 2, "B": 1})
    facilities = setup["facilities"]
    await insert(
        sessions,
        Vacancy(facility_pk=facilities["A"].id, class_age=0, entry_month=ENTRY, places=1),
        Vacancy(facility_pk=facilities["B"].id, class_age=2, entry_month=ENTRY, level="some"),
        TourSlot(
            facility_pk=facilities["A"].id,
            starts_at=datetime(2030, 6, 10, 1, 0, tzinfo=UTC),
            ends_at=datetime(2030, 6, 10, 2, 0, tzinfo=UTC),
            capacity=5,
            notes="園庭も見られます。上履きをお持ちください。",
        ),
    )
    application = await _apply(sessions, setup, ["A", "B"], _facts((40, 30)))
    await _apply(sessions, setup, ["B"], _facts(single=True))
    round_id = setup["round"].id
    email = await make_user(MUNI, "editor")
    upload = tmp_path / "shisetsu.csv"
    upload.write_bytes(CSV.encode("cp932"))
    driver = await asyncio.to_thread(start_browser)

    def visit() -> dict[str, Any]:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        seen: dict[str, Any] = {}
        browser_sign_in(driver, live, email)
        driver.get(live.url("/console/daycare/facilities"))
        driver.find_element(By.ID, "fac-upload-file").send_keys(str(upload))
        button = driver.find_element(By.CSS_SELECTOR, "form.upload button[type=submit]")
        button.click()
        WebDriverWait(driver, 30).until(lambda d: "取込結果" in d.title)
        seen["report"] = driver.find_element(By.TAG_NAME, "main").text
        screenshot(driver, "daycare-import-report-ja-420")

        driver.get(live.url("/console/daycare/facilities"))
        driver.find_element(By.LINK_TEXT, "定員").click()
        WebDriverWait(driver, 20).until(lambda d: "sort=capacity" in d.current_url)
        driver.find_element(By.PARTIAL_LINK_TEXT, "定員").click()
        WebDriverWait(driver, 20).until(lambda d: "sort=-capacity" in d.current_url)
        rows = driver.find_elements(By.CSS_SELECTOR, "#facilities tbody tr td:first-child")
        seen["by_capacity"] = [r.text.split("\n")[0] for r in rows]

        driver.get(live.url(f"/console/daycare/applications?round={round_id}"))
        driver.find_element(By.LINK_TEXT, str(application)).click()
        WebDriverWait(driver, 20).until(lambda d: f"/applications/{application}" in d.current_url)
        seen["application"] = driver.find_element(By.TAG_NAME, "main").text
        seen["overflow"] = {}
        for width in (420, 1280):
            driver.set_window_size(width, 900)
            for lang in ("ja", "en"):
                for name, path in [
                    *PAGES,
                    ("application", f"/console/daycare/applications/{application}"),
                    ("round", f"/console/daycare/rounds/{round_id}"),
                    ("facility", f"/console/daycare/facilities/{facilities['A'].id}"),
                ]:
                    driver.get(live.url(f"{path}{'&' if '?' in path else '?'}lang={lang}"))
                    screenshot(driver, f"daycare-{name}-{lang}-{width}")
                    # The page itself never scrolls sideways: wide tables scroll in their box.
                    seen["overflow"][(name, lang, width)] = driver.execute_script(
                        "if (document.documentElement.scrollWidth <= window.innerWidth + 1)"
                        " return false;"
                        "return Array.from(document.querySelectorAll('body *'))"
                        ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1"
                        " && !e.closest('.scroll'))"
                        ".map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5);"
                    )
                    if name in ("vacancies", "tours"):
                        # Not even their tables scroll: the 空き box and 保存 are on screen.
                        seen["overflow"][(name, "table", lang, width)] = driver.execute_script(
                            "return Array.from(document.querySelectorAll('main *'))"
                            ".filter(e => e.getClientRects().length &&"
                            " e.getBoundingClientRect().right > window.innerWidth + 1)"
                            ".map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5);"
                        )
                        rows = driver.find_elements(By.CSS_SELECTOR, "#vacancies tr, #slots tr")
                        seen[(name, "rows")] = len(rows)
        seen["title_en"] = driver.find_element(By.TAG_NAME, "h1").text
        return seen

    try:
        seen = await asyncio.to_thread(visit)
    finally:
        await asyncio.to_thread(driver.quit)
    assert "新規\n2" in seen["report"] or "新規 2" in seen["report"], seen["report"]
    assert "施設名（名称）がありません" in seen["report"] and "4" in seen["report"]
    assert seen["by_capacity"][0] == "ひかり保育園"
    assert "2025-06-10" in seen["application"] and "A保育園" in seen["application"]
    assert seen["title_en"].startswith("Test Nursery") or "保育園" in seen["title_en"]
    assert seen[("vacancies", "rows")] == 5 and seen[("tours", "rows")] == 2  # with a header
    assert not any(seen["overflow"].values()), {k: v for k, v in seen["overflow"].items() if v}
