"""The RPC endpoints a Nomad server runs locally once routing has decided where a request
runs (ring 1b): `Status.Leader`, `Status.Peers`, `Operator.RaftGetConfiguration`,
`Operator.RaftRemovePeerByAddress`, `Operator.RaftRemovePeerByID` (0.8+), and the agent's
own Serf view (`/v1/agent/members`).

Each reads the server's own Raft node and Serf view, as `nomad/status_endpoint.go` and
`nomad/operator_endpoint.go` at v0.5.6, v0.8.7 and v1.2.13 do (the server's `version`
says which); results are plain data in the field order of Nomad's Go structs, ready for JSON.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.configuration import ChangeCommand
from ..core.node import RaftNode
from ..core.types import Suffrage
from .errors import NomadError, go_quote
from .process import Wait
from .serf import Member

if TYPE_CHECKING:
    from .agent import NomadServer

JSON = object
READS = frozenset(
    {
        "Status.Leader",
        "Status.Peers",
        "Operator.RaftGetConfiguration",
        "Operator.AutopilotGetConfiguration",
    }
)
METHODS = READS | {
    "Operator.RaftRemovePeerByAddress",
    "Operator.RaftRemovePeerByID",
    "Operator.AutopilotSetConfiguration",
    "Operator.ServerHealth",
    "Operator.TransferLeadershipToPeer",
}
# The RPCs that need a management token once they run where routing sends them (spec §1
# "ACL capabilities"; nomad/operator_endpoint.go checks IsManagement after `forward`).
MANAGEMENT = frozenset(
    {
        "Operator.RaftGetConfiguration",
        "Operator.RaftRemovePeerByAddress",
        "Operator.RaftRemovePeerByID",
        "Operator.TransferLeadershipToPeer",
    }
)


WITHDRAWN = "request withdrawn: its HTTP caller stopped waiting (hold limit)"


class Hold:
    """A request as its HTTP caller may withdraw it (the served cluster's wall-clock cap on a
    request the clock does not move on): `withdrawn` stops it before it changes anything,
    where it would reach the Raft log or Serf; `reached` says what of it happened already
    ("" for nothing). Nomad has no such thing: a real caller's timeout withdraws nothing."""

    __slots__ = ("reached", "withdrawn")

    def __init__(self) -> None:
        self.withdrawn = False
        self.reached = ""


@dataclass(frozen=True, slots=True)
class Request:
    """An RPC as the HTTP agent builds it: method, target region, stale flag, arguments."""

    method: str
    region: str
    stale: bool = False
    address: str = ""
    id: str = ""  # Operator.RaftRemovePeerByID's argument
    # Operator.AutopilotSetConfiguration's arguments: the new configuration (an
    # autopilot.AutopilotConfig) and `?cas=` (None without one).
    config: object = None
    cas: int | None = None
    hold: Hold | None = field(default=None, compare=False)
    # The secret of X-Nomad-Token (0.7+; "" for none): kept out of reprs, which logs show.
    token: str = field(default="", repr=False)

    @property
    def is_read(self) -> bool:
        return self.method in READS


def raft_address(member: Member) -> str:
    """`<Serf Addr>:<port tag>`: the Raft/RPC address a server member advertises."""
    return member.info.rpc_address


def status_leader(node: RaftNode) -> JSON:
    """spec §2.6: the Raft leader's address as this server knows it, "" if none."""
    return node.leader_address


def status_peers(node: RaftNode) -> JSON:
    """spec §2.7: every address of the latest configuration, in order."""
    return [s.address for s in node.latest.servers]


def raft_configuration(server: NomadServer, node: RaftNode) -> JSON:
    """spec §2.1: the latest configuration with Serf names (and, 0.8+, each member's
    `raft_vsn` tag as `RaftProtocol`: a string, `unknown` without a Serf member); `Index`
    is latestIndex or 0 as the release's hashicorp/raft reports it (raft-semantics §2.10)."""
    by_address = {raft_address(m): m for m in server.serf.members.values()}
    leader = node.leader_address
    protocol = server.version.raft_protocol_field
    servers: list[dict[str, object]] = []
    for s in node.latest.servers:
        member = by_address.get(s.address)
        entry: dict[str, object] = {
            "ID": s.id,
            "Node": member.info.name if member is not None else "(unknown)",
            "Address": s.address,
            "Leader": s.address == leader,
            "Voter": s.suffrage is Suffrage.VOTER,
        }
        if protocol:
            vsn = member.info.tag("raft_vsn") if member is not None else None
            entry["RaftProtocol"] = vsn if vsn is not None else "unknown"
        servers.append(entry)
    index = node.latest_index if server.version.profile.reports_configuration_index else 0
    # Go encodes a nil slice as null (spec §2.1, open question 10).
    return {"Servers": servers or None, "Index": index}


