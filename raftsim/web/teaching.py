"""What the live page drives besides the rehearsal controls (ring 2): time-outs, client
commands, stepping to the next interesting event, the time slider (replay), reset, asking a
server's own Nomad API, and lessons (a scenario file played command by command).

    POST /v1/sim/servers/{name}/timeout     its election timer expires now
    POST /v1/sim/servers/{name}/http        {"method": "GET", "path": "/v1/status/leader"}:
                                            the request sent to that server's own HTTP API;
                                            answers {"status", "body", "content_type"}
    POST /v1/sim/propose                    {"data": "job-1"}: a client command via the leader
    POST /v1/sim/step                       {"until": "event|election|commit|membership"}
    POST /v1/sim/replay                     {"time_us": T}: the run again, paused at T
    POST /v1/sim/reset                      {"seed": S}: start over (same seed if none)
    GET  /v1/sim/lessons                    the scenario files the page can play
    POST /v1/sim/lessons/{name}             start that lesson (its cluster, no command run)
    POST /v1/sim/lesson/step                run the lesson's next command
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from ..core.errors import RaftsimError
from ..core.events import CommitAdvanced, ConfigurationChanged, Event, RoleChanged
from ..core.timing import SECOND
from ..core.types import Role
from ..nomad.endpoints import Hold
from ..scenario.runner import Runner
from ..scenario.transcript import ArgError, Block, ScenarioError, parse
from ..sim.cluster import Cluster
from ..sim.render import event_json
from .captions import caption
from .control import BadInput, Control, body, known_server, refused, reply
from .state import cluster_state

STEP_WITHIN = 60 * SECOND  # how far "the next interesting event" is looked for
ASK_TIMEOUT = 60.0  # s of wall time a request through a server's API may take (a paused
# clock holds a request without limit: the page says so instead of hanging)
ASK_METHODS = ("GET", "PUT", "POST", "DELETE")
MAX_SEED = 2**63 - 1


def _interesting(until: str, event: Event) -> bool:
    """Does this event end a step to the next `until`?"""
    if until == "election":
        return isinstance(event, RoleChanged) and event.role is Role.LEADER
    if until == "commit":
        return isinstance(event, CommitAdvanced) and event.leader
    if until == "membership":
        return isinstance(event, ConfigurationChanged)
    return not event.message_level  # "state": any change of state


async def timeout(control: Control, request: web.Request, match: dict[str, str]) -> web.Response:
    name = known_server(control.sim, match["name"])
    await body(request, set())
    return await control.act("timeout", name)


async def propose(control: Control, request: web.Request, _: dict[str, str]) -> web.Response:
    """A client command, applied through the leader's Raft log; answers once committed."""
    data = (await body(request, {"data"})).get("data")
    if not isinstance(data, str) or not data or len(data) > 256:
        raise BadInput('"data" is the command, a string of 1 to 256 characters')
    # It is in the leader's log once the request starts: a 504 (hold limit) says so.
    hold = Hold()
    hold.reached = "appended to the leader's Raft log"
    with refused():
        result, error = await control.sim.request("propose", data, hold=hold)
    if error is not None:
        raise BadInput(str(error))
    return reply({"result": result, "state": control.sim.state()})


async def step(control: Control, request: web.Request, _: dict[str, str]) -> web.Response:
    """One event of the scheduler ("event"), or on to the next leader elected, leader commit
    or configuration change (within a minute of virtual time), or state change ("state")."""
    until = (await body(request, {"until"})).get("until", "event")
    kinds = ("event", "state", "election", "commit", "membership")
    if until not in kinds:
        raise BadInput(f'"until" is one of {", ".join(kinds)}, got {until!r}')
    sim = control.sim
    if sim.driver.advancing:
        raise BadInput("the clock is advancing (POST /v1/sim/clock/advance): try again")
    if until == "event":
        await sim.driver.advance(events=1)
        return reply(sim.state())
    sim.driver.sync()
    hits: list[Event] = []

    def watch(event: Event) -> None:
        if not hits and _interesting(until, event):
            hits.append(event)

    cluster = sim.cluster
    cluster.listeners.append(watch)
    try:
        cluster.run_until(lambda _: bool(hits), STEP_WITHIN)
    finally:
        cluster.listeners.remove(watch)
    sim.driver.retarget(cluster.sched, sim.driver.mode)
    await control.settle()
    out = sim.state()
    out["reached"] = bool(hits)
    return reply(out)


