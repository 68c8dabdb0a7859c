"""The console in a real browser (Debian's chromium with chromium-driver, headless, via selenium):
log in, open a breach from the overview, acknowledge it, see the acknowledgement, log out; the pages
load nothing from anywhere but the console. Skips where no browser is installed; CI installs one."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from audit_store.db import Store
from reporting.config import load_settings
from reporting.web.accounts import add_user
from reporting.web.app import create_app
from tests.console_server import serving
from tests.notify_helpers import store_results

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if (CHROMIUM is None or DRIVER is None) and os.environ.get("CI"):
    raise RuntimeError("CI must run the browser test: .ci/run installs chromium, chromium-driver")
webdriver = pytest.importorskip("selenium.webdriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None, reason="chromium and chromium-driver are not installed"
)
PASSWORD = "officer password for the browser"


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    settings = load_settings(env={"LIQRISK_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"})
    store = Store(settings.database_url)
    store.create_schema()
    store_results(store, date(2025, 11, 3), {("daily_usd", "BTC"): "breach"})
    add_user(store, "olivia", "officer", PASSWORD, by="test")
    app = create_app(store, settings, session_key=b"s" * 48, secure_cookies=False)
    with serving(app) as base:
        yield base
    store.dispose()


def test_log_in_acknowledge_a_breach_and_log_out(url: str) -> None:
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(argument)
    options.binary_location = str(CHROMIUM)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.implicitly_wait(10)  # each lookup waits for the page a click is loading
    try:
        driver.get(url + "/breaches")
        assert "/login" in driver.current_url  # sent to log in first
        driver.find_element(By.NAME, "name").send_keys("olivia")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
        WebDriverWait(driver, 10).until(lambda d: d.current_url == url + "/breaches")
        driver.get(url + "/")
        driver.find_element(By.LINK_TEXT, "Daily liquidations (USD)").click()
        WebDriverWait(driver, 10).until(lambda d: "/breaches/" in d.current_url)
        comment = "Hedged with the desk <b>at 09:10</b>"
        driver.find_element(By.NAME, "comment").send_keys(comment)
        driver.find_element(By.CSS_SELECTOR, "form[action$='/ack'] button").click()
        ack = driver.find_element(By.CSS_SELECTOR, ".ack")
        assert "olivia" in ack.text and comment in ack.text  # shown as text, not markup
        loaded = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert loaded and all(str(name).startswith(url) for name in loaded), loaded
        driver.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
        WebDriverWait(driver, 10).until(lambda d: "/login" in d.current_url)
        driver.get(url + "/")
        assert "/login" in driver.current_url  # the session is gone
    finally:
        driver.quit()
