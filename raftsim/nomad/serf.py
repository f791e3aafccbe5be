"""Serf-like gossip membership of the Nomad servers, in virtual time (ring 1b).

Theory of operation. Each running server has one `SerfAgent` with its own, eventually
consistent view of the members. memberlist's SWIM protocol is modelled coarsely but with
Nomad's real settings (WAN profile, `version.SerfTiming`): every ProbeInterval an agent pings
the next member of a shuffled round; without an ack within ProbeTimeout it asks up to three
others to ping it; without any ack by the end of the interval it suspects the member.
Suspicion lasts Lifeguard's timeout (30 s for clusters under 10 servers) unless the member
refutes it with a higher incarnation; then the member is dead, which Serf reports as
`failed` (or `left` after a leave intent). State changes spread by gossip (every 500 ms to up
to 4 members, each change retransmitted 4*ceil(log10(n+1)) times), by a full push/pull
exchange every 60 s, and by Serf's reconnect attempts to failed members every 30 s. Every
message is a simulated message (`host.send`, the cluster's transport), so partitions, crashes
and pauses act on gossip exactly as on Raft. Serf's intents (leave, join) are ordered by a
Lamport clock; failed members are reaped after 72 h (Nomad's setting), left ones after 24 h.

The agent tells its host about Serf events (`join`, `leave`, `failed`, `reap`), which is
what Nomad's leader reconciles Raft against (spec nomad-api.md §3.2).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

from ..sim.clock import Timer
from .errors import BROADCAST_TIMEOUT
from .version import SerfTiming

# Serf member statuses (serf.MemberStatus), as the API prints them.
ALIVE, LEAVING, LEFT, FAILED = "alive", "leaving", "left", "failed"
# memberlist node states.
M_ALIVE, M_SUSPECT, M_DEAD = "alive", "suspect", "dead"
INTENTS = ("leave", "join")

Update = tuple[str, str, int, str]  # (kind, node, incarnation or Lamport time, from)
Snapshot = tuple[tuple[str, int, str, str, int], ...]  # (node, inc, state, status, ltime)


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """What a member advertises: its Serf name, address and tags (spec §2.8)."""

    server: str  # the simulation's server name ("alice")
    name: str  # Serf member name ("alice.global")
    addr: str  # IP of the gossip address
    port: int  # gossip port (4648)
    tags: tuple[tuple[str, str], ...]  # in the order Nomad sets them
    # `<addr>:<port tag>`, the Raft/RPC address it advertises: every request that looks for
    # the leader among the members reads it.
    rpc_address: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rpc_address", f"{self.addr}:{self.tag('port') or ''}")

    def tag(self, key: str) -> str | None:
        return next((v for k, v in self.tags if k == key), None)


class SerfHost(Protocol):
    """What an agent needs from its server: time, timers, the network, and an ear."""

    @property
    def now(self) -> int: ...

    def after(self, delay: int, fn: Callable[[], None]) -> Timer: ...

    def send(self, dst: str, msg: tuple[object, ...]) -> None: ...

    def info(self, server: str) -> MemberInfo | None: ...

    def on_member_event(self, kind: str, member: Member) -> None: ...


class Suspicion:
    """Lifeguard's suspicion timer: starts at its maximum and shrinks with confirmations."""

    __slots__ = ("confirmations", "confirmed", "k", "start", "token")

    def __init__(self, start: int, k: int, origin: str, token: int) -> None:
        self.start = start
        self.k = k
        self.confirmed = {origin}
        self.confirmations = 0
        self.token = token


class Member:
    """One agent's view of one member."""

    __slots__ = (
        "changed",
        "incarnation",
        "info",
        "ltime",
        "state",
        "status",
        "status_changed",
        "suspicion",
    )

    def __init__(self, info: MemberInfo, incarnation: int, now: int) -> None:
        self.info = info
        self.incarnation = incarnation
        self.state = M_ALIVE
        self.status = ALIVE
        self.ltime = 0  # Lamport time of the last intent applied
        self.changed = now  # memberlist's StateChange (gossip to the dead for 60 s after)
        self.status_changed = now  # Serf's status change (reaping)
        self.suspicion: Suspicion | None = None


