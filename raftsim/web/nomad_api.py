"""Nomad's HTTP endpoints as a Nomad agent serves them (ring 2): spec nomad-api.md §1 and
§2.1, 2.2, 2.6-2.9, after `command/agent/http.go`, `operator_endpoint.go`,
`status_endpoint.go` and `agent_endpoint.go` at v0.5.5/v0.5.6, v0.8.7 and v1.2.13; where
those differ the simulation's `NomadVersion` says which way to go.

Thin handlers: parse the request as Go would (`gocompat`), call the server's Nomad layer,
write the answer as Nomad's `wrap` does: JSON in struct field order, an empty 200 for a
handler that returns nothing; no X-Nomad-* headers (these endpoints never call setMeta). An
error is raised as a `NomadError` and answered, as `wrap` answers it, by the error handling
(`errors`). Which path and method reach which handler is the routes table's (`routes`): Go's
ServeMux and OperatorRequest's prefix matching, with path cleaning and 301 redirects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape

from aiohttp import web

from ..core.errors import RaftsimError
from ..nomad.acl import PERMISSION_DENIED, TOKEN_NOT_FOUND
from ..nomad.endpoints import JSON, Hold, Request
from ..nomad.errors import MISSING_NODE, Kind, NomadError, ServerGoneError
from .goaddr import addr_port_error, uuid_error
from .gocompat import first, parse_bool, parse_duration, parse_int, parse_uint
from .simulation import Simulation

INVALID_METHOD = "Invalid method"  # ErrInvalidMethod
MISSING_ADDRESS = "Must specify ?address with IP:port of peer to remove"  # 0.5.5-0.7.x
# spec §2.2, 0.8.0-1.10.0: exactly one of `id` and `address`.
MISSING_ID_OR_ADDRESS = (
    "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove"
)
BOTH_ID_AND_ADDRESS = "Must specify only one of ?id or ?address"
# spec §2.2, 1.10.1+: `?id=` only.
ADDRESS_REFUSED = "Removing a peer by address is not supported in the current raft protocol version"
MISSING_ID = "Must specify the peer's ID to remove"
MISSING_JOIN = "missing address to join"
# spec §1 steps 3 and 4 (1.8+).
STALE_NOT_BOOL = "Expect `true` or `false` for `stale` query string parameter"
PER_PAGE_NOT_NUMBER = "Expect a number for `per_page` query string parameter"
TEXT = "text/plain; charset=utf-8"
# json.dumps with these options builds an encoder per call: one, shared, costs less.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_PRETTY = json.JSONEncoder(indent=4, ensure_ascii=False).encode


@dataclass
class Context:
    request: web.Request
    sim: Simulation
    server: str
    query: dict[str, list[str]]

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def region(self) -> str:
        """parseRegion: `?region=` when non-empty, else the agent's region (spec §1)."""
        return first(self.query, "region") or self.sim.nomad.region

    @property
    def token(self) -> str:
        """parseToken (spec §1 step 2): the `X-Nomad-Token` header, "" without one; Go's
        header parsing has trimmed spaces and tabs around it. From 1.4, without that header,
        `Authorization: Bearer <token>` (the scheme in any case, the first word after it).
        0.5.x reads no token at all."""
        version = self.sim.nomad.version
        if not version.acls:
            return ""
        token = self.request.headers.get("X-Nomad-Token", "").strip(" \t")
        if token or not version.bearer_token:
            return token
        # "<Scheme> <Value>", split at single spaces; the value's first word (rfc6750).
        parts = self.request.headers.get("Authorization", "").strip(" \t").split(" ")
        if len(parts) < 2 or parts[0].lower() != "bearer":
            return ""
        return " ".join(parts[1:]).strip().split(" ")[0].strip()

    @property
    def pretty(self) -> bool:
        values = self.query.get("pretty")
        return values is not None and (values[0] == "" or values[0] != "0")


# ------------------------------------------------------------ responses


def text(status: int, body: str) -> web.Response:
    """An error as Nomad writes it: the status, then the bare text (no newline)."""
    return web.Response(
        status=status, body=body.encode("utf-8", "surrogateescape"), headers={"Content-Type": TEXT}
    )


