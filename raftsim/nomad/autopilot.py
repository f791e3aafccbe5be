"""Autopilot's operator RPCs (0.8+, spec nomad-api.md §2.4, §2.5), after
`nomad/operator_endpoint.go` and `nomad/structs/operator.go` at v0.8.7 and v1.2.13.

The autopilot configuration is Raft-replicated state in Nomad; here it is modelled as one
value held for the cluster (`NomadCluster.autopilot`): written with the defaults when the
first leader establishes leadership (its barrier's index stands for the index of Nomad's
own write), and by `PUT /v1/operator/autopilot/configuration` through a real entry in the
leader's Raft log, applied once committed, its index the new ModifyIndex.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..core.errors import RaftsimError
from .endpoints import JSON, WITHDRAWN, Hold, min_raft_protocol
from .errors import NomadError
from .process import Wait

if TYPE_CHECKING:
    from .agent import NomadServer

NOT_INITIALIZED = "autopilot config not initialized yet"
# ServerHealth refuses the releases emulated here that run protocol 2 (0.8.7, 1.2.13).
# Nomad's ServerHealth before the leader's autopilot has a state (not met once established).
NO_STATE = "Failed to get autopilot state: no state found"
NEEDS_PROTOCOL_3 = "all servers must have raft_protocol set to 3 or higher to use this endpoint"


@dataclass(frozen=True, slots=True)
class AutopilotConfig:
    """structs.AutopilotConfig; durations in nanoseconds, as Go's time.Duration (a PUT may
    give a finer one than the simulation's microsecond clock)."""

    cleanup_dead_servers: bool = True
    last_contact_threshold: int = 200_000_000
    max_trailing_logs: int = 250
    min_quorum: int = 0  # 0.11+
    server_stabilization_time: int = 10_000_000_000
    enable_redundancy_zones: bool = False
    disable_upgrade_migration: bool = False
    enable_custom_upgrades: bool = False
    create_index: int = 0
    modify_index: int = 0


def _fraction(value: int, digits: int) -> str:
    whole, rest = divmod(value, 10**digits)
    if not rest:
        return str(whole)
    return f"{whole}.{rest:0{digits}d}".rstrip("0")


def go_duration(ns: int) -> str:
    """time.Duration.String(): `200ms`, `10s`, `1m30s`, `1h0m0s`, `0s`."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_fraction(u, 3)}µs"
    if u < 1_000_000_000:
        return f"{sign}{_fraction(u, 6)}ms"
    seconds, rest = divmod(u, 1_000_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = _fraction(seconds * 1_000_000_000 + rest, 9) + "s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


def to_json(config: AutopilotConfig, min_quorum: bool) -> JSON:
    """api.AutopilotConfiguration as the HTTP handler writes it, in field order; `MinQuorum`
    from 0.11 (spec §2.4)."""
    out: dict[str, object] = {
        "CleanupDeadServers": config.cleanup_dead_servers,
        "LastContactThreshold": go_duration(config.last_contact_threshold),
        "MaxTrailingLogs": config.max_trailing_logs,
    }
    if min_quorum:
        out["MinQuorum"] = config.min_quorum
    out["ServerStabilizationTime"] = go_duration(config.server_stabilization_time)
    out["EnableRedundancyZones"] = config.enable_redundancy_zones
    out["DisableUpgradeMigration"] = config.disable_upgrade_migration
    out["EnableCustomUpgrades"] = config.enable_custom_upgrades
    out["CreateIndex"] = config.create_index
    out["ModifyIndex"] = config.modify_index
    return out


def get_configuration(server: NomadServer) -> JSON:
    """spec §2.4 GET: the state's value, or Nomad's error before the first write."""
    config = server.nomad_cluster.autopilot
    if config is None:
        raise NomadError(NOT_INITIALIZED)
    return to_json(config, server.version.autopilot_min_quorum)


def set_configuration(
    server: NomadServer, config: AutopilotConfig, cas: int | None, hold: Hold | None
) -> Generator[Wait, object, JSON]:
    """spec §2.4 PUT: one Raft entry; on commit the state store's AutopilotSetConfig, or with
    `cas` AutopilotCASConfig (false, unchanged, when ModifyIndex differs). The reply is
    `true` without `cas` (the handler ignores the RPC's answer then)."""
    if hold is not None:
        if hold.withdrawn:
            raise NomadError(WITHDRAWN)
        hold.reached = "proposed to the leader's Raft log"
    try:
        future = server.nomad_cluster.cluster.propose("autopilot", via=server.name)
    except RaftsimError as error:
        raise NomadError(str(error)) from error
    yield future
    if future.error is not None:
        raise NomadError(str(future.error))
    cluster = server.nomad_cluster
    existing = cluster.autopilot
    if cas is not None and existing is not None and existing.modify_index != cas:
        return False
    create = existing.create_index if existing is not None else future.index
    cluster.autopilot = replace(config, create_index=create, modify_index=future.index)
    return True


def server_health(server: NomadServer) -> JSON:
    """spec §2.5: ServerHealth needs Raft protocol 3 on every alive server (the lowest
    `raft_vsn` among them, checked after forwarding and ACLs): 0.8.7 and 1.2.13 run protocol
    2 and always refuse. Under protocol 3 (1.10.x) the leader's autopilot state as of its
    last health refresh (autopilot_loop.py); the HTTP layer answers 429 when not Healthy."""
    if min_raft_protocol(server) < 3:
        raise NomadError(NEEDS_PROTOCOL_3)
    loop = server.leader_loop
    pilot = loop.autopilot if loop is not None else None
    if pilot is None or not pilot.states:
        raise NomadError(NO_STATE)
    return pilot.health()
