"""The RPCs servers exchange (paper Fig. 2, hashicorp/raft `commands.go`), and the transport's
failure notice. Ring 0: plain slotted classes, shared by reference, never mutated after send.

hashicorp/raft's RPCs are synchronous request/response calls over TCP, so every request
carries an `rpc` number that its response (or the transport's `RpcFailure`) echoes.
A heartbeat is an AppendEntries carrying only term and leader (§3.7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .types import Configuration, Entry


@dataclass(slots=True, eq=False)
class RequestVote:
    src: str
    dst: str
    rpc: int
    term: int
    last_index: int
    last_term: int
    # hashicorp `LeadershipTransfer` (v1.1.0+): the candidate was told to campaign by the
    # leader (TimeoutNow), so voters that know that leader still vote (§3.5 step 2).
    transfer: bool = False


@dataclass(slots=True, eq=False)
class VoteResponse:
    src: str
    dst: str
    rpc: int
    term: int
    granted: bool


@dataclass(slots=True, eq=False)
class AppendEntries:
    src: str
    dst: str
    rpc: int
    term: int
    leader_address: str
    prev_index: int
    prev_term: int
    entries: Sequence[Entry]
    commit: int
    heartbeat: bool


@dataclass(slots=True, eq=False)
class AppendResponse:
    src: str
    dst: str
    rpc: int
    term: int
    last_log: int
    success: bool
    no_retry_backoff: bool
    # Echoes the request's flag: the reply travels back on the heartbeat loop's own
    # connection (the simulated network keeps one per loop, as hashicorp's transport does).
    heartbeat: bool = False


@dataclass(slots=True, eq=False)
class InstallSnapshot:
    """The leader's snapshot for a follower whose next entry it has compacted away
    (hashicorp `InstallSnapshotRequest`; the state machine's data is not modelled)."""

    src: str
    dst: str
    rpc: int
    term: int
    leader_address: str
    last_index: int
    last_term: int
    configuration: Configuration
    configuration_index: int


@dataclass(slots=True, eq=False)
class InstallSnapshotResponse:
    src: str
    dst: str
    rpc: int
    term: int
    success: bool


@dataclass(slots=True, eq=False)
class RequestPreVote:
    """A would-be candidate asks whether it could win `term` (its own term + 1) before it
    raises its term (hashicorp `RequestPreVoteRequest`, §3.6)."""

    src: str
    dst: str
    rpc: int
    term: int
    last_index: int
    last_term: int


@dataclass(slots=True, eq=False)
class PreVoteResponse:
    src: str
    dst: str
    rpc: int
    term: int  # the voter's current term
    granted: bool


@dataclass(slots=True, eq=False)
class TimeoutNow:
    """The leader's order to the target of a leadership transfer to campaign at once
    (hashicorp `TimeoutNowRequest`, §3.9)."""

    src: str
    dst: str
    rpc: int
    term: int


@dataclass(slots=True, eq=False)
class TimeoutNowResponse:
    src: str
    dst: str
    rpc: int
    term: int


@dataclass(slots=True, eq=False)
class RpcFailure:
    """The caller's transport gave up on `rpc`: refused at once (crashed peer) or timed out."""

    src: str  # the peer that was called
    dst: str  # the caller, who receives this notice
    rpc: int
    reason: str


Message = (
    RequestVote
    | VoteResponse
    | AppendEntries
    | AppendResponse
    | InstallSnapshot
    | InstallSnapshotResponse
    | RequestPreVote
    | PreVoteResponse
    | TimeoutNow
    | TimeoutNowResponse
    | RpcFailure
)

# Replies and failure notices: every role may receive one late, after changing roles (a
# step function drops them rather than raise UnhandledMessageError).
REPLIES = frozenset(
    {
        AppendResponse,
        VoteResponse,
        InstallSnapshotResponse,
        TimeoutNowResponse,
        PreVoteResponse,
        RpcFailure,
    }
)
