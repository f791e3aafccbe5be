"""Operator.TransferLeadershipToPeer (1.7+, spec nomad-api.md §2.3), as the leader runs it
after forwarding and the ACL check: nomad/operator_endpoint.go and leadershipTransferToServer
in nomad/leader.go at v1.10.1 (ring 1b).

The target must be in the Raft configuration (by ID or address); the leader itself is a
no-op; otherwise hashicorp/raft's LeadershipTransferToServer is tried up to three times.
The answer is `{"From", "To", "Noop", "Err"}`; a refusal is a coded error (400 or 503) or,
after three failed attempts, a plain one (500, `rpc error: ` through a follower).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from ..core.errors import RaftsimError, ShutdownError
from ..core.future import Future
from ..core.types import Role
from .endpoints import JSON, WITHDRAWN, Request, min_raft_protocol
from .errors import NO_LEADER, Kind, NomadError, go_quote
from .process import Wait

if TYPE_CHECKING:
    from ..core.node import RaftNode
    from .agent import NomadServer

ATTEMPTS = 3  # leadershipTransferToServer's retryCount
ITSELF = "cannot transfer leadership to itself"  # hashicorp/raft's text, a no-op to Nomad


def _id_address(address: str, server_id: str) -> dict[str, str]:
    """structs.RaftIDAddress in field order."""
    return {"Address": address, "ID": server_id}


def transfer_leadership(
    server: NomadServer, node: RaftNode, request: Request
) -> Generator[Wait, object, JSON]:
    if node.role is not Role.LEADER:
        raise NomadError(NO_LEADER, Kind.UNAVAILABLE)  # LeaderWithID came back empty
    if min_raft_protocol(server) < 3:
        raise NomadError("unsupported minimum common raft protocol version", Kind.BAD_REQUEST)
    kind, value = ("id", request.id) if request.id else ("address", request.address)
    found = next(
        (s for s in node.latest.servers if s.id == request.id or s.address == request.address),
        None,
    )
    if found is None:
        text = f"{kind} {go_quote(value)} was not found in the Raft configuration"
        raise NomadError(text, Kind.BAD_REQUEST)
    answer: dict[str, object] = {
        "From": _id_address(node.address, node.id),
        "To": _id_address(found.address, found.id),
        "Noop": False,
        "Err": None,
    }
    if found.id == node.id:
        answer["Noop"] = True
        return answer
    hold = request.hold
    if hold is not None:
        if hold.withdrawn:
            raise NomadError(WITHDRAWN)
        hold.reached = "asked Raft to transfer leadership"
    target = server.nomad_cluster.name_of_address(found.address) or found.address
    last: RaftsimError | None = None
    for _ in range(ATTEMPTS):
        try:
            future = server.nomad_cluster.cluster.transfer_leadership(target, via=server.name)
        except RaftsimError as refused:
            future = Future()
            future.fail(refused)
        else:
            yield future
        failure = future.error
        if failure is None or str(failure) == ITSELF:
            return answer
        if isinstance(failure, ShutdownError):
            raise NomadError(str(failure))
        last = failure
    raise NomadError(f"failed to transfer leadership in {ATTEMPTS} attempts. last error: {last}")
