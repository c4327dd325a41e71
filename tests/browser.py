"""A real browser for the page tests: Debian's headless Chromium driven by selenium.

`.ci/run` installs `chromium`, `chromium-driver` and `fonts-noto-cjk` and sets
HAGUKUMI_REQUIRE_BROWSER=1, so that a missing browser fails there instead of skipping.
Screenshots go to `var/screenshots/` (not committed) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

SCREENSHOT_DIR = Path(__file__).resolve().parents[1] / "var" / "screenshots"


def browser_paths() -> tuple[str, str]:
    """Chromium and chromedriver, or a skip (a failure under HAGUKUMI_REQUIRE_BROWSER=1)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[dev]')")
    if chromium is None:
        missing.append("chromium (apt-get install chromium)")
    if driver is None:
        missing.append("chromedriver (apt-get install chromium-driver)")
    if missing:
        reason = "no browser to drive the pages: missing " + ", ".join(missing)
        if os.environ.get("HAGUKUMI_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " (HAGUKUMI_REQUIRE_BROWSER=1)")
        pytest.skip(reason)
    assert chromium is not None and driver is not None
    return chromium, driver


def start_browser(width: int = 420, height: int = 860) -> Any:
    """A headless Chromium, by default the size of a phone held upright."""
    chromium, driver_path = browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--lang=ja",
    ):
        options.add_argument(argument)
    # Pages choose their language from Accept-Language: a Japanese phone's, as most parents.
    options.add_experimental_option("prefs", {"intl.accept_languages": "ja,en"})
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


def screenshot(driver: Any, name: str) -> Path:
    """Save the whole page as `var/screenshots/NAME.png` (full height, for reading)."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    width = driver.execute_script("return document.documentElement.scrollWidth")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    size = driver.get_window_size()
    driver.set_window_size(max(size["width"], min(width, 1600)), min(max(height + 120, 400), 6000))
    driver.save_screenshot(str(path))
    driver.set_window_size(size["width"], size["height"])
    return path
