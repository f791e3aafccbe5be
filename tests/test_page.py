"""The live page (raftsim/web/static, page.py), driven in real headless Chromium through
Playwright's async API: Debian's chromium, launched by its path (`.ci/run` installs it).
Each test starts its own served cluster on loopback and its own browser, and stops both
(the browser on the test's own event loop: pytest-playwright's session-wide browser lives
on a loop of its own, which pytest-asyncio's per-test loops cannot share). Screenshots go
to `artifacts/screenshots/` (kept by CI).

Without a chromium on the PATH these tests are skipped, unless RAFTSIM_REQUIRE_BROWSER is
set (CI sets it), when they fail instead: a browser test that cannot run must not pass."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from raftsim.web import Background, Options, Simulation
from raftsim.web.state import cluster_state

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"

if CHROMIUM is None and not os.environ.get("RAFTSIM_REQUIRE_BROWSER"):
    pytest.skip("no chromium on the PATH (apt install chromium)", allow_module_level=True)

playwright = pytest.importorskip("playwright.async_api")
expect: Any = playwright.expect
Page = Any  # playwright.async_api.Page


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A page of a headless Debian chromium (no sandbox: CI runs as root)."""
    assert CHROMIUM, "RAFTSIM_REQUIRE_BROWSER is set but there is no chromium on the PATH"
    async with playwright.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield await browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            await browser.close()


class Served:
    """A cluster served in the background, and calls to its control surface."""

    def __init__(self, served: Any) -> None:
        self.sim: Simulation = served.sim
        self.url = served.sim.control_url

    def state(self) -> dict[str, Any]:
        answer: dict[str, Any] = requests.get(f"{self.url}/v1/sim/state", timeout=30).json()
        return answer

    def post(self, path: str, body: object = None) -> dict[str, Any]:
        response = requests.post(f"{self.url}{path}", json=body, timeout=30)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


def serve(**options: Any) -> Iterator[Served]:
    with Background(Options(**options)) as running:
        yield Served(running)


@pytest.fixture
def served() -> Iterator[Served]:
    """Three servers, paced at 5x: an election takes about a quarter of a wall second."""
    yield from serve(seed=0, mode="paced", speed=5.0)


async def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def open_page(page: Page, served: Served) -> list[str]:
    """Open the page; the console errors it logs, collected from now on."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{served.url}/")
    return errors


def leaders(page: Page) -> Any:
    return page.locator("#servers .card.role-leader")


def card(page: Page, name: str) -> Any:
    return page.locator(f"#server-{name}")


async def wait_for_one_leader(page: Page) -> str:
    await expect(leaders(page)).to_have_count(1, timeout=20_000)
    name = await leaders(page).get_attribute("data-name")
    assert name
    return name


async def test_page_loads_and_shows_exactly_one_leader(page: Page, served: Served) -> None:
    """After the first election exactly one server shows Leader, on the ring (by shape and
    word) and on its card; the page logged no console error."""
    errors = await open_page(page, served)
    leader = await wait_for_one_leader(page)
    await expect(page.locator("#ring .server.role-leader")).to_have_count(1)
    await expect(card(page, leader).locator(".badge")).to_have_text("Leader")
    await expect(page.locator("#caption")).not_to_have_text("Waiting for the cluster…")
    await shoot(page, "page-first-election")
    assert errors == []


async def test_crashing_the_leader_from_the_page_elects_another(page: Page, served: Served) -> None:
    """Crash from the leader's card: a new leader within the bound hashicorp gives a
    failover (spec raft-semantics §3.3-§3.4: a heartbeat timeout, then an election)."""
    await open_page(page, served)
    old = await wait_for_one_leader(page)
    crashed_at = served.state()["time_us"]
    await card(page, old).get_by_role("button", name="Crash").click()
    await expect(card(page, old).locator(".badge")).to_have_text("down")
    await expect(page.locator(f"#servers .card.role-leader:not(#server-{old})")).to_have_count(
        1, timeout=20_000
    )
    state = served.state()
    assert state["leader"] not in (None, old)
    assert state["time_us"] - crashed_at < 10_000_000  # well within a few election rounds
    await shoot(page, "page-failover")


async def test_removing_a_follower_from_the_page(page: Page, served: Served) -> None:
    """Remove a follower through the leader's own Nomad API (DELETE /v1/operator/raft/peer,
    spec nomad-api §2.2): the page shows the HTTP answer, the leader's configuration index
    goes up, and the removed server's own view still lists it."""
    await open_page(page, served)
    leader = await wait_for_one_leader(page)
    follower = next(s["name"] for s in served.state()["servers"] if s["name"] != leader)
    before = next(s for s in served.state()["servers"] if s["name"] == leader)["latest"]["index"]
    target = card(page, follower)
    await target.locator(".via select").first.select_option(leader)
    await target.get_by_role("button", name="Remove peer").click()
    await expect(page.locator("#answers figcaption")).to_have_text(f"{leader}: 200", timeout=20_000)
    leader_latest = card(page, leader).locator("dd").nth(5)
    await expect(leader_latest).not_to_contain_text(follower, timeout=20_000)
    after = next(s for s in served.state()["servers"] if s["name"] == leader)["latest"]["index"]
    assert after > before
    await expect(leader_latest).to_contain_text(f"@ index {after}")
    # The removed server's card shows its own view (spec raft-semantics §2.8): it never
    # learns that its removal committed, so its committed configuration still lists it,
    # unless a call to it was in flight when the leader stopped replicating to it (the
    # replication loop's last best effort then carries the new commit index: paced, this
    # depends on when the click lands between heartbeats).
    committed = card(page, follower).locator("dd").nth(6)
    for _ in range(100):  # until the card shows the server's committed view, which settles
        mine = next(s for s in served.state()["servers"] if s["name"] == follower)["committed"]
        shown = await committed.inner_text()
        if shown.endswith(f"@ index {mine['index']}"):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"{follower}'s card shows {shown!r}, its state {mine}")
    if mine["index"] < after:
        assert follower in shown
    await shoot(page, "page-remove-follower")