def empty(status: int = 200) -> web.Response:
    """A handler that wrote nothing: no body and no Content-Type."""
    return web.Response(status=status)


def encode(obj: JSON, pretty: bool) -> web.Response:
    """Nomad's JSON: compact, or 4-space indented with a trailing newline for ?pretty."""
    body = _PRETTY(obj) + "\n" if pretty else _COMPACT(obj)
    return web.Response(
        body=body.encode("utf-8", "surrogateescape"),
        headers={"Content-Type": "application/json"},
    )


def not_found() -> web.Response:
    """net/http's NotFound, which ServeMux answers for an unregistered path."""
    return text(404, "404 page not found\n")


def redirect(request: web.Request, path: str) -> web.Response:
    """ServeMux's 301 to a cleaned path (with the query), with Go's note for GET."""
    raw_query = request.rel_url.raw_query_string
    location = path + ("?" + raw_query if raw_query else "")
    headers = {"Location": location}
    if request.method != "GET":
        return web.Response(status=301, headers=headers)
    note = f'<a href="{escape(location)}">Moved Permanently</a>.\n\n'
    headers["Content-Type"] = "text/html; charset=utf-8"
    return web.Response(status=301, body=note.encode(), headers=headers)


def answer(ctx: Context, result: JSON, error: RaftsimError | None) -> web.Response:
    """Nomad's `wrap`: nil → empty 200, else JSON; an error is raised for `errors` to answer."""
    if isinstance(error, NomadError) and error.kind is Kind.INTERNAL and ctx.sim.nomad.version.acls:
        # wrap (0.7+): an uncoded error is an ACL refusal by its suffix, whoever prefixed it.
        for refusal in (PERMISSION_DENIED, TOKEN_NOT_FOUND):
            if error.text.endswith(refusal):
                raise NomadError(refusal, Kind.FORBIDDEN) from error
    if isinstance(error, NomadError | ServerGoneError):
        raise error
    if error is not None:
        # Any other error the server answered is still its answer: wrap gives it a 500 with
        # its text. Errors raised here rather than answered stay unexpected (aiohttp's 500).
        raise NomadError(str(error)) from error
    if result is None:
        return empty()
    return encode(result, ctx.pretty)


def parse_wait(ctx: Context) -> None:
    """parseWait: a bad `wait` or `index` ends the request with a 400 (spec §1 step 5);
    good values are ignored: none of these endpoints blocks (open question 4 is moot)."""
    wait = first(ctx.query, "wait")
    if wait and parse_duration(wait) is None:
        raise NomadError("Invalid wait time", Kind.BAD_REQUEST)
    index = first(ctx.query, "index")
    if index and parse_uint(index) is None:
        raise NomadError("Invalid index", Kind.BAD_REQUEST)


def parse_read(ctx: Context) -> bool:
    """`s.parse` for a read, in its order (spec §1 steps 3-5): consistency, pagination,
    then wait and index; the answer is whether a stale read is allowed.

    Before 1.5 the `stale` key's mere presence allows one, so python-nomad's `?stale=False`
    is a stale read too (spec §6). From 1.5 the value is a Go bool, an empty value meaning
    stale; 1.8 made a value that is no bool end the request with a 400 (1.5-1.7 wrote the
    400 and went on, a bug no emulated release has)."""
    version = ctx.sim.nomad.version
    query = ctx.query
    allow_stale = "stale" in query
    if allow_stale and not version.stale_by_presence:
        value = query["stale"][0]
        if value:
            parsed = parse_bool(value)
            if parsed is None:
                raise NomadError(STALE_NOT_BOOL, Kind.BAD_REQUEST)
            allow_stale = parsed
    if version.per_page_checked:
        per_page = first(query, "per_page")
        if per_page and parse_int(per_page, 32) is None:
            raise NomadError(PER_PAGE_NOT_NUMBER, Kind.BAD_REQUEST)
    parse_wait(ctx)
    return allow_stale


