"""Figure (p): the live page, measured through Playwright in Debian's chromium.

(p1) Frame time: `raftsim serve` with 9 servers, paced at 10x, message animation on; the
page records the interval between consecutive animation frames (requestAnimationFrame) for
`FRAMES_S` seconds after `SETTLE_S` seconds, and the 95th percentile is reported.
(p2) Server-side CPU: `raftsim serve --servers 5` (paced, 1x, idle) as its own process with
the page open in the browser (which streams every message, as the page asks); the serve
process's CPU time from /proc over `CPU_S` seconds after `SETTLE_S` seconds, as a share of
one core.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time

from .common import Row, Section, fmt_num, wall_limit

GOAL_FRAME_P95_MS = 20.0
GOAL_SERVER_CPU = 3.0  # % of one core
SETTLE_S = 5.0
FRAMES_S = 10.0
CPU_S = 20.0
WALL_LIMIT_S = 180.0

FRAME_SCRIPT = """async (seconds) => {
  const gaps = [];
  let last = performance.now();
  const end = last + seconds * 1000;
  await new Promise((resolve) => {
    const tick = (now) => {
      gaps.push(now - last);
      last = now;
      if (now < end) requestAnimationFrame(tick); else resolve();
    };
    requestAnimationFrame(tick);
  });
  return gaps;
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _frames(chromium: str) -> list[float]:
    from playwright.async_api import async_playwright  # noqa: PLC0415

    from raftsim.web import Options, start  # noqa: PLC0415

    served = await start(Options(servers=9, seed=1, mode="paced", speed=10.0), http_port=0)
    try:
        async with async_playwright() as driver:
            browser = await driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await page.goto(f"{served.sim.control_url}/")
            await asyncio.sleep(SETTLE_S)
            gaps: list[float] = await page.evaluate(FRAME_SCRIPT, FRAMES_S)
            await browser.close()
    finally:
        await served.close()
    return gaps


async def _server_cpu(chromium: str) -> float:
    from playwright.async_api import async_playwright  # noqa: PLC0415

    port = _free_port()
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "raftsim",
            "serve",
            "--servers",
            "5",
            "--http-port",
            "0",
            "--control",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        async with async_playwright() as driver:
            browser = await driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{port}/")
            await asyncio.sleep(SETTLE_S)
            before, started = _cpu_seconds(serve.pid), time.monotonic()
            await asyncio.sleep(CPU_S)
            used = _cpu_seconds(serve.pid) - before
            elapsed = time.monotonic() - started
            await browser.close()
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    return 100.0 * used / elapsed


def measure() -> tuple[float, float, int] | None:
    """(frame p95 ms, frame median ms, frames), server CPU %; None without chromium."""
    chromium = shutil.which("chromium")
    if chromium is None:
        return None
    with wall_limit(WALL_LIMIT_S, "the page figures (p)"):
        gaps = sorted(asyncio.run(_frames(chromium))[1:])
        cpu = asyncio.run(_server_cpu(chromium))
    p95 = gaps[int(0.95 * (len(gaps) - 1))]
    return p95, cpu, len(gaps)


def section(result: tuple[float, float, int] | None) -> Section:
    sec = Section("p")
    if result is None:
        sec.rows.append(Row("(p) the live page", "no chromium", "-", None))
        return sec
    p95, cpu, frames = result
    sec.rows.append(
        Row(
            "(p1) page frame time p95, 9 servers, 10x, messages on (ms)",
            fmt_num(p95, 1),
            f"< {GOAL_FRAME_P95_MS:g}",
            p95 < GOAL_FRAME_P95_MS,
        )
    )
    sec.rows.append(
        Row(
            "(p2) idle paced 5 servers with the page open: serve CPU (% of a core)",
            fmt_num(cpu, 2),
            f"< {GOAL_SERVER_CPU:g}",
            cpu < GOAL_SERVER_CPU,
        )
    )
    sec.params.append(
        f"(p) bench/page.py: Debian chromium headless through Playwright; (p1) {frames} "
        f"requestAnimationFrame intervals over {FRAMES_S:g} s after {SETTLE_S:g} s; (p2) the "
        f"`raftsim serve` process's CPU time from /proc over {CPU_S:g} s after {SETTLE_S:g} s"
    )
    return sec
