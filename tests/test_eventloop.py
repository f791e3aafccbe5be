"""The event loop's transport (raftsim/sim/eventloop.py): each message type travels on its
own kind of connection, and a message with none is refused rather than sent on another's."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from raftsim import Cluster
from raftsim.core import AppendEntries, AppendResponse, RequestVote, RpcFailure, VoteResponse
from raftsim.sim.events import MessageSent


@dataclass(slots=True, eq=False)
class Gossip:
    """A message type the transport has no connection for."""

    src: str
    dst: str
    rpc: int


@pytest.mark.parametrize("kind", ["RpcFailure", "Gossip"])
@pytest.mark.parametrize("general", [False, True], ids=["fast-path", "general-path"])
def test_eventloop_send_raises_for_a_message_without_a_channel(kind: str, general: bool) -> None:
    """An RpcFailure (the caller's transport makes it, it is never sent) or an unknown type
    in a node's outbox raises, on `_send_all`'s inlined path and on `_send`, instead of
    travelling as a vote reply."""
    cluster = Cluster(3, seed=1, trace="off", fast_forward=False)
    assert cluster.run_until(lambda c: c.leader() is not None, "60s")
    if general:
        cluster.set_network(loss=1e-9)  # any loss takes every message through `_send`
    leader = cluster.server(cluster.leader() or "")
    follower = next(s for s in cluster.servers.values() if s is not leader)
    assert leader.node is not None
    msg: object = (
        RpcFailure(leader.id, follower.id, 1, "i/o timeout")
        if kind == "RpcFailure"
        else Gossip(leader.id, follower.id, 1)
    )
    leader.node.messages.append(msg)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"^{kind} has no channel"):
        cluster.run_for("1s")


def test_eventloop_sends_every_raft_message_type() -> None:
    """An election and its replication send all four RPC and reply types through the
    per-type channel choice."""
    cluster = Cluster(3, seed=1, trace="all", fast_forward=False)
    assert cluster.run_until(lambda c: c.leader() is not None, "60s")
    cluster.run_for("1s")
    sent = {type(e.message) for e in cluster.records if isinstance(e, MessageSent)}
    assert sent == {RequestVote, VoteResponse, AppendEntries, AppendResponse}
