"""The simulation-control surface under /v1/sim/ (ring 2), a prefix Nomad does not use.

JSON in, JSON out. Every action validates all of its input before touching the cluster, so
bad input changes nothing: a handler raises `BadInput`, which the error handling
(`errors`) answers with a 400 `{"error": "..."}`; an action answers with the new state (as
GET /v1/sim/state). Every action reads its body through `body`, which caps it at
`MAX_BODY` however it is sent (413) and refuses JSON nested deeper than `MAX_DEPTH` (400);
who may call at all is `guard`'s business, checked before a handler runs. Each endpoint is
a row of the routes table (`routes.TABLE`), so that pause, resume, network conditions,
add-server, reset and the event stream slot in later.

    GET  /v1/sim/state                      every server, the network, the clock
    GET  /v1/sim/openapi.json               the OpenAPI document of the whole HTTP surface
    POST /v1/sim/servers                    {"join": true}: a new, empty server
    POST /v1/sim/servers/{name}/crash       kill the process (its HTTP listener stops too)
    POST /v1/sim/servers/{name}/restart     start it again from its durable state;
                                            {"address": "IP:port"}: at a new Raft address
    POST /v1/sim/servers/{name}/leave       graceful leave (Nomad Server.Leave), then exit
    POST /v1/sim/servers/{name}/pause       freeze the process (its listener stays open)
    POST /v1/sim/servers/{name}/resume      thaw it: what it held runs now
    POST /v1/sim/cut                        {"from": "alice", "to": "bob"}: a one-way cut
    POST /v1/sim/network                    {"latency": "1ms-5ms", "loss": 0.01, ...}
    GET  /v1/sim/trace?since=T              the recorded events from T (µs) on, JSON lines
    GET  /v1/sim/events                     the events live: Server-Sent Events (feed.py)
    POST /v1/sim/partition                  {"groups": [["alice"], ["bob", "carol"]]}
    POST /v1/sim/heal                       remove every partition and cut
    GET  /v1/sim/clock                      {"mode", "speed", "now_us", "anchor" when paced}
    POST /v1/sim/clock                      {"mode": "paced|paused|autojump|demand", "speed": 1.0}
    POST /v1/sim/clock/advance              {"by": "10s"} or {"events": 100}
    POST /v1/sim/acl/tokens                 {"name": "ops", "rules": {"operator": "read"}}:
                                            a client ACL token (serve --acl)
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from aiohttp import web

from ..core.errors import RaftsimError
from ..nomad.acl import check_rules
from ..nomad.endpoints import Hold
from ..sim.cluster import DOWN, UP
from ..sim.datadir import StartError
from ..sim.render import event_json
from ..sim.timeparse import duration
from .simulation import HeldTooLong, Simulation

MAX_ADVANCE = 3_600_000_000  # µs: one hour of virtual time per call
MAX_EVENTS = 10_000_000
MAX_BODY = 64 * 1024
MAX_SERVERS = 250  # as `raftsim serve --servers` (127.0.0.N addresses)
# The deepest body an endpoint takes is {"groups": [["alice"]]}, 3 levels; json.loads
# recurses per level and a 64 KiB body can nest 32,000 deep, past Python's recursion limit.
MAX_DEPTH = 16
MAX_TOKENS = 1000  # client ACL tokens a run may make (each is kept, and replayed)
MAX_TOKEN_NAME = 256  # structs.ACLToken.Validate: maxTokenNameLength
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class BadInput(Exception):
    """Invalid control input (or an action the cluster refuses): it changes nothing."""


class Refused(Exception):
    """A control request refused before it is looked at (see `guard`): its `status` is
    401, 403, 413 or 415; it changes nothing."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class NoSuchEndpoint(Exception):
    """No control endpoint has this path."""


class WrongMethod(Exception):
    """Control endpoints have this path, but not for this method; `allowed` are theirs."""

    def __init__(self, message: str, allowed: list[str]) -> None:
        super().__init__(message)
        self.allowed = allowed


def reply(obj: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(obj).encode(),
        headers={"Content-Type": "application/json"},
    )


def problem(status: int, message: str) -> web.Response:
    """The control surface's error answer (the error handling writes these)."""
    return reply({"error": message}, status)