async def replay(control: Control, request: web.Request, _: dict[str, str]) -> web.Response:
    """The time slider: the same run, rebuilt from its seed and recorded inputs up to T."""
    data = await body(request, {"time_us"})
    until = data.get("time_us")
    if not isinstance(until, int) or isinstance(until, bool) or until < 0:
        raise BadInput('"time_us" is a virtual time in whole microseconds')
    with refused():
        control.sim.replay(until)
    await control.settle()
    return reply(control.sim.state())


async def reset(control: Control, request: web.Request, _: dict[str, str]) -> web.Response:
    data = await body(request, {"seed"})
    seed = data.get("seed", control.sim.options.seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise BadInput(f'"seed" is an integer from 0 to {MAX_SEED}, got {seed!r}')
    with refused():
        control.sim.reset(seed)
    await control.settle()
    return reply(control.sim.state())


async def ask(control: Control, request: web.Request, match: dict[str, str]) -> web.Response:
    """Send a request to server `name`'s own Nomad HTTP API, over its real listener, and
    hand back the raw answer: the page shows what a client of that server would see."""
    name = known_server(control.sim, match["name"])
    data = await body(request, {"method", "path", "token"})
    method, path = data.get("method", "GET"), data.get("path")
    token = data.get("token", "")
    # (An HTTP header value: visible ASCII; with --acl the page may ask as a token holder.)
    if not isinstance(token, str) or not all("!" <= c <= "~" for c in token):
        raise BadInput('"token" is an ACL secret: visible ASCII characters without spaces')
    headers = {"X-Nomad-Token": token} if token else {}
    if method not in ASK_METHODS:
        raise BadInput(f'"method" is one of {", ".join(ASK_METHODS)}, got {method!r}')
    if not isinstance(path, str) or not path.startswith("/v1/") or path.startswith("/v1/sim"):
        raise BadInput('"path" is a Nomad API path such as "/v1/status/leader"')
    base = control.sim.http.get(name)
    if not base:
        raise BadInput(f"{name} has no HTTP listener")
    timeout = aiohttp.ClientTimeout(total=ASK_TIMEOUT)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(method, base + path, headers=headers, allow_redirects=False) as answer,
        ):
            text = await answer.text(errors="replace")
            return reply(
                {
                    "server": name,
                    "url": base + path,
                    "status": answer.status,
                    "content_type": answer.headers.get("Content-Type", ""),
                    "body": text,
                }
            )
    except (TimeoutError, aiohttp.ClientError, OSError) as error:
        if isinstance(error, TimeoutError):
            what = f"no answer within {ASK_TIMEOUT:g} s"
        elif isinstance(error, aiohttp.ClientConnectorError):
            what = f"connection refused: nothing listens at {base.removeprefix('http://')}"
        elif isinstance(error, aiohttp.ServerDisconnectedError):
            what = "the connection closed without an answer (the server went down)"
        else:
            what = str(error)
        return reply({"server": name, "url": base + path, "status": None, "error": what})


# ------------------------------------------------------------------ lessons


def lesson_dir(given: str) -> Path:
    """Where the lessons are: the directory given, else the scenario library next to the
    package (a source checkout)."""
    if given:
        return Path(given)
    return Path(__file__).resolve().parents[2] / "scenarios"