class Broadcast:
    __slots__ = ("key", "notify", "transmits", "update")

    def __init__(self, update: Update, notify: Callable[[], None] | None) -> None:
        self.update = update
        self.key = (update[0] in INTENTS, update[1])
        self.notify = notify
        self.transmits = 0


class SerfAgent:
    """One server's Serf (and memberlist) instance; see the module docstring."""

    def __init__(
        self, host: SerfHost, info: MemberInfo, timing: SerfTiming, rng: random.Random
    ) -> None:
        self.host = host
        self.info = info
        self.server = info.server
        self.timing = timing
        self.rng = rng
        self.members: dict[str, Member] = {info.server: Member(info, 0, host.now)}
        self.incarnation = 0
        self.clock = 1  # Serf's Lamport clock
        self.leaving = False
        self.queue: list[Broadcast] = []
        self._gossip_armed = False
        self._probe_order: list[str] = []
        self._probe_at = 0
        # Probes waiting for an ack: the target, and the timers that act if none comes.
        self._acks: dict[int, tuple[str, tuple[Timer, ...]]] = {}
        self._relays: dict[int, tuple[str, int, Timer]] = {}
        self._seq = 0
        self._tokens = 0

    # ------------------------------------------------------------ lifecycle

    def start(self, peers: list[MemberInfo], join: bool) -> None:
        """Start the timers. `join=False`: the cluster was formed before time 0 and every
        peer is already a live member; `join=True`: rejoin them (Serf's snapshot, or the
        server's retry_join list) with a push/pull exchange each."""
        now = self.host.now
        for info in peers:
            if not join:
                self.members[info.server] = Member(info, 0, now)
            else:
                self.host.send(info.server, ("push", self.snapshot()))
        t = self.timing
        # memberlist staggers its tickers randomly within one interval.
        self.host.after(self._stagger(t.probe_interval), self._probe_tick)
        self.host.after(self._stagger(t.push_pull_interval), self._push_pull_tick)
        self.host.after(self._stagger(t.reconnect_interval), self._reconnect_tick)

    def _stagger(self, span: int) -> int:
        return int(self.rng.random() * span)

    def alive_members(self) -> list[Member]:
        return [m for m in self.members.values() if m.status in (ALIVE, LEAVING)]

    def find(self, name: str) -> Member | None:
        return next((m for m in self.members.values() if m.info.name == name), None)

    # ------------------------------------------------------------ operator actions

    def leave(self, done: Callable[[], None]) -> None:
        """Graceful leave: a leave intent, then memberlist's own `dead` (From = itself)."""
        self.leaving = True
        own = self.members[self.server]
        self.clock += 1
        own.ltime, own.status = self.clock, LEAVING
        self._broadcast(("leave", self.server, self.clock, self.server))
        own.state, own.status = M_DEAD, LEFT
        finished = _Once(done)
        if not any(m.state != M_DEAD for s, m in self.members.items() if s != self.server):
            finished()  # memberlist does not wait when nobody else is alive
            return
        self._broadcast(("dead", self.server, self.incarnation, self.server), notify=finished)
        self.host.after(self.timing.broadcast_timeout, finished)

    def force_leave(self, name: str, done: Callable[[str], None]) -> None:
        """Serf RemoveFailedNode: a leave intent for `name`, broadcast even when unknown;
        `done('')` once transmitted, or done(error) after BroadcastTimeout (spec §2.9)."""
        ltime = self.clock
        self.clock += 1
        member = self.find(name)
        update = ("leave", member.info.server if member else "@" + name, ltime, self.server)
        if member is not None:
            self._apply(update, rebroadcast=False)
        if len(self.members) <= 1:
            done("")
            return
        finished = _Once(lambda: done(""))
        timeout = _Once(lambda: done(BROADCAST_TIMEOUT))

        def notify() -> None:
            if not timeout.fired:
                finished()

        def expire() -> None:
            if not finished.fired:
                timeout()

        self._broadcast(update, notify=notify)
        self.host.after(self.timing.broadcast_timeout, expire)

    def join(self, target: str) -> None:
        """memberlist Join: a push/pull exchange with `target` (a server name)."""
        self.host.send(target, ("push", self.snapshot()))

    # ------------------------------------------------------------ messages

    def receive(self, src: str, msg: tuple[object, ...]) -> None:
        kind = msg[0]
        if kind == "ping":
            self.host.send(src, ("ack", msg[1]))
        elif kind == "ack":
            seq = msg[1]
            assert isinstance(seq, int)
            # An acked probe's timers would find nothing to do: cancel them, so that the
            # fast-forward is not held up by them (memberlist stops its timers too).
            probe = self._acks.pop(seq, None)
            if probe is not None:
                for timer in probe[1]:
                    timer.cancel()
            relay = self._relays.pop(seq, None)
            if relay is not None:
                relay[2].cancel()
                self.host.send(relay[0], ("ack", relay[1]))
        elif kind == "ping-req":
            seq, target = msg[1], msg[2]
            assert isinstance(seq, int) and isinstance(target, str)
            self._seq += 1
            relay_seq = self._seq
            self.host.send(target, ("ping", relay_seq))
            forget = self.host.after(self.timing.probe_timeout, lambda: self._forget(relay_seq))
            self._relays[relay_seq] = (src, seq, forget)
        elif kind == "gossip":
            for update in cast(tuple[Update, ...], msg[1]):
                self._apply(update)
        elif kind in ("push", "pull"):
            if kind == "push":
                self.host.send(src, ("pull", self.snapshot()))
            self._merge(cast(Snapshot, msg[1]))

    def _forget(self, seq: int) -> None:
        self._relays.pop(seq, None)

    def snapshot(self) -> Snapshot:
        return tuple(
            (s, m.incarnation, m.state, m.status, m.ltime) for s, m in sorted(self.members.items())
        )

    # ------------------------------------------------------------ probing (SWIM)

    def _probe_tick(self) -> None:
        t = self.timing
        self.host.after(t.probe_interval, self._probe_tick)
        target = self._next_target()
        if target is None or self.leaving:
            return
        self._seq += 1
        seq = self._seq
        self.host.send(target, ("ping", seq))
        indirect = self.host.after(t.probe_timeout, lambda: self._probe_indirect(seq, target))
        failed = self.host.after(t.probe_interval, lambda: self._probe_failed(seq, target))
        self._acks[seq] = (target, (indirect, failed))

    def _next_target(self) -> str | None:
        for _ in range(len(self.members) + 1):
            if self._probe_at >= len(self._probe_order):
                self._probe_order = sorted(self.members)
                self.rng.shuffle(self._probe_order)
                self._probe_at = 0
            name = self._probe_order[self._probe_at]
            self._probe_at += 1
            member = self.members.get(name)
            if name != self.server and member is not None and member.state != M_DEAD:
                return name
        return None

    def _probe_indirect(self, seq: int, target: str) -> None:
        if seq not in self._acks:
            return
        helpers = sorted(
            s
            for s, m in self.members.items()
            if s not in (self.server, target) and m.state == M_ALIVE
        )
        for helper in self.rng.sample(helpers, min(self.timing.indirect_checks, len(helpers))):
            self.host.send(helper, ("ping-req", seq, target))

    def _probe_failed(self, seq: int, target: str) -> None:
        if self._acks.pop(seq, None) is None:
            return
        member = self.members.get(target)
        if member is not None and member.state == M_ALIVE:
            self._apply(("suspect", target, member.incarnation, self.server))

    # ------------------------------------------------------------ state changes

    def _apply(self, update: Update, rebroadcast: bool = True) -> None:
        kind, node, number, origin = update
        handler = {
            "alive": self._alive,
            "suspect": self._suspect,
            "dead": self._dead,
            "leave": self._leave_intent,
            "join": self._join_intent,
        }[kind]
        if handler(node, number, origin) and rebroadcast:
            self._broadcast(update)

    def _alive(self, node: str, incarnation: int, origin: str) -> bool:
        if node == self.server:
            return False
        member = self.members.get(node)
        if member is None:
            info = self.host.info(node)
            if info is None:
                return False
            member = self.members[node] = Member(info, incarnation, self.host.now)
            self.host.on_member_event("join", member)
            return True
        if incarnation <= member.incarnation:
            return False
        was_dead = member.state == M_DEAD
        # An alive message carries the member's address and tags: a server that came back
        # at a new IP is seen there from now on.
        member.info = self.host.info(node) or member.info
        member.incarnation, member.state, member.suspicion = incarnation, M_ALIVE, None
        member.changed = self.host.now
        if was_dead:
            self._set_status(member, ALIVE, "join")
        return True

    def _suspect(self, node: str, incarnation: int, origin: str) -> bool:
        member = self.members.get(node)
        if member is None or incarnation < member.incarnation or member.state == M_DEAD:
            return False
        if member.state == M_SUSPECT:
            # Lifeguard: an independent suspicion confirms and shortens the timer.
            s = member.suspicion
            if s is None or origin in s.confirmed or s.confirmations >= s.k:
                return False
            s.confirmed.add(origin)
            s.confirmations += 1
            self._arm_suspicion(member, s)
            return True
        if node == self.server:
            if not self.leaving:
                self._refute(incarnation)
            return False
        n = len(self.members)
        k = self.timing.suspicion_mult - 2
        if n - 2 < k:
            k = 0
        self._tokens += 1
        member.incarnation, member.state = incarnation, M_SUSPECT
        member.changed = self.host.now
        member.suspicion = Suspicion(self.host.now, k, origin, self._tokens)
        self._arm_suspicion(member, member.suspicion)
        return True

    def suspicion_timeout(self, confirmations: int, k: int) -> int:
        """memberlist suspicionTimeout and Lifeguard's remainingSuspicionTime."""
        t = self.timing
        scale = max(1.0, math.log10(max(1, len(self.members))))
        low = int(t.suspicion_mult * scale * t.probe_interval)
        if k < 1:
            return low
        high = t.suspicion_max_timeout_mult * low
        frac = math.log(confirmations + 1) / math.log(k + 1)
        return max(low, int(high - frac * (high - low)))

    def _arm_suspicion(self, member: Member, s: Suspicion) -> None:
        self._tokens += 1
        s.token = token = self._tokens
        due = s.start + self.suspicion_timeout(s.confirmations, s.k)
        node = member.info.server
        self.host.after(max(0, due - self.host.now), lambda: self._suspicion_over(node, token))

    def _suspicion_over(self, node: str, token: int) -> None:
        member = self.members.get(node)
        if member is None or member.suspicion is None or member.suspicion.token != token:
            return
        self._apply(("dead", node, member.incarnation, self.server))

    def _dead(self, node: str, incarnation: int, origin: str) -> bool:
        member = self.members.get(node)
        if member is None or incarnation < member.incarnation or member.state == M_DEAD:
            return False
        if node == self.server:
            if not self.leaving:
                self._refute(incarnation)
            return False
        member.incarnation, member.state, member.suspicion = incarnation, M_DEAD, None
        member.changed = self.host.now
        if member.status == LEAVING or origin == node:
            self._set_status(member, LEFT, "leave")
        else:
            self._set_status(member, FAILED, "failed")
        return True

    def _leave_intent(self, node: str, ltime: int, origin: str) -> bool:
        self.clock = max(self.clock, ltime + 1)  # Lamport witness
        member = self.members.get(node)
        if member is None or ltime <= member.ltime:
            return False
        if node == self.server:
            if not self.leaving:
                # "Refuting an older leave intent": a join intent at our newer time.
                self._apply(("join", node, self.clock, self.server))
            return False
        if member.status == ALIVE:
            member.status, member.ltime = LEAVING, ltime
            return True
        if member.status == FAILED:
            member.ltime = ltime
            self._set_status(member, LEFT, "leave")  # EventMemberLeave (forced)
            return True
        return False

    def _join_intent(self, node: str, ltime: int, origin: str) -> bool:
        self.clock = max(self.clock, ltime + 1)
        member = self.members.get(node)
        if member is None or ltime <= member.ltime:
            return False
        member.ltime = ltime
        if member.status == LEAVING:
            member.status = ALIVE
        return True

    def _refute(self, incarnation: int) -> None:
        self.incarnation = max(self.incarnation, incarnation) + 1
        own = self.members[self.server]
        own.incarnation, own.state = self.incarnation, M_ALIVE
        self._broadcast(("alive", self.server, self.incarnation, self.server))

    def _set_status(self, member: Member, status: str, event: str) -> None:
        member.status = status
        member.status_changed = changed = self.host.now
        if status in (FAILED, LEFT):
            t = self.timing
            span = t.reconnect_timeout if status == FAILED else t.tombstone_timeout
            node = member.info.server
            self.host.after(span, lambda: self._reap(node, changed))
        self.host.on_member_event(event, member)

    def _reap(self, node: str, changed: int) -> None:
        member = self.members.get(node)
        if (
            member is not None
            and member.status in (FAILED, LEFT)
            and member.status_changed == changed
        ):
            del self.members[node]
            self.host.on_member_event("reap", member)

    def _merge(self, snapshot: Snapshot) -> None:
        """memberlist mergeState: a remote `dead` is only a suspicion here; Serf's intents
        travel with the states."""
        for node, incarnation, state, status, ltime in snapshot:
            if node == self.server:
                if state != M_ALIVE and incarnation >= self.incarnation and not self.leaving:
                    self._refute(incarnation)
                if status in (LEAVING, LEFT):
                    self._apply(("leave", node, ltime, self.server))
                continue
            if state == M_ALIVE:
                self._apply(("alive", node, incarnation, self.server))
            elif status == LEFT:
                self._apply(("leave", node, ltime, self.server))
                self._apply(("dead", node, incarnation, node))
            else:
                self._apply(("suspect", node, incarnation, self.server))
            if status == LEAVING:
                self._apply(("leave", node, ltime, self.server))
            elif status == ALIVE:
                self._apply(("join", node, ltime, self.server))

    # ------------------------------------------------------------ dissemination

    def _broadcast(self, update: Update, notify: Callable[[], None] | None = None) -> None:
        fresh = Broadcast(update, notify)
        kept = []
        for b in self.queue:
            if b.key == fresh.key:
                if b.notify is not None:
                    b.notify()  # invalidated counts as finished, as in memberlist
            else:
                kept.append(b)
        kept.append(fresh)
        self.queue = kept
        if not self._gossip_armed:
            self._gossip_armed = True
            self.host.after(self._stagger(self.timing.gossip_interval), self._gossip)

    def _gossip(self) -> None:
        self._gossip_armed = False
        if not self.queue:
            return
        t = self.timing
        now = self.host.now
        targets = sorted(
            s
            for s, m in self.members.items()
            if s != self.server and (m.state != M_DEAD or now - m.changed <= t.gossip_to_the_dead)
        )
        limit = t.retransmit_mult * math.ceil(math.log10(len(self.members) + 1))
        for target in self.rng.sample(targets, min(t.gossip_nodes, len(targets))):
            batch = tuple(b.update for b in self.queue)
            for b in self.queue:
                b.transmits += 1
            done = [b for b in self.queue if b.transmits >= limit]
            self.queue = [b for b in self.queue if b.transmits < limit]
            self.host.send(target, ("gossip", batch))
            for b in done:
                if b.notify is not None:
                    b.notify()
            if not self.queue:
                return
        self._gossip_armed = True
        self.host.after(t.gossip_interval, self._gossip)

    def _push_pull_tick(self) -> None:
        self.host.after(self.timing.push_pull_interval, self._push_pull_tick)
        peers = sorted(s for s, m in self.members.items() if s != self.server and m.state != M_DEAD)
        if peers and not self.leaving:
            self.host.send(self.rng.choice(peers), ("push", self.snapshot()))

    def _reconnect_tick(self) -> None:
        """Serf handleReconnect: with probability failed/alive, rejoin one failed member."""
        self.host.after(self.timing.reconnect_interval, self._reconnect_tick)
        failed = sorted(s for s, m in self.members.items() if m.status == FAILED)
        if not failed or self.leaving:
            return
        alive = max(
            1,
            len(self.members)
            - len(failed)
            - sum(1 for m in self.members.values() if m.status == LEFT),
        )
        if self.rng.random() > len(failed) / alive:
            return
        self.host.send(self.rng.choice(failed), ("push", self.snapshot()))


class _Once:
    """A callback that runs at most once."""

    __slots__ = ("fired", "fn")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.fired = False

    def __call__(self) -> None:
        if not self.fired:
            self.fired = True
            self.fn()