async def body(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    """The JSON object in the body ({} when empty); unknown fields are refused."""
    raw = await _read(request)
    if not raw.strip():
        return {}
    if _too_deep(raw):
        raise BadInput(f"the body nests arrays and objects more than {MAX_DEPTH} deep")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadInput(f"the body is not valid JSON: {error}") from None
    except RecursionError:  # (_too_deep should have caught it first)
        raise BadInput("the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        fields = ", ".join(sorted(allowed))
        raise BadInput(f"unknown field(s): {', '.join(unknown)} (allowed: {fields})")
    return data


async def _read(request: web.Request) -> bytes:
    """At most MAX_BODY bytes of the body, whether its length was declared or it came
    chunked (aiohttp's own `client_max_size` is 1 MiB and its refusal is an exception)."""
    too_large = Refused(413, f"the body is larger than {MAX_BODY} bytes")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(MAX_BODY + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large  # the rest is left unread: aiohttp discards it or closes
    return b"".join(chunks)


def _too_deep(raw: bytes) -> bool:
    """Does the body nest arrays and objects deeper than MAX_DEPTH (brackets inside
    strings not counted)? Decided before json.loads would recurse that deep."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False
    depth = 0
    for c in _STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS):
        depth += 1 if c in b"[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


@contextmanager
def refused() -> Iterator[None]:
    """The cluster refusing an action (crash a server that is down) is bad input too."""
    try:
        yield
    except HeldTooLong:
        raise  # not a refusal: the clock did not move it (a 504)
    except RaftsimError as error:
        raise BadInput(str(error)) from None


def raft_address(value: object) -> str:
    """A Raft address as `IP:port`: a dotted IPv4 address and a port from 1 to 65535."""
    text = value if isinstance(value, str) else ""
    host, _, port = text.rpartition(":")
    parts = host.split(".")
    valid = (
        len(parts) == 4
        and all(p.isascii() and p.isdigit() and len(p) <= 3 and int(p) < 256 for p in parts)
        and port.isascii()
        and port.isdigit()
        and len(port) <= 5
        and 0 < int(port) <= 65535
    )
    if not valid:
        raise BadInput(
            f'"address" is a Raft address IP:port such as "127.0.0.9:4647", got {value!r}'
        )
    return text


def known_server(sim: Simulation, name: str) -> str:
    if name not in sim.cluster.servers:
        known = ", ".join(sim.cluster.servers)
        raise BadInput(f"unknown server {name!r} (servers: {known})")
    return name


class Control:
    """Handlers bound to one simulation and a hook to wait for listeners to follow."""

    def __init__(self, sim: Simulation, settle: Callable[[], Awaitable[None]]) -> None:
        self.sim = sim
        self.settle = settle
        self.lessons: Any = None  # teaching.Lessons, made on first use

    async def state(self, request: web.Request, _: dict[str, str]) -> web.Response:
        self.sim.driver.sync()
        return reply(self.sim.state())

    async def openapi(self, request: web.Request, _: dict[str, str]) -> web.Response:
        text = resources.files("raftsim.web").joinpath("openapi.json").read_bytes()
        return web.Response(body=text, headers={"Content-Type": "application/json"})

    async def act(self, action: str, *args: Any) -> web.Response:
        """Apply and record an input (Simulation.act); answer with the new state."""
        with refused():
            self.sim.act(action, *args)
        await self.settle()
        self.sim.driver.kick()
        return reply(self.sim.state())

    async def crash(self, request: web.Request, match: dict[str, str]) -> web.Response:
        name = known_server(self.sim, match["name"])
        await body(request, set())
        return await self.act("crash", name)

    async def restart(self, request: web.Request, match: dict[str, str]) -> web.Response:
        """Start a down server again. Nomad opens its Raft directory first (peers.info,
        peers.json, sim/datadir.py): when that fails the server stays down and the answer
        is a 500 with Nomad's error, the state unchanged but for what the start did to the
        files (peers.info written, a recovery done before a failed delete)."""
        name = known_server(self.sim, match["name"])
        data = await body(request, {"address"})
        address = None
        if "address" in data:
            address = raft_address(data["address"])
        cluster = self.sim.cluster
        if cluster.servers[name].status != DOWN:
            raise BadInput(f"{name} is not down")
        if address is not None:
            for other in cluster.servers.values():
                if other.name != name and address in (other.address, other.id):
                    raise BadInput(f"{address} is {other.name}'s address")
        failure: StartError | None = None
        with refused():
            try:
                # (A failed start is not recorded for replay: it changed no Raft state.)
                self.sim.act("restart", name, address, self.sim.raft_files(name))
            except StartError as error:
                failure = error
        await self.settle()
        self.sim.driver.kick()
        if failure is not None:
            return reply({"error": f"{name} did not start: {failure}", "server": name}, 500)
        return reply(self.sim.state())

    async def acl_token(self, request: web.Request, _: dict[str, str]) -> web.Response:
        """A client ACL token with one policy's rules, for rehearsing the 403s a token
        without the rights gets (Nomad's own /v1/acl/ endpoints are not served): the
        token's IDs and secret, to send as X-Nomad-Token."""
        data = await body(request, {"name", "rules"})
        acl = self.sim.nomad.acl
        if not acl.enabled:
            raise BadInput("ACLs are not enabled (raftsim serve --acl, Nomad 0.8.7 or 1.2.13)")
        name = data.get("name", "")
        if not isinstance(name, str) or len(name) > MAX_TOKEN_NAME:
            raise BadInput(f'"name" is a string of at most {MAX_TOKEN_NAME} characters')
        if "rules" not in data:
            raise BadInput('"rules" is required, e.g. {"operator": "read", "node": "read"}')
        try:
            rules = check_rules(data["rules"])
        except ValueError as error:
            raise BadInput(f'"rules": {error}') from None
        if len(acl.tokens) > MAX_TOKENS:
            raise BadInput(f"a run makes at most {MAX_TOKENS} client tokens")
        with refused():
            self.sim.act("acl_token", name, rules)
        token = list(acl.tokens.values())[-1]
        return reply(
            {
                "accessor_id": token.accessor_id,
                "secret_id": token.secret_id,
                "name": token.name,
                "type": token.type,
                "rules": dict(token.rules),
            }
        )

    async def add_server(self, request: web.Request, _: dict[str, str]) -> web.Response:
        """A new server with an empty data directory and its own HTTP listener; it joins
        the others at once (retry_join), or with {"join": false} waits to be joined
        (PUT /v1/agent/join). The leader's reconcile then adds it to Raft."""
        data = await body(request, {"join"})
        join = data.get("join", True)
        if not isinstance(join, bool):
            raise BadInput(f'"join" is true or false, got {join!r}')
        if len(self.sim.cluster.servers) >= MAX_SERVERS:
            raise BadInput(f"a simulation has at most {MAX_SERVERS} servers")
        with refused():
            self.sim.act("add_server", join)
        self.sim.place(list(self.sim.cluster.servers)[-1])
        await self.settle()
        self.sim.driver.kick()
        return reply(self.sim.state())

    async def pause(self, request: web.Request, match: dict[str, str]) -> web.Response:
        name = known_server(self.sim, match["name"])
        await body(request, set())
        return await self.act("pause", name)

    async def resume(self, request: web.Request, match: dict[str, str]) -> web.Response:
        name = known_server(self.sim, match["name"])
        await body(request, set())
        return await self.act("resume", name)

    async def leave(self, request: web.Request, match: dict[str, str]) -> web.Response:
        name = known_server(self.sim, match["name"])
        await body(request, set())
        cluster, nomad = self.sim.cluster, self.sim.nomad
        if name in nomad.leaving:
            raise BadInput(f"{name} is already leaving")
        if cluster.servers[name].status != UP:
            raise BadInput(f"{name} is not running")
        # A graceful leave starts at once and cannot be taken back: a 504 says so.
        hold = Hold()
        hold.reached = f"begun ({name} is leaving)"
        with refused():
            await self.sim.request("leave", name, hold=hold)
        await self.settle()
        return reply(self.sim.state())

    async def partition(self, request: web.Request, _: dict[str, str]) -> web.Response:
        data = await body(request, {"groups"})
        groups = data.get("groups")
        if not isinstance(groups, list) or not groups:
            raise BadInput('"groups" must be a non-empty list of lists of server names')
        seen: set[str] = set()
        for group in groups:
            if not isinstance(group, list) or not group:
                raise BadInput("each group must be a non-empty list of server names")
            for name in group:
                if not isinstance(name, str):
                    raise BadInput(f"server names are strings, got {name!r}")
                known_server(self.sim, name)
                if name in seen:
                    raise BadInput(f"{name} is in more than one group")
                seen.add(name)
        # The new partition replaces any earlier partition or cut.
        return await self.act("partition", [list(group) for group in groups])

    async def cut(self, request: web.Request, _: dict[str, str]) -> web.Response:
        """A one-way cut, added to any partition or cut already there (scenario `cut`)."""
        data = await body(request, {"from", "to"})
        ends = [data.get("from"), data.get("to")]
        if not all(isinstance(end, str) for end in ends):
            raise BadInput('"from" and "to" must be server names: {"from": "alice", "to": "bob"}')
        src, dst = (known_server(self.sim, str(end)) for end in ends)
        if src == dst:
            raise BadInput(f"a cut joins two servers, got {src} twice")
        return await self.act("cut", src, dst)

    async def network(self, request: web.Request, _: dict[str, str]) -> web.Response:
        """Link conditions, as the scenario command `network` sets them: of every link, or
        with "from" and "to" of that one direction only; unchanged fields keep theirs."""
        data = await body(request, {"latency", "loss", "duplicate", "reorder", "from", "to"})
        latency = None
        if "latency" in data:
            text = data["latency"]
            if not isinstance(text, str) or not text:
                raise BadInput(f'"latency" is a range such as "1ms-5ms" or one value, got {text!r}')
            low, _dash, high = text.partition("-")
            try:
                latency = (duration(low), duration(high or low))
            except ValueError as error:
                raise BadInput(f'"latency": {error}') from None
        rates: dict[str, float | None] = {}
        for key in ("loss", "duplicate"):
            value = data.get(key)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if value is not None and not number:
                raise BadInput(f'"{key}" is a probability from 0 to 1, got {value!r}')
            rates[key] = None if value is None else float(value)
        reorder = data.get("reorder")
        if reorder is not None and not isinstance(reorder, bool):
            raise BadInput(f'"reorder" is true or false, got {reorder!r}')
        link = None
        if "from" in data or "to" in data:
            ends = [data.get("from"), data.get("to")]
            if not all(isinstance(end, str) for end in ends):
                raise BadInput('"from" and "to" go together, both server names')
            src, dst = (known_server(self.sim, str(end)) for end in ends)
            if src == dst:
                raise BadInput(f"a link joins two servers, got {src} twice")
            link = (src, dst)
        if latency is None and reorder is None and all(v is None for v in rates.values()):
            raise BadInput('give at least one of "latency", "loss", "duplicate", "reorder"')
        try:
            loss, duplicate = rates["loss"], rates["duplicate"]
            return await self.act("network", latency, loss, duplicate, reorder, link)
        except ValueError as error:  # LinkConditions refuses before anything changes
            raise BadInput(str(error)) from None

    async def events(self, request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        """The events live, as Server-Sent Events (feed.py), resumable with Last-Event-ID."""
        return await self.sim.feed.stream(request)

    async def trace(self, request: web.Request, _: dict[str, str]) -> web.Response:
        """The recorded events from virtual time `since` (µs, default 0) on, as JSON lines
        (the JSON form documented in docs/events.md)."""
        since_text = request.query.get("since", "0")
        if not since_text.isascii() or not since_text.isdigit():
            raise BadInput(f'"since" is a virtual time in whole microseconds, got {since_text!r}')
        self.sim.driver.sync()
        cluster = self.sim.cluster
        records = cluster.records
        # (A bounded trace's `dropped` record carries the time of the first event it kept:
        # it comes first exactly when `since` reaches back to what was dropped.)
        start = bisect_left(records, int(since_text), key=lambda event: event.time)
        text = "".join(
            json.dumps(event_json(event, cluster.names), sort_keys=True) + "\n"
            for event in records[start:]
        )
        return web.Response(body=text.encode(), headers={"Content-Type": "application/x-ndjson"})

    async def heal(self, request: web.Request, _: dict[str, str]) -> web.Response:
        await body(request, set())
        return await self.act("heal")

    async def clock(self, request: web.Request, _: dict[str, str]) -> web.Response:
        if request.method == "GET":
            return reply(self.sim.driver.state())
        data = await body(request, {"mode", "speed"})
        driver = self.sim.driver
        try:
            driver.set_mode(data.get("mode", driver.mode), data.get("speed"))
        except ValueError as error:
            raise BadInput(str(error)) from None
        return reply(driver.state())

    async def advance(self, request: web.Request, _: dict[str, str]) -> web.Response:
        data = await body(request, {"by", "events"})
        if ("by" in data) == ("events" in data):
            raise BadInput('give exactly one of "by" (a duration such as "10s") or "events"')
        span = events = 0
        if "by" in data:
            by = data["by"]
            if not isinstance(by, str | int) or isinstance(by, bool):
                raise BadInput(f'"by" must be a duration such as "1.5s", got {by!r}')
            try:
                span = duration(by)
            except ValueError as error:
                raise BadInput(str(error)) from None
            if span > MAX_ADVANCE:
                raise BadInput(f'"by" is at most 1h per call, got {by!r}')
        else:
            count = data["events"]
            if not isinstance(count, int) or isinstance(count, bool) or not 0 < count <= MAX_EVENTS:
                raise BadInput(f'"events" must be an integer from 1 to {MAX_EVENTS}, got {count!r}')
            events = count
        await self.sim.driver.advance(span, events)
        return reply(self.sim.state())
