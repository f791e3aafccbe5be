"""HTTP figures of issue 3: `raftsim serve` against a bare aiohttp handler, and the CPU an
idle paced cluster costs. `run()` returns the table rows (figure, value, goal, met);
`python -m bench.http` prints them.

* Throughput: GET /v1/operator/raft/configuration answered by the leader, and by a follower
  with `?stale` (a local read), each against a bare aiohttp handler in its own process that
  returns the same JSON (encoded per request, as raftsim does). One load generator, a
  separate Python process (wrk is not installed): an aiohttp client with CONCURRENCY
  keep-alive connections for SECONDS after a one-second warm-up; requests per second and
  the p99 latency. The three targets are measured in turn, ROUNDS times in a rotated order,
  and the best run of each counts (the machine is shared). Goal: raftsim at least 0.8 of
  the bare rate.
  One Python load generator may saturate before either server does (then both rates are
  the generator's); the serving process's CPU time per request, read from /proc, shows
  the servers' own costs regardless.
* Idle CPU: `raftsim serve --servers 5 --speed 1.0` (paced, real Nomad timing), CPU time of
  the serving process from /proc over 10 s after it settled. Goal: under 3% of one core.

Every server and load generator runs on loopback only and stops by itself or is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

Row = tuple[str, str, str, str]
SECONDS = 4.0
WARMUP = 1.0
ROUNDS = 3  # targets measured in turn, in a rotated order each round; the best run counts
CONCURRENCY = 32
IDLE_SPAN = 10.0
IDLE_SETTLE = 3.0
GOAL_RATIO = 0.8
GOAL_IDLE_CPU = 0.3  # percent of one core
PATH = "/v1/operator/raft/configuration"
ROOT = Path(__file__).resolve().parent.parent  # so `-m bench.http` imports from any cwd


# ------------------------------------------------------------ child processes


@contextmanager
def _process(command: list[str]) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _serve(servers: int, speed: float) -> list[str]:
    command = [sys.executable, "-m", "raftsim", "serve", "--servers", str(servers)]
    command += ["--speed", str(speed), "--http-port", "0", "--control", "127.0.0.1:0"]
    return command


def _banner(process: subprocess.Popen[str]) -> tuple[dict[str, str], str]:
    """Each server's HTTP URL and the control URL, from `raftsim serve`'s banner."""
    assert process.stdout is not None
    http: dict[str, str] = {}
    control = ""
    for line in process.stdout:
        words = line.split()
        if len(words) == 5 and words[1] == "raft" and words[3] == "http":
            http[words[0]] = words[4]
        if words[:1] == ["control"]:
            control = words[1].removesuffix("/v1/sim/state")
        if line.startswith("Ctrl-C"):
            return http, control
    raise RuntimeError("raftsim serve exited before printing its addresses")


def _get(url: str, data: bytes | None = None) -> bytes:
    import urllib.request  # noqa: PLC0415 (only the bench's parent process needs it)

    headers = {"Content-Type": "application/json"} if data else {}  # /v1/sim/ takes JSON only
    request = urllib.request.Request(
        url, data=data, method="POST" if data else "GET", headers=headers
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body: bytes = response.read()
        return body


def _load(url: str) -> dict[str, float]:
    """Run the load generator in its own process; its JSON report."""
    command = [sys.executable, "-m", "bench.http", "--load", url]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=120, cwd=ROOT
    )
    report: dict[str, float] = json.loads(output.stdout)
    return report


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process, from /proc (Linux); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------ figures


def _measure(urls: dict[str, str], pids: dict[str, int]) -> dict[str, dict[str, float]]:
    """Each target's best load run of ROUNDS: the targets in turn, the order rotated each
    round so that each is measured once in each place (a served process gets cheaper run
    after run, and a fixed order would give one target its first run every round); with
    the serving process's CPU per request."""
    runs: dict[str, dict[str, float]] = {}
    order = list(urls)
    for round_ in range(ROUNDS):
        for key in order[round_:] + order[:round_]:
            before = _cpu_seconds(pids[key])
            report = _load(urls[key])
            after = _cpu_seconds(pids[key])
            if before is not None and after is not None and report["requests"]:
                # The serving process's CPU per request, warm-up included.
                total = report["requests"] * (SECONDS + WARMUP) / SECONDS
                report["cpu_us"] = (after - before) / total * 1e6
            if key not in runs or report["rps"] > runs[key]["rps"]:
                runs[key] = report
    return runs


