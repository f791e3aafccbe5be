"""The RPC endpoints a Nomad server runs locally once routing has decided where a request
runs (ring 1b): `Status.Leader`, `Status.Peers`, `Operator.RaftGetConfiguration`,
`Operator.RaftRemovePeerByAddress`, and the agent's own Serf view (`/v1/agent/members`).

Each reads the server's own Raft node and Serf view, as `nomad/status_endpoint.go` and
`nomad/operator_endpoint.go` at v0.5.6 do; results are plain data in the field order of
Nomad's Go structs, ready for JSON.
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
READS = frozenset({"Status.Leader", "Status.Peers", "Operator.RaftGetConfiguration"})
METHODS = READS | {"Operator.RaftRemovePeerByAddress"}


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
    hold: Hold | None = field(default=None, compare=False)

    @property
    def is_read(self) -> bool:
        return self.method in READS


def raft_address(member: Member) -> str:
    """`<Serf Addr>:<port tag>`: the Raft/RPC address a server member advertises."""
    return f"{member.info.addr}:{member.info.tag('port') or ''}"


def status_leader(node: RaftNode) -> JSON:
    """spec §2.6: the Raft leader's address as this server knows it, "" if none."""
    return node.leader_address


def status_peers(node: RaftNode) -> JSON:
    """spec §2.7: every address of the latest configuration, in order."""
    return [s.address for s in node.latest.servers]


def raft_configuration(server: NomadServer, node: RaftNode) -> JSON:
    """spec §2.1: the latest configuration with Serf names; Index is latestIndex on P1."""
    nodes = {raft_address(m): m.info.name for m in server.serf.members.values()}
    leader = node.leader_address
    protocol = server.version.raft_protocol_field
    servers: list[dict[str, object]] = []
    for s in node.latest.servers:
        entry: dict[str, object] = {
            "ID": s.id,
            "Node": nodes.get(s.address, "(unknown)"),
            "Address": s.address,
            "Leader": s.address == leader,
            "Voter": s.suffrage is Suffrage.VOTER,
        }
        if protocol:
            entry["RaftProtocol"] = str(server.version.profile.raft_protocol)
        servers.append(entry)
    index = node.latest_index if server.version.profile.reports_configuration_index else 0
    # Go encodes a nil slice as null (spec §2.1, open question 10).
    return {"Servers": servers or None, "Index": index}


def remove_peer(
    server: NomadServer, node: RaftNode, address: str, hold: Hold | None = None
) -> Generator[Wait, object, JSON]:
    """spec §2.2 (0.5.x): the address must be in the configuration; then RemovePeer."""
    if all(s.address != address for s in node.latest.servers):
        raise NomadError(f"address {go_quote(address)} was not found in the Raft configuration")
    if hold is not None:
        if hold.withdrawn:
            raise NomadError(WITHDRAWN)
        hold.reached = "proposed to the leader's Raft log"
    future = yield from server.raft_change(ChangeCommand.REMOVE_SERVER, address)
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
                "Tags": dict(m.info.tags),
                "Status": m.status,
                "ProtocolMin": 1,
                "ProtocolMax": 5,
                "ProtocolCur": 2,
                "DelegateMin": 2,
                "DelegateMax": 4,
                "DelegateCur": 4,
            }
            for m in listed
        ],
    }