async def rpc(ctx: Context, request: Request) -> web.Response:
    """Call the server with `request`, built with its `Hold` (the HTTP caller's, see
    `Simulation.wait`), and answer as `wrap` does."""
    if request.hold is None:
        raise ValueError(f"{request.method}: an HTTP request's RPC is built with its Hold")
    result, error = await ctx.sim.request("nomad.call", ctx.server, request, hold=request.hold)
    return answer(ctx, result, error)


# ------------------------------------------------------------ wrong methods
# What a handler does with a method it does not take differs per handler (spec §1 "Wrong
# method"); the routes table names one of these for each endpoint.


def invalid_method(ctx: Context) -> web.Response:
    """`CodedError(405, ErrInvalidMethod)`: 405 `Invalid method`."""
    raise NomadError(INVALID_METHOD, Kind.WRONG_METHOD)


def bare_405(ctx: Context) -> web.Response:
    """`resp.WriteHeader(405); return nil, nil`: a 405 with nothing in it."""
    return empty(405)


def peer_wrong_method(ctx: Context) -> web.Response:
    """/v1/operator/raft/peer: 0.5.x writes a bare 405; 0.8+ returns
    `CodedError(404, ErrInvalidMethod)` (spec §1 "Wrong method")."""
    status = ctx.sim.nomad.version.peer_wrong_method_status
    if status == 404:
        raise NomadError(INVALID_METHOD, Kind.NOT_FOUND)
    return empty(status)


# ------------------------------------------------------------ endpoints
# The routes table has refused wrong methods before a handler runs, as each handler's first
# statement does in Go.


async def raft_configuration(ctx: Context) -> web.Response:
    """spec §2.1."""
    request = Request(
        "Operator.RaftGetConfiguration",
        ctx.region,
        stale=parse_read(ctx),
        token=ctx.token,
        hold=Hold(),
    )
    return await rpc(ctx, request)


async def raft_peer(ctx: Context) -> web.Response:
    """spec §2.2: DELETE, a write: always to the leader (`stale` has no effect: open
    question 2 decided by the code, hashicorp/nomad#4430). 0.5.x takes `?address=` only;
    0.8+ exactly one of `?id=` and `?address=`, each present by its key alone (an empty
    value then fails the leader's lookup)."""
    has_address = "address" in ctx.query
    version = ctx.sim.nomad.version
    if not version.peer_removal_by_address:
        # 1.10.1+: the handler refuses any `address` key, then wants an `id`.
        if has_address:
            raise NomadError(ADDRESS_REFUSED, Kind.BAD_REQUEST)
        if "id" not in ctx.query:
            raise NomadError(MISSING_ID, Kind.BAD_REQUEST)
    if not version.peer_removal_by_id:
        if not has_address:
            raise NomadError(MISSING_ADDRESS, Kind.BAD_REQUEST)
    else:
        has_id = "id" in ctx.query
        if not has_id and not has_address:
            raise NomadError(MISSING_ID_OR_ADDRESS, Kind.BAD_REQUEST)
        if has_id and has_address:
            raise NomadError(BOTH_ID_AND_ADDRESS, Kind.BAD_REQUEST)
        if has_id:
            server_id = first(ctx.query, "id")
            request = Request(
                "Operator.RaftRemovePeerByID",
                ctx.region,
                id=server_id,
                token=ctx.token,
                hold=Hold(),
            )
            return await rpc(ctx, request)
    address = first(ctx.query, "address")
    request = Request(
        "Operator.RaftRemovePeerByAddress",
        ctx.region,
        address=address,
        token=ctx.token,
        hold=Hold(),
    )
    return await rpc(ctx, request)


