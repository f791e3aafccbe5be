"""Leadership transfer (ring 0): raft-semantics §3.9, after hashicorp/raft v1.7.3's
`LeadershipTransferToServer`, the leader loop's `leadershipTransferCh` case and
`leadershipTransfer`, and the follower's `timeoutNow`.

The leader picks its target (a named voter, or the voter whose replication has got
furthest, `pickServer`), brings it up to date with ordinary replication, then sends it
TimeoutNow. The target becomes a candidate at once, and its RequestVote carries the
transfer flag, so voters that know a leader still vote (§3.5 step 2); its higher term
deposes the old leader. While the transfer runs, the leader refuses new entries and
membership changes (`leadership transfer in progress`). The transfer's future resolves
when the leader loses leadership, and fails when TimeoutNow cannot be delivered, or when an
ElectionTimeout passes first (counted from the start, and again from TimeoutNow's reply,
as hashicorp waits twice), after which the leader takes entries again. The trace shows
`transfer` when it starts, `timeout-now` on the target, and `transfer-end` with how it
ended (core/events.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import RaftsimError
from .events import TimeoutNowReceived, TransferEnded, TransferStarted
from .messages import RpcFailure, TimeoutNow, TimeoutNowResponse
from .types import Suffrage

if TYPE_CHECKING:
    from .future import Future
    from .leader import Follower, LeaderState
    from .node import RaftNode

TRANSFER = "transfer"  # the leader's timer while a transfer runs
IN_PROGRESS = "leadership transfer in progress"  # ErrLeadershipTransferInProgress
UNSUPPORTED = "operation not supported with current protocol version"  # ErrUnsupportedProtocol
# How a transfer ended, as its `transfer-end` event says (a failure adds what failed).
STEPPED_DOWN = "stepped down"  # leadership lost while it ran: hashicorp's success
TIMED_OUT = "timed out"
FAILED = "failed"


class TransferError(RaftsimError):
    """A leadership transfer refused or failed (hashicorp/raft's texts)."""


class Transfer:
    """One leadership transfer in progress on a leader."""

    __slots__ = ("future", "rpc", "target")

    def __init__(self, target: str, future: Future) -> None:
        self.target = target
        self.future = future
        self.rpc = 0  # the TimeoutNow in flight; 0 before it is sent


def pick(state: LeaderState) -> str | None:
    """pickServer: the voter (not this leader) with the highest nextIndex, the first of
    equals in configuration order; None if there is none."""
    node = state.node
    best, best_next = None, 0
    for server in node.latest.servers:
        f = state.followers.get(server.id)
        if server.id == node.id or server.suffrage is not Suffrage.VOTER or f is None:
            continue
        if f.next_index > best_next:
            best, best_next = server.id, f.next_index
    return best


def start(state: LeaderState, target: str | None, future: Future, now: int) -> None:
    """Begin a transfer to `target` (None: pickServer's choice) answered by `future`; a
    refusal fails the future and leaves the leader as it was."""
    node = state.node
    if target == node.id:
        future.fail(TransferError("cannot transfer leadership to itself"))
        return
    if state.transfer is not None:
        future.fail(TransferError(IN_PROGRESS))
        return
    if target is None:
        target = pick(state)
        if target is None:
            future.fail(TransferError("cannot find peer"))
            return
    if target not in state.followers or state.followers[target].stop_at:
        future.fail(TransferError(f"cannot find replication state for {target}"))
        return
    state.transfer = Transfer(target, future)
    node.events.append(TransferStarted(now, node.name, target, state.term))
    node.arm(TRANSFER, "", node.timing.election_timeout, now)
    progress(state, state.followers[target], now)


def progress(state: LeaderState, f: Follower, now: int) -> None:
    """The target's replication moved (or the transfer began): once it holds the whole log,
    TimeoutNow; until then, replication runs (and is woken if it idles)."""
    transfer = state.transfer
    if transfer is None or transfer.target != f.peer or transfer.rpc:
        return
    node = state.node
    if f.next_index <= node.storage.last_index:
        state.trigger(f, now)
        return
    transfer.rpc = node.new_rpc()
    node.messages.append(TimeoutNow(node.id, f.peer, transfer.rpc, state.term))


def on_reply(state: LeaderState, msg: TimeoutNowResponse | RpcFailure, now: int) -> bool:
    """TimeoutNow's reply or failure; False if it answers no call of this transfer."""
    transfer = state.transfer
    if transfer is None or msg.rpc != transfer.rpc:
        return False
    node = state.node
    if isinstance(msg, RpcFailure):
        error = TransferError(f"failed to make TimeoutNow RPC to {transfer.target}: {msg.reason}")
        # (The outcome names no target: the event does.)
        end(state, f"{FAILED}: TimeoutNow RPC: {msg.reason}", error)
        return True
    # Sent: wait up to another ElectionTimeout for the election to depose this leader.
    node.arm(TRANSFER, "", node.timing.election_timeout, now)
    return True


def timed_out(state: LeaderState) -> None:
    """The transfer's ElectionTimeout passed and this server still leads."""
    end(state, TIMED_OUT, TransferError("leadership transfer timeout"))


def end(state: LeaderState, outcome: str, error: RaftsimError | None = None) -> None:
    """The transfer is over: the leader lost leadership (no error: success), or it failed
    with `error`; `outcome` is what the trace says of it."""
    transfer = state.transfer
    if transfer is None:
        return
    state.transfer = None
    node = state.node
    node.disarm(TRANSFER)
    node.events.append(TransferEnded(node.now, node.name, transfer.target, outcome))
    if error is None:
        transfer.future.resolve(0)
    else:
        transfer.future.fail(error)


def timeout_now(node: RaftNode, msg: TimeoutNow, now: int) -> None:
    """The target's side, hashicorp `timeoutNow`, in any role: answer, forget the leader and
    campaign at once with the transfer flag; nothing is checked, not even the term."""
    node.messages.append(TimeoutNowResponse(node.id, msg.src, msg.rpc, node.storage.current_term))
    node.events.append(TimeoutNowReceived(now, node.name, msg.src, msg.term))
    node.set_leader("", "")
    node.become_candidate(now, by_transfer=True)