# hashicorp/raft ErrUnsupportedProtocol (api.go).
UNSUPPORTED_PROTOCOL = "operation not supported with current protocol version"


def remove_peer(
    server: NomadServer, node: RaftNode, address: str, hold: Hold | None = None
) -> Generator[Wait, object, JSON]:
    """spec §2.2: the address must be in the configuration; then RemovePeer(address),
    which hashicorp/raft refuses under protocol 3 (raft-semantics §2.11): in 1.4-1.10.0
    removal by address fails for every peer that exists."""
    if all(s.address != address for s in node.latest.servers):
        raise NomadError(f"address {go_quote(address)} was not found in the Raft configuration")
    if server.version.raft_protocol > 2:
        raise NomadError(UNSUPPORTED_PROTOCOL)
    if hold is not None:
        if hold.withdrawn:
            raise NomadError(WITHDRAWN)
        hold.reached = "proposed to the leader's Raft log"
    future = yield from server.raft_change(ChangeCommand.REMOVE_SERVER, address)
    if future.error is not None:
        raise NomadError(str(future.error))
    return None


def min_raft_protocol(server: NomadServer) -> int:
    """The lowest `raft_vsn` among the alive Nomad servers of this region in this server's
    Serf view, a missing tag counting as 1 (Consul's autopilot MinRaftProtocol, vendored by
    0.8.x-1.3.x). This server is alive in its own view, so one is always found."""
    versions = []
    for member in server.serf.alive_members():
        if member.info.tag("role") != "nomad" or member.info.tag("region") != server.region:
            continue
        versions.append(int(member.info.tag("raft_vsn") or "1"))
    return min(versions)


def remove_peer_by_id(
    server: NomadServer, node: RaftNode, server_id: str, hold: Hold | None = None
) -> Generator[Wait, object, JSON]:
    """spec §2.2 (0.8+): the ID must be in the configuration; then RemoveServer(id) when the
    lowest protocol among alive servers is >= 2, else RemovePeer(its address). Under
    protocols 1 and 2 the ID is the address, so both change the configuration alike
    (raft-semantics §2.11: RemovePeer is RemoveServer(address))."""
    found = next((s for s in node.latest.servers if s.id == server_id), None)
    if found is None:
        raise NomadError(f"id {go_quote(server_id)} was not found in the Raft configuration")
    # (`raft_change` finds the server by its address; under protocols 1 and 2 that is its ID.)
    target = found.id if min_raft_protocol(server) >= 2 else found.address
    if hold is not None:
        if hold.withdrawn:
            raise NomadError(WITHDRAWN)
        hold.reached = "proposed to the leader's Raft log"
    future = yield from server.raft_change(ChangeCommand.REMOVE_SERVER, target)
    if future.error is not None:
        raise NomadError(str(future.error))
    return None


def members(server: NomadServer) -> JSON:
    """spec §2.8: the receiving server's own Serf view (never forwarded)."""
    listed = sorted(server.serf.members.values(), key=lambda m: m.info.name)
    return {
        "ServerName": server.name,
        "ServerRegion": server.region,
        "ServerDC": server.datacenter,
        "Members": [
            {
                "Name": m.info.name,
                "Addr": m.info.addr,
                "Port": m.info.port,
                # A Go map: encoding/json writes its keys sorted.
                "Tags": dict(sorted(m.info.tags)),
                "Status": m.status,
                "ProtocolMin": 1,
                "ProtocolMax": 5,
                "ProtocolCur": 2,
                "DelegateMin": 2,
                "DelegateMax": server.version.serf_delegate_max,
                "DelegateCur": 4,
            }
            for m in listed
        ],
    }