async def test_pause_stops_virtual_time_and_step_runs_one_event(page: Page, served: Served) -> None:
    await open_page(page, served)
    await wait_for_one_leader(page)
    await page.locator("#play").click()
    await expect(page.locator("#play")).to_have_text("Play")
    first = served.state()
    await page.wait_for_timeout(700)
    second = served.state()
    assert second["time_us"] == first["time_us"] and second["events"] == first["events"]
    await expect(page.locator("#now")).to_have_text(f"{first['time_us'] / 1e6:.3f}s")
    await page.get_by_role("button", name="Step 1 event").click()
    await page.wait_for_timeout(300)
    assert served.state()["events"] == first["events"] + 1


async def test_scrubbing_back_and_forth_shows_a_fresh_runs_state(
    page: Page, served: Served
) -> None:
    """Drag the time slider back, then forward again: the page shows the state a fresh
    run of the same seed has at that time (the replay is deterministic)."""
    await open_page(page, served)
    await wait_for_one_leader(page)
    await page.locator("#play").click()
    end = served.state()["time_us"]
    slider = page.locator("#scrub")
    for target in (end // 3, end):
        await slider.evaluate(
            "(el, t) => { el.value = t; el.dispatchEvent(new Event('change')); }", target
        )
        await expect(page.locator("#scrub-shown")).to_have_text(f"{target / 1e6:.3f}s")
        await page.wait_for_timeout(300)
        assert served.state()["time_us"] == target
    fresh = Simulation(Options(seed=0))
    fresh.cluster.sched.run_until(end)
    expected = cluster_state(fresh.cluster)
    state = served.state()
    for mine, theirs in zip(state["servers"], expected["servers"], strict=True):  # type: ignore[call-overload]
        for key in ("role", "term", "voted_for", "commit_index", "last_index", "log"):
            assert mine[key] == theirs[key], (mine["name"], key)
        shown = card(page, mine["name"])
        await expect(shown.locator("dd").first).to_have_text(str(theirs["term"]))
        await expect(shown.locator(".badge")).to_contain_text(theirs["role"])


async def test_a_lesson_plays_with_its_captions(page: Page, served: Served) -> None:
    """Open the first-election lesson and step through it: the file's comments are the
    caption, each command's events come with the simulator's sentences."""
    await open_page(page, served)
    await page.locator("#lesson").select_option("01-first-election")
    await page.get_by_role("button", name="Open").click()
    await expect(page.locator("#lesson-banner")).to_be_visible()
    await expect(page.locator("#lesson-text .lesson-notes")).to_contain_text("first election")
    for _ in range(4):  # (a `status` comes first)
        await page.get_by_role("button", name="Next command").click()
        await page.wait_for_timeout(200)
        if "run-until" in await page.locator("#lesson-text .lesson-command").inner_text():
            break
    await expect(page.locator("#lesson-text .lesson-command")).to_contain_text("run-until")
    await expect(page.locator("#log")).to_contain_text(
        re.compile(r"becomes a candidate for term 2")
    )
    await expect(page.locator("#log")).to_contain_text("becomes the leader for term 2")
    await expect(page.locator("#servers .card.role-leader")).to_have_count(1)
    await shoot(page, "page-lesson")


async def test_ask_panel_shows_no_cluster_leader_without_quorum(page: Page, served: Served) -> None:
    """Two of three servers down: a default read on the survivor is held 5 s for a leader,
    then fails with 500 `No cluster leader` (spec nomad-api §1, §2.1); with ?stale it
    answers from its own view."""
    await open_page(page, served)
    leader = await wait_for_one_leader(page)
    others = [s["name"] for s in served.state()["servers"] if s["name"] != leader]
    survivor = others[0]
    for name in (leader, others[1]):
        served.post(f"/v1/sim/servers/{name}/crash")
    # Until its heartbeat timeout the survivor still forwards to the dead leader (and gets
    # connection refused); the operator asks once it knows no leader.
    for _ in range(200):
        if next(s for s in served.state()["servers"] if s["name"] == survivor)["leader"] == "":
            break
        await asyncio.sleep(0.05)
    await page.get_by_role("button", name="Ask every server").click()
    answer = page.locator(f'#answers figure[data-server="{survivor}"]')
    await expect(answer.locator("figcaption")).to_have_text(f"{survivor}: 500", timeout=20_000)
    await expect(answer.locator("pre")).to_have_text("No cluster leader")
    await expect(page.locator(f'#answers figure[data-server="{leader}"] figcaption')).to_have_text(
        f"{leader}: no answer"
    )
    await shoot(page, "page-no-leader")
    await page.locator("#ask-stale").check()
    await page.get_by_role("button", name="Ask every server").click()
    await expect(answer.locator("figcaption")).to_have_text(f"{survivor}: 200", timeout=20_000)
    body = json.loads(await answer.locator("pre").inner_text())
    assert len(body["Servers"]) == 3


async def test_keyboard_and_large_type(page: Page, served: Served) -> None:
    """The controls work from the keyboard: space pauses, s steps; large type scales up."""
    await open_page(page, served)
    await wait_for_one_leader(page)
    await page.locator("body").press(" ")
    await expect(page.locator("#play")).to_have_text("Play")
    events = served.state()["events"]
    await page.locator("body").press("s")
    await page.wait_for_timeout(300)
    assert served.state()["events"] == events + 1
    await page.locator("#large").check()
    assert await page.evaluate("document.body.classList.contains('large')")
    await page.locator("#ring .server").first.focus()
    await page.keyboard.press("Enter")
    await shoot(page, "page-large-type")


async def test_adding_a_server_from_the_page(page: Page, served: Served) -> None:
    """Add a server: a fourth card appears; it joins Serf, and the leader's reconcile adds
    it to the Raft configuration (spec nomad-api §3.2), which the leader's card shows."""
    await open_page(page, served)
    leader = await wait_for_one_leader(page)
    await page.get_by_role("button", name="Add a server").click()
    await expect(page.locator("#servers .card")).to_have_count(4)
    await expect(page.locator("#ring .server")).to_have_count(4)
    latest = card(page, leader).locator("dd").nth(5)
    await expect(latest).to_contain_text("dave", timeout=30_000)
    await shoot(page, "page-add-server")


async def test_ask_panel_sends_the_acl_token(page: Page) -> None:
    """With ACLs on (1.2.13, `--acl`), the ask panel shows a token field: without a token
    the operator endpoint answers 403 `Permission denied`, with the management token 200
    (spec nomad-api §1, ACL capabilities)."""
    for served in serve(seed=0, mode="paced", speed=5.0, version="1.2.13", acl=True):
        management = served.sim.nomad.acl.management
        assert management is not None
        await open_page(page, served)
        await wait_for_one_leader(page)
        await expect(page.locator("#acl-row")).to_be_visible()
        answers = page.locator("#answers figure figcaption")
        await page.get_by_role("button", name="Ask every server").click()
        await expect(answers).to_have_text([f"{n}: 403" for n in ("alice", "bob", "carol")])
        await expect(page.locator("#answers figure pre").first).to_have_text("Permission denied")
        await page.locator("#acl-token").fill(management.secret_id)
        await page.get_by_role("button", name="Ask every server").click()
        await expect(answers).to_have_text([f"{n}: 200" for n in ("alice", "bob", "carol")])
