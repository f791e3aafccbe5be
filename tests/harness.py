"""A hand-driven network of RaftNodes for unit tests: messages wait in a queue until a test
delivers or drops them, and timers fire only when a test fires them, so every interleaving
the paper draws (Fig. 8, the 2015 bug) can be played exactly, with the checkers watching."""

from __future__ import annotations

import random
from collections.abc import Iterable

from raftsim.core import (
    P1,
    Configuration,
    Fault,
    Message,
    Profile,
    RaftNode,
    Server,
    Storage,
    Suffrage,
    Timing,
)
from raftsim.core.events import EntryApplied
from raftsim.core.messages import (
    AppendEntries,
    AppendResponse,
    RequestVote,
    RpcFailure,
    VoteResponse,
)
from raftsim.sim.checkers import SafetyChecker


class Net:
    """Nodes s1..sN (ID = address, as in P1), bootstrapped with all of them as voters."""

    def __init__(
        self,
        n: int = 3,
        faults: Iterable[Fault] = (),
        profile: Profile = P1,
        timing: Timing | None = None,
        bootstrap: int | None = None,
    ) -> None:
        self.now = 0
        self.timing = timing or Timing.nomad()
        self.ids = [f"s{i}" for i in range(1, n + 1)]
        self.storages = {i: Storage() for i in self.ids}
        self.checker = SafetyChecker(0, self.storages)
        self.queue: list[Message] = []
        self.down: set[str] = set()
        self.timers: dict[tuple[str, str, str], tuple[int, int]] = {}
        self.faults = frozenset(faults)
        self.profile = profile
        members = self.ids[: bootstrap or n]
        entry = Storage.bootstrap_entry(
            Configuration(tuple(Server(Suffrage.VOTER, i, i) for i in members))
        )
        for i in members:
            self.storages[i].bootstrap(entry)
        self.nodes: dict[str, RaftNode] = {}
        for i in self.ids:
            self.boot(i)

    def boot(self, i: str) -> RaftNode:
        node = RaftNode(
            i, i, self.storages[i], self.timing, random.Random(i), self.profile, self.faults
        )
        self.nodes[i] = node
        self.checker.add_server(i)
        node.start(self.now)
        self._drain(i)
        return node

    def crash(self, i: str) -> None:
        """Lose i's volatile state, its timers and everything it had not yet sent; until it
        restarts, requests to it fail at once (connection refused)."""
        self.down.add(i)
        self.drop(src=i, fail=False)
        for key in [k for k in self.timers if k[0] == i]:
            del self.timers[key]

    def restart(self, i: str) -> RaftNode:
        self.crash(i)
        self.down.discard(i)
        return self.boot(i)

    def _step(self, m: Message) -> None:
        if m.dst in self.down:
            if isinstance(m, (AppendEntries, RequestVote)):
                self.queue.append(RpcFailure(m.dst, m.src, m.rpc, "connection refused"))
            return
        self.nodes[m.dst].step(m, self.now)
        self._drain(m.dst)

    def _drain(self, i: str) -> None:
        node = self.nodes[i]
        for event in node.events:
            self.checker.on_event(event)
        node.events.clear()
        for entry in node.applied:
            self.checker.on_event(EntryApplied(self.now, i, entry))
        node.applied.clear()
        for name, peer, due, token in node.timers:
            self.timers[(i, name, peer)] = (due, token)
        node.timers.clear()
        self.queue.extend(node.messages)
        node.messages = []

    def advance(self, us: int) -> None:
        self.now += us

    def fire(self, i: str, name: str, peer: str = "") -> bool:
        """Fire the node's current timer `name` (moving the clock to its due time if later)."""
        due, token = self.timers.pop((i, name, peer))
        self.now = max(self.now, due)
        fired = self.nodes[i].fire(name, peer, token, self.now)
        self._drain(i)
        return fired

    def timeout(self, i: str) -> None:
        """Make i (re)campaign: its polled follower timer finds no contact for HT (§3.3), or
        its candidate timer runs out (§3.4)."""
        self.now += 3 * self.timing.heartbeat_timeout
        name = "candidate" if (i, "candidate", "") in self.timers else "follower"
        self.fire(i, name)

    def take(
        self, src: str | None = None, dst: str | None = None, kind: type | None = None
    ) -> list[Message]:
        """Remove matching queued messages from the queue and return them (not delivered)."""
        taken = [
            m
            for m in self.queue
            if (src is None or m.src == src)
            and (dst is None or m.dst == dst)
            and (kind is None or isinstance(m, kind))
        ]
        self.queue = [m for m in self.queue if not any(m is t for t in taken)]
        return taken

    def deliver(
        self, src: str | None = None, dst: str | None = None, kind: type | None = None
    ) -> int:
        """Deliver the matching queued messages, in order; returns how many."""
        messages = self.take(src, dst, kind)
        for m in messages:
            self._step(m)
        return len(messages)

    def drop(
        self,
        src: str | None = None,
        dst: str | None = None,
        kind: type | None = None,
        fail: bool = True,
    ) -> int:
        """Lose matching messages; the callers of lost requests get the transport's failure
        (as hashicorp's TCP transport reports an I/O timeout), unless `fail` is False."""
        lost = self.take(src, dst, kind)
        if fail:
            for m in lost:
                if isinstance(m, (AppendEntries, RequestVote)):
                    self.queue.append(RpcFailure(m.dst, m.src, m.rpc, "i/o timeout"))
        return len(lost)

    def stabilize(self, among: Iterable[str] | None = None, rounds: int = 50) -> None:
        """Deliver messages among `among` (others' are dropped) until none are left."""
        members = set(among or self.ids)
        for _ in range(rounds):
            if not self.queue:
                return
            batch, self.queue = self.queue, []
            for m in batch:
                if m.src in members and m.dst in members:
                    self._step(m)

    def elect(self, i: str, among: Iterable[str] | None = None) -> None:
        self.timeout(i)
        self.stabilize(among)

    def win(self, i: str, among: list[str], tries: int = 6) -> bool:
        """Make i campaign until it leads, using only votes of `among`; the new leader's
        first AppendEntries stay queued. Servers that still know another leader first time
        out themselves, which is the only way a hashicorp follower forgets its leader (§3.5)."""
        for _ in range(tries):
            for j in among:
                if j != i and self.nodes[j].leader_id not in ("", i):
                    self.timeout(j)
                    self.drop(src=j)
            self.timeout(i)
            for _ in range(2):
                self.deliver_votes(among)
            if self.nodes[i].role.value == "Leader":
                return True
        return False

    def deliver_votes(self, among: Iterable[str]) -> None:
        members = set(among)
        batch = [m for m in self.queue if isinstance(m, (RequestVote, VoteResponse))]
        self.queue = [m for m in self.queue if not isinstance(m, (RequestVote, VoteResponse))]
        for m in batch:
            if m.src in members and m.dst in members:
                self._step(m)

    def violations(self) -> list[str]:
        return [v.rule for v in self.checker.violations]


__all__ = ["AppendEntries", "AppendResponse", "Net", "RequestVote", "VoteResponse"]
