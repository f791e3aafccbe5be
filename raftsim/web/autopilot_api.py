"""The autopilot endpoints as a Nomad agent serves them (0.8+): spec nomad-api.md §2.4,
§2.5, after `command/agent/operator_endpoint.go` at v0.8.7 and v1.2.13. Their answers come
from the server's Nomad layer through the journal (`nomad_api.rpc`)."""

from __future__ import annotations

import json

from aiohttp import web

from ..nomad.autopilot import AutopilotConfig
from ..nomad.endpoints import Hold, Request
from ..nomad.errors import Kind, NomadError
from .gocompat import first, parse_duration, parse_uint
from .nomad_api import INVALID_METHOD, Context, answer, parse_read, rpc

# api.AutopilotConfiguration's fields as a PUT body gives them (encoding/json matches
# names case-insensitively), with their Go types for the decoder's type errors.
FIELDS = {
    "cleanupdeadservers": ("CleanupDeadServers", "bool"),
    "lastcontactthreshold": ("LastContactThreshold", "duration"),
    "maxtrailinglogs": ("MaxTrailingLogs", "uint64"),
    "minquorum": ("MinQuorum", "uint"),
    "serverstabilizationtime": ("ServerStabilizationTime", "duration"),
    "enableredundancyzones": ("EnableRedundancyZones", "bool"),
    "disableupgrademigration": ("DisableUpgradeMigration", "bool"),
    "enablecustomupgrades": ("EnableCustomUpgrades", "bool"),
}


# The anonymous struct the UnmarshalJSON decodes into, as reflect names its type.
AUX = "struct { LastContactThreshold string; ServerStabilizationTime string; *api.Alias }"


def autopilot_wrong_method(ctx: Context) -> web.Response:
    """Both autopilot handlers answer another method with `CodedError(404, ErrInvalidMethod)`
    (spec §1 "Wrong method")."""
    raise NomadError(INVALID_METHOD, Kind.NOT_FOUND)


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def decode_config(raw: bytes, min_quorum: bool, quoted: bool) -> AutopilotConfig:
    """decodeBody into api.AutopilotConfiguration; ValueError carries Go's text. Absent
    fields are Go's zero values (the handler builds the new configuration from the body
    alone). `quoted`: Go 1.15+ quotes the input in time.ParseDuration's errors."""
    text = raw.decode("utf-8", "replace")
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        raise ValueError("EOF")
    try:
        value, _ = json.JSONDecoder().raw_decode(stripped)
    except json.JSONDecodeError as error:
        if error.pos == 0:
            raise ValueError(
                f"invalid character {stripped[0]!r} looking for beginning of value"
            ) from error
        raise ValueError("unexpected EOF") from error
    if value is None:
        return AutopilotConfig(
            cleanup_dead_servers=False,
            last_contact_threshold=0,
            max_trailing_logs=0,
            server_stabilization_time=0,
        )
    if not isinstance(value, dict):
        raise ValueError(f"json: cannot unmarshal {_json_kind(value)} into Go value of type {AUX}")
    fields: dict[str, object] = {}
    for key, item in value.items():
        known = FIELDS.get(key.lower())
        if known is None or (known[1] == "uint" and not min_quorum) or item is None:
            continue
        name, kind = known
        if kind == "duration":
            # api.AutopilotConfiguration's UnmarshalJSON reads both durations as strings
            # through an anonymous struct, and parses only a non-empty one.
            if not isinstance(item, str):
                raise ValueError(_type_error(item, name, "string", ""))
            if not item:
                continue
            duration = parse_duration(item)
            if duration is None:
                shown = f'"{item}"' if quoted else item
                raise ValueError(f"time: invalid duration {shown}")
            fields[name] = duration
        elif kind == "bool":
            if not isinstance(item, bool):
                raise ValueError(_type_error(item, name, kind))
            fields[name] = item
        else:
            if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item < 1 << 64:
                raise ValueError(_type_error(item, name, kind))
            fields[name] = item
    return AutopilotConfig(
        cleanup_dead_servers=bool(fields.get("CleanupDeadServers", False)),
        last_contact_threshold=int(fields.get("LastContactThreshold", 0)),  # type: ignore[call-overload]
        max_trailing_logs=int(fields.get("MaxTrailingLogs", 0)),  # type: ignore[call-overload]
        min_quorum=int(fields.get("MinQuorum", 0)),  # type: ignore[call-overload]
        server_stabilization_time=int(fields.get("ServerStabilizationTime", 0)),  # type: ignore[call-overload]
        enable_redundancy_zones=bool(fields.get("EnableRedundancyZones", False)),
        disable_upgrade_migration=bool(fields.get("DisableUpgradeMigration", False)),
        enable_custom_upgrades=bool(fields.get("EnableCustomUpgrades", False)),
    )


def _type_error(item: object, name: str, kind: str, owner: str = "Alias") -> str:
    shown = (
        "number " + json.dumps(item)
        if isinstance(item, int | float) and not isinstance(item, bool)
        else _json_kind(item)
    )
    return f"json: cannot unmarshal {shown} into Go struct field {owner}.{name} of type {kind}"


async def autopilot_configuration(ctx: Context) -> web.Response:
    """spec §2.4: GET reads (stale allowed), PUT writes through the leader."""
    if ctx.method == "GET":
        request = Request(
            "Operator.AutopilotGetConfiguration",
            ctx.region,
            stale=parse_read(ctx),
            token=ctx.token,
            hold=Hold(),
        )
        return await rpc(ctx, request)
    version = ctx.sim.nomad.version
    body = await ctx.request.read()
    try:
        config = decode_config(body, version.autopilot_min_quorum, version.go_quotes_durations)
    except ValueError as error:
        raise NomadError(f"Error parsing autopilot config: {error}", Kind.BAD_REQUEST) from error
    cas = None
    if "cas" in ctx.query:
        raw = first(ctx.query, "cas")
        cas = parse_uint(raw)
        if cas is None:
            detail = f'strconv.ParseUint: parsing "{raw}": invalid syntax'
            if raw and raw.isdigit():
                detail = f'strconv.ParseUint: parsing "{raw}": value out of range'
            raise NomadError(f"Error parsing cas value: {detail}", Kind.BAD_REQUEST)
    request = Request(
        "Operator.AutopilotSetConfiguration",
        ctx.region,
        token=ctx.token,
        config=config,
        cas=cas,
        hold=Hold(),
    )
    return await rpc(ctx, request)


async def autopilot_health(ctx: Context) -> web.Response:
    """spec §2.5: always the leader's answer (stale parsed, then forced off); the handler
    writes 429 before the same body when the cluster is not Healthy."""
    parse_read(ctx)
    request = Request("Operator.ServerHealth", ctx.region, token=ctx.token, hold=Hold())
    result, error = await ctx.sim.request("nomad.call", ctx.server, request, hold=request.hold)
    response = answer(ctx, result, error)
    if isinstance(result, dict) and result.get("Healthy") is False:
        response.set_status(429)
    return response
