"""The known flapping of hashicorp/raft (ring 2), a faithful non-convergence of a schedule's
settling (docs/campaigns.md), recognised by a precise rule: `known_flapping`, from what a
`FlapWatch` noted while the schedule settled.

Leaders keep being elected and deposed: a server that is no voter of the leader's latest
configuration (under P1/P2 a removed server or a stale nonvoter, under P3 one removed
before it received its removal) keeps campaigning in higher terms, which reach the leader
only through replication replies, so the leader steps down without adopting the term and
wins again in the next one. The other known non-convergence, protocol 3's stale-voter
deadlock, is deadlock.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..core.events import Event, LeaseLost, RoleChanged, TermChanged
from ..core.types import Role
from ..sim.cluster import Cluster


@dataclass(frozen=True, slots=True)
class Deposition:
    """A leader turned follower while settling."""

    time: int
    server: str  # its id
    term: int  # the term it led (and still holds)
    # Deposed by a reply carrying a higher term: no lease loss, its term kept, and a server
    # at a higher term, of its configuration or a removed one still answering the last
    # replication round (hashicorp handleStaleTerm, spec §3.7).
    stale_reply: bool
    voters: frozenset[str]  # the voters of its latest configuration


@dataclass(frozen=True, slots=True)
class Campaign:
    """A server became candidate while settling."""

    time: int
    server: str  # its id
    term: int
    asks: frozenset[str]  # the voters of its own latest configuration: whom it asks


class FlapWatch:
    """A cluster listener noting, while a schedule settles, each leader's deposition and
    each campaign, with what the servers' state says about them at that instant (events
    reach listeners once the node has handled the message or timer that caused them)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.depositions: list[Deposition] = []
        self.campaigns: list[Campaign] = []
        self.roles = {n: s.node.role for n, s in cluster.servers.items() if s.node is not None}
        self.lease_lost: dict[str, int] = {}

    def __call__(self, event: Event) -> None:
        kind = type(event)
        if kind is LeaseLost:
            self.lease_lost[event.server] = event.time
        elif kind is TermChanged:
            # A candidate whose election timed out campaigns again in the next term
            # without a role change; one that stepped down for a higher term is a
            # follower by now.
            node = self.cluster.servers[event.server].node
            candidate = self.roles.get(event.server) is Role.CANDIDATE
            if candidate and node is not None and node.role is not Role.FOLLOWER:
                self._campaign(event)
        elif kind is RoleChanged:
            assert isinstance(event, RoleChanged)
            before = self.roles.get(event.server)
            self.roles[event.server] = event.role
            if before is Role.LEADER:
                self._deposed(event)
            if event.role is Role.CANDIDATE:
                self._campaign(event)

    def _campaign(self, event: Event) -> None:
        server = self.cluster.servers[event.server]
        if server.node is not None:
            asks = frozenset(server.node.latest.voters())
            term = server.storage.current_term
            self.campaigns.append(Campaign(event.time, server.id, term, asks))

    def _deposed(self, event: RoleChanged) -> None:
        server = self.cluster.servers[event.server]
        if server.node is None:
            return  # (crashed: settling crashes nobody)
        latest = server.node.latest
        # The higher term may come from a member, or from a removed server still answering
        # the last replication round the leader owes it (hashicorp replicateTo on stopCh).
        higher = any(
            other.storage.current_term > event.term for other in self.cluster.servers.values()
        )
        stale = (
            self.lease_lost.get(event.server) != event.time
            and server.storage.current_term == event.term
            and server.id in latest.ids()
            and higher
        )
        voters = frozenset(latest.voters())
        self.depositions.append(Deposition(event.time, server.id, event.term, stale, voters))


def known_flapping(
    depositions: Sequence[Deposition],
    campaigns: Sequence[Campaign],
    rounds: int = 2,
) -> bool:
    """Whether a schedule that did not converge shows exactly the known hashicorp/raft
    non-convergence of docs/campaigns.md ("93 schedules did not become stable"), judged on
    what the end of its settling (schedules.FLAP_WINDOW) showed: `depositions` and `campaigns` seen
    then. All of:

    1. leaders keep being elected and deposed: at least `rounds` depositions (two; one
       when the schedule became stable and the quiet window after it saw the round start
       again: the same mechanism, caught at its first repetition);
    2. every deposition is by a stale-term replication reply: the leader steps down
       without adopting the higher term of a server of its own configuration (no lease
       loss, no removal of itself);
    3. for every deposition, a server that is not a voter of that leader's latest
       configuration campaigned in the window with a higher term, asking the voters of its
       own configuration: the terms it inflates reach the leader only through replies (if
       it asks the leader too, leader stickiness refuses without adopting the term, spec
       §3.5 step 2), so the leader wins again in term + 1 and the round repeats.

    Under P1 and P2 the campaigner is a removed server that holds its removal, or a
    nonvoter whose own configuration is stale (§2.8). Under P3 those stay quiet, but a
    server removed before it ever received its removal still believes it is a voter and
    campaigns, and a server whose stale configuration still lists it adopts its terms
    (§2.9 refuses only candidates outside the voter's own latest configuration): the same
    rounds. Anything else that does not converge (no leader at all, a leader that stays but
    never brings a member up to date, a deposition for another reason) is not this."""
    if len(depositions) < rounds:
        return False
    for deposition in depositions:
        if not deposition.stale_reply:
            return False
        if not any(
            c.term > deposition.term and c.server not in deposition.voters for c in campaigns
        ):
            return False
    return True