@dataclass
class Lesson:
    """A scenario file being played: its blocks, the next one, and the runner."""

    name: str
    blocks: list[Block]
    runner: Runner
    next: int = 0
    watched: Cluster | None = None
    # State-level events since the last step, each captioned as it happened.
    happened: list[dict[str, Any]] = field(default_factory=list)

    def watch(self, cluster: Cluster) -> None:
        """Caption the events of the lesson's cluster (a new one after a `cluster` line)."""
        if cluster is self.watched:
            return
        self.watched = cluster
        self.happened = _events(cluster)  # what its construction did

        def note(event: Event) -> None:
            if not event.message_level:
                item = event_json(event, cluster.names)
                item["caption"] = caption(event, cluster)
                self.happened.append(item)

        cluster.listeners.append(note)


class Lessons:
    """The lesson the page plays (one at a time, beside the served cluster)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.current: Lesson | None = None

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("*.txt")) if self.directory.is_dir() else []

    def listing(self) -> list[dict[str, object]]:
        out = []
        for path in self.files():
            blocks = parse(path.read_text(), str(path))
            title = next((b.comments[0] for b in blocks if b.comments), path.stem)
            out.append(
                {
                    "name": path.stem,
                    "title": title.lstrip("# "),
                    "commands": sum(1 for b in blocks if b.command),
                }
            )
        return out

    def start(self, name: str) -> dict[str, object]:
        path = next((p for p in self.files() if p.stem == name), None)
        if path is None:
            known = ", ".join(p.stem for p in self.files())
            raise BadInput(f"no lesson {name!r} (lessons: {known or 'none'})")
        try:
            blocks = parse(path.read_text(), str(path))
        except ScenarioError as error:
            raise BadInput(str(error)) from None
        self.current = Lesson(name, blocks, Runner())
        return self.step()  # the first block: its cluster line and the lesson's introduction

    def step(self) -> dict[str, object]:
        """Run the next block's command; its comments are the caption."""
        lesson = self.current
        if lesson is None:
            raise BadInput("no lesson started: POST /v1/sim/lessons/{name} first")
        if lesson.next >= len(lesson.blocks):
            raise BadInput(f"the lesson {lesson.name} is over")
        runner = lesson.runner
        lesson.happened = []
        comments: list[str] = []
        lines: list[str] = []
        command = ""
        # A comment-only paragraph goes with the command after it; so does the `cluster`
        # line with the lesson's introduction (there is nothing to show before it).
        while lesson.next < len(lesson.blocks):
            block = lesson.blocks[lesson.next]
            lesson.next += 1
            comments += [c.lstrip("#").strip() for c in block.comments]
            if not block.command:
                continue
            command = block.command
            try:
                lines = runner.execute(command)
            except (ArgError, RaftsimError) as error:
                raise BadInput(f"{lesson.name}:{block.line}: {error}") from None
            if runner.started:
                break
        if not runner.started:
            raise BadInput(f"the lesson {lesson.name} makes no cluster")
        cluster = runner.cluster
        lesson.watch(cluster)
        return {
            "lesson": lesson.name,
            "step": lesson.next,
            "steps": len(lesson.blocks),
            "done": lesson.next >= len(lesson.blocks),
            "comments": comments,
            "command": command,
            "output": lines,
            "events": lesson.happened[-500:],
            "state": cluster_state(cluster),
        }


def _events(cluster: Cluster) -> list[dict[str, Any]]:
    """The state-level events a new cluster recorded while it was built, captioned."""
    out = []
    for event in cluster.records:
        if not event.message_level:
            item = event_json(event, cluster.names)
            item["caption"] = caption(event, cluster)
            out.append(item)
    return out


def _lessons(control: Control) -> Lessons:
    if control.lessons is None:
        control.lessons = Lessons(lesson_dir(control.sim.options.lessons))
    lessons: Lessons = control.lessons
    return lessons


async def lessons(control: Control, request: web.Request, _: dict[str, str]) -> web.Response:
    return reply({"lessons": _lessons(control).listing()})


async def lesson_start(
    control: Control, request: web.Request, match: dict[str, str]
) -> web.Response:
    await body(request, set())
    return reply(_lessons(control).start(match["name"]))


async def lesson_step(control: Control, request: web.Request, _: dict[str, str]) -> web.Response:
    await body(request, set())
    return reply(_lessons(control).step())