def throughput() -> list[Row]:
    with _process(_serve(3, 1.0)) as serve:
        http, control = _banner(serve)
        _get(f"{control}/v1/sim/clock/advance", json.dumps({"by": "15s"}).encode())
        state = json.loads(_get(f"{control}/v1/sim/state"))
        leader = state["leader"]
        follower = next(n for n in http if n != leader)
        body = _get(f"{http[leader]}{PATH}")
        with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
            f.write(body)
        try:
            bare_cmd = [sys.executable, "-m", "bench.http", "--bare", f.name]
            with _process(bare_cmd) as bare:
                assert bare.stdout is not None
                bare_url = bare.stdout.readline().strip()
                urls = {
                    "leader": f"{http[leader]}{PATH}",
                    "follower": f"{http[follower]}{PATH}?stale",
                    "bare": f"{bare_url}{PATH}",
                }
                pids = {"leader": serve.pid, "follower": serve.pid, "bare": bare.pid}
                runs = _measure(urls, pids)
        finally:
            Path(f.name).unlink()
    base = runs["bare"]["rps"]
    rows: list[Row] = []
    for key, label in (("leader", "leader"), ("follower", "follower, ?stale")):
        rows.append(
            (f"http: GET configuration, {label}: req/s", f"{runs[key]['rps']:,.0f}", "-", "n/a")
        )
    rows.append(("http: bare aiohttp handler, same JSON: req/s", f"{base:,.0f}", "-", "n/a"))
    for key, label in (("leader", "leader"), ("follower", "follower ?stale")):
        ratio = runs[key]["rps"] / base if base else 0.0
        met = "yes" if ratio >= GOAL_RATIO else "NO"
        rows.append((f"http: {label} / bare", f"{ratio:.2f}x", f">= {GOAL_RATIO}x", met))
    p99 = " / ".join(f"{runs[k]['p99_ms']:.2f}" for k in ("leader", "follower", "bare"))
    rows.append(("http: p99 latency ms, leader / follower / bare", p99, "-", "n/a"))
    if all("cpu_us" in runs[k] for k in runs):
        cpu = " / ".join(f"{runs[k]['cpu_us']:.0f}" for k in ("leader", "follower", "bare"))
        rows.append(("http: server CPU µs per request, leader / follower / bare", cpu, "-", "n/a"))
    return rows


def idle_cpu() -> list[Row]:
    with _process(_serve(5, 1.0)) as serve:
        _banner(serve)
        time.sleep(IDLE_SETTLE)
        start = _cpu_seconds(serve.pid)
        began = time.perf_counter()
        time.sleep(IDLE_SPAN)
        end = _cpu_seconds(serve.pid)
        wall = time.perf_counter() - began
    figure = "http: idle paced 5-server cluster (speed 1.0), CPU of one core"
    if start is None or end is None:
        return [(figure, "no /proc here", f"<= {GOAL_IDLE_CPU:g}%", "?")]
    percent = (end - start) / wall * 100
    met = "yes" if percent <= GOAL_IDLE_CPU else "NO"
    return [(figure, f"{percent:.2f}%", f"<= {GOAL_IDLE_CPU:g}%", met)]


def run() -> list[Row]:
    """Every figure of this file, as (figure, value, goal, met) rows."""
    return throughput() + idle_cpu()


# ------------------------------------------------------------ the child programs


async def _generate(url: str) -> dict[str, float]:
    import aiohttp  # noqa: PLC0415 (the load generator's process only)

    latencies: list[float] = []
    counting = False
    stop = False

    async def worker(session: aiohttp.ClientSession) -> None:
        while not stop:
            began = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
                assert response.status == 200
            if counting:
                latencies.append(time.perf_counter() - began)

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(worker(session)) for _ in range(CONCURRENCY)]
        await asyncio.sleep(WARMUP)
        counting = True
        began = time.perf_counter()
        await asyncio.sleep(SECONDS)
        counting = False
        elapsed = time.perf_counter() - began
        stop = True
        await asyncio.gather(*tasks)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0.0
    return {"rps": len(latencies) / elapsed, "p99_ms": p99 * 1000, "requests": len(latencies)}


async def _bare(body_file: str) -> None:
    from aiohttp import web  # noqa: PLC0415 (the baseline's process only)

    data = json.loads(Path(body_file).read_text())

    async def handler(request: web.Request) -> web.Response:
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        return web.Response(body=body, headers={"Content-Type": "application/json"})

    app = web.Application()
    app.router.add_get(PATH, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"http://127.0.0.1:{site.port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http", description=__doc__)
    parser.add_argument("--load", metavar="URL", help="(internal) be the load generator")
    parser.add_argument("--bare", metavar="BODY", help="(internal) be the bare handler")
    args = parser.parse_args()
    if args.load:
        print(json.dumps(asyncio.run(_generate(args.load))))
    elif args.bare:
        asyncio.run(_bare(args.bare))
    else:
        for row in run():
            print(" | ".join(row))


if __name__ == "__main__":
    main()
