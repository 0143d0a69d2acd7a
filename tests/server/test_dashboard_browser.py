"""The dashboard in headless Chromium: it follows a real switch live and shows it in the timeline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from detour.testing import B

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,900")

pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                reason="needs Debian's chromium and chromium-driver: run .ci/install-browser.sh")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'chrome-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def chat(gw: Any, text: str) -> str:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="detour", messages=[{"role": "user", "content": text}])
    return raw.headers["x-detour-model"]


def test_dashboard_follows_a_switch_live(make_gateway, fake, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    card = (By.CSS_SELECTOR, '.card[data-chain="default"]')
    fake.script("claude-x", B.text("from the primary"))
    gw = make_gateway()
    assert chat(gw, "one") == "ant/claude-x"
    browser.get(gw.url + "/")
    wait = WebDriverWait(browser, 30, poll_frequency=0.2)
    first = wait.until(lambda d: d.find_element(*card))
    assert first.get_attribute("data-current") == "ant/claude-x" and first.get_attribute("data-on-primary") == "true"
    assert "on primary" in first.text.lower()
    assert browser.find_element(By.ID, "timeline").find_elements(By.CSS_SELECTOR, "li.switch") == []

    fake.script("claude-x", B.rate_limit(retry_after=600))
    assert chat(gw, "two") == "oai/gpt-x"

    # the page is not reloaded: it must pick the switch up from /events (or its /status polling)
    switched = wait.until(lambda d: d.find_element(*card) if d.find_element(*card).get_attribute("data-current") == "oai/gpt-x" else None)
    assert switched.get_attribute("data-on-primary") == "false"
    assert "rate limited" in switched.text and "back" in switched.text and "ant/claude-x" in switched.text
    item = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, 'li.switch[data-to="oai/gpt-x"]'))[0]
    assert item.get_attribute("data-from") == "ant/claude-x" and "rate limited" in item.text
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-model="ant/claude-x"]')
    assert "cooling" in row.text and "rate limited" in row.text

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    shot.unlink(missing_ok=True)
    assert browser.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