async def transfer_leadership(ctx: Context) -> web.Response:
    """spec §2.3 (1.7+): PUT|POST with exactly one `id` or `address`; the handler's own
    400s for repeated or empty values, then RaftPeerRequest.Validate's (a UUID, or an
    `IP:port` as netip reads one), then the RPC, which the leader runs
    (command/agent/operator_endpoint.go and nomad/structs/operator.go at v1.10.1)."""
    ids, addresses = ctx.query.get("id"), ctx.query.get("address")
    refusal = ""
    if ids is None and addresses is None:
        refusal = "must specify id or address"
    elif ids is not None and addresses is not None:
        refusal = "must specify either id or address"
    elif ids is not None and not ids[0]:
        refusal = "id must be non-empty"
    elif ids is not None and len(ids) > 1:
        refusal = "must specify only one id"
    elif addresses is not None and not addresses[0]:
        refusal = "address must be non-empty"
    elif addresses is not None and len(addresses) > 1:
        refusal = "must specify only one address"
    elif ids is not None and (detail := uuid_error(ids[0])) is not None:
        refusal = f"id must be a uuid: {detail}"
    elif addresses is not None and (detail := addr_port_error(addresses[0])) is not None:
        refusal = f"address must be in IP:port format: {detail}"
    if refusal:
        raise NomadError(refusal, Kind.BAD_REQUEST)
    request = Request(
        "Operator.TransferLeadershipToPeer",
        ctx.region,
        id=ids[0] if ids is not None else "",
        address=addresses[0] if addresses is not None else "",
        token=ctx.token,
        hold=Hold(),
    )
    return await rpc(ctx, request)


async def unknown_operator(ctx: Context) -> web.Response:
    """OperatorRequest's default case: a sub-path it does not know is a 404."""
    raise NomadError(INVALID_METHOD, Kind.NOT_FOUND)


async def _status(ctx: Context, method: str) -> web.Response:
    """The two /v1/status/ reads: query parsed as any read, then the RPC."""
    return await rpc(ctx, Request(method, ctx.region, stale=parse_read(ctx), hold=Hold()))


async def status_leader(ctx: Context) -> web.Response:
    """spec §2.6."""
    return await _status(ctx, "Status.Leader")


async def status_peers(ctx: Context) -> web.Response:
    """spec §2.7."""
    return await _status(ctx, "Status.Peers")


async def agent_members(ctx: Context) -> web.Response:
    """spec §2.8: the receiving server's own Serf view, never forwarded. From 0.8 the
    handler parses the query as any read does (a bad `wait` or `index` is a 400)."""
    if ctx.sim.nomad.version.members_parses_query:
        parse_read(ctx)
    if ctx.token:
        result, error = await ctx.sim.request("nomad.members", ctx.server, ctx.token, hold=Hold())
    else:  # (the input as 0.5.6 records it)
        result, error = await ctx.sim.request("nomad.members", ctx.server, hold=Hold())
    return answer(ctx, result, error)


async def agent_force_leave(ctx: Context) -> web.Response:
    """spec §2.9: Serf RemoveFailedNode on the receiving server; 200 even for unknown names.

    Open question 9, decided: `node` is the Serf member name (`carol.global`); a bare
    `carol` matches no member and, as Serf does, is accepted without effect."""
    node = first(ctx.query, "node")
    hold = Hold()
    if not ctx.sim.nomad.acl.enabled:
        if not node:
            raise NomadError(MISSING_NODE, Kind.BAD_REQUEST)
        result, error = await ctx.sim.request(
            "nomad.force_leave", ctx.server, node, hold, hold=hold
        )
        return answer(ctx, result, error)
    # 0.7+ with ACLs: the server checks `agent:write` before it looks for `node`.
    result, error = await ctx.sim.request(
        "nomad.force_leave", ctx.server, node, hold, ctx.token, hold=hold
    )
    return answer(ctx, result, error)


async def agent_join(ctx: Context) -> web.Response:
    """PUT|POST /v1/agent/join?address=...: AgentJoinRequest (0.5.6) hands every `address`
    value to Serf's Join and answers 200 `{"num_joined":N,"error":""}`, a failed join's
    text in `error` (still a 200); no `address` key at all is a 400."""
    addresses = ctx.query.get("address")
    if not addresses:
        raise NomadError(MISSING_JOIN, Kind.BAD_REQUEST)
    result, error = await ctx.sim.request("nomad.join", ctx.server, list(addresses))
    return answer(ctx, result, error)
