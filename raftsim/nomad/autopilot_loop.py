"""What autopilot does on the leader (ring 1b), per release: spec nomad-api.md §3.3, as a
process in virtual time that lives as long as one term's leader loop (started when the loop
establishes leadership, stopped with it), reading the Raft configuration, the leader's
replication state (`LeaderState.progress`) and the leader's Serf view, never driving Raft
other than by membership changes.

0.8-1.3 (Consul's autopilot library): every AutopilotInterval (10 s) a dead-server pass:
"failed" are the Nomad servers of the region Serf lists `failed`, "stale" the Raft entries
whose address no such server advertises; only when failed + stale < voters/2 (integer
division) are the failed ones force-left in Serf (their leave event makes the leader's
reconcile remove them, §3.2) and the stale ones removed from Raft. Promotion concerns
protocol 3 only, which these releases do not run.

1.4+ (`hashicorp/raft-autopilot`, `NomadVersion.raft_autopilot`): the servers' health is
refreshed every ServerHealthInterval (2 s) from the Raft configuration: healthy = Serf
alive (`leaving` counts as alive), last contact with the leader within
LastContactThreshold, the leader's last log term, at most MaxTrailingLogs behind; a
server's StableSince is when its health last changed. Every AutopilotInterval (10 s) a pass
promotes the non-voters healthy for ServerStabilizationTime (not required while autopilot
has run for less than that, as the library's firstStateTime rule says), then prunes: stale
non-voters, stale voters, failed non-voters, failed voters, each step removing at most
(potentialVoters - 1)/2 voters and never leaving fewer than MinQuorum; stale ones with Raft
RemoveServer, failed ones force-left in Serf. The leader reads each follower's last contact
and match index from its own replication state (Nomad asks each server for its raft stats:
the same numbers seen from the other end); `health` is what GET
/v1/operator/autopilot/health answers (§2.5).

Virtual time has no calendar: StableSince is written as if the simulation had started at
`EPOCH_UNIX` (2025-01-01T00:00:00Z), the one place that choice is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.configuration import ChangeCommand
from ..core.types import Server, Suffrage
from .autopilot import AutopilotConfig, go_duration
from .endpoints import JSON, min_raft_protocol, raft_address
from .process import Body, Process, Sleep, Step
from .serf import ALIVE, FAILED, LEAVING, Member

if TYPE_CHECKING:
    from .agent import NomadServer

# Virtual time 0 as a calendar time (Unix seconds): 2025-01-01T00:00:00Z.
EPOCH_UNIX = 1_735_689_600
PREFIX = "nomad.autopilot: "


def rfc3339(us: int) -> str:
    """Virtual time `us` as UTC RFC 3339 rounded to the second (Go's Time.Round(time.Second):
    halves away from zero), counted from `EPOCH_UNIX`."""
    seconds = EPOCH_UNIX + (us + 500_000) // 1_000_000
    days, rest = divmod(seconds, 86_400)
    hour, rest = divmod(rest, 3_600)
    minute, second = divmod(rest, 60)
    # Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days).
    z = days + 719_468
    era, doe = divmod(z, 146_097)
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (month <= 2)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"


@dataclass(slots=True)
class ServerState:
    """raft-autopilot's ServerState of one Raft server, as of the last health refresh."""

    id: str
    name: str
    address: str
    serf_status: str  # alive|leaving|left|failed, or none without a Serf member
    version: str
    leader: bool
    voter: bool
    last_contact: int  # µs
    last_term: int
    last_index: int
    healthy: bool
    stable_since: int  # µs of virtual time


class AutopilotLoop:
    """Autopilot on one leader for one term; see the module docstring."""

    def __init__(self, server: NomadServer) -> None:
        self.server = server
        self.started = server.now  # raft-autopilot's firstStateTime
        self.states: dict[str, ServerState] = {}
        self.leader_id = ""
        body = self._raft_autopilot() if server.version.raft_autopilot else self._consul()
        self.process = Process(server, body)

    def stop(self) -> None:
        self.process.stop()

    @property
    def config(self) -> AutopilotConfig | None:
        return self.server.nomad_cluster.autopilot

    def _log(self, text: str) -> None:
        self.server.nomad_cluster.log(self.server.name, PREFIX + text)

    def _servers(self) -> list[Member]:
        """The Nomad servers of this region in the leader's Serf view, by name."""
        server = self.server
        return [
            m
            for m in sorted(server.serf.members.values(), key=lambda m: m.info.name)
            if m.info.tag("role") == "nomad" and m.info.tag("region") == server.region
        ]

    def _entries(self) -> tuple[Server, ...]:
        node = self.server.sim.node
        return node.latest.servers if node is not None else ()

    # ------------------------------------------------------------ 0.8-1.3

    def _consul(self) -> Body:
        timing = self.server.nomad_cluster.timing
        while True:
            yield Sleep(timing.autopilot_interval)
            yield from self._prune_consul()

    def _prune_consul(self) -> Step:
        """Consul autopilot's pruneDeadServers (spec §3.3, open question 8)."""
        config = self.config
        if config is None or not config.cleanup_dead_servers:
            return True
        entries = self._entries()
        stale = {s.address: s for s in entries}
        failed: list[Member] = []
        for member in self._servers():
            entry = stale.pop(raft_address(member), None)
            if member.status != FAILED:
                continue
            if entry is not None and entry.suffrage is not Suffrage.VOTER:
                self._force_leave(member, _attempt(member))  # a non-voter: at once, uncounted
            else:
                failed.append(member)
        removals = len(failed) + len(stale)
        if not removals:
            return True
        voters = sum(1 for s in entries if s.suffrage is Suffrage.VOTER)
        if removals >= voters // 2:
            self._log(f"Failed to remove dead servers: too many dead servers: {removals}/{voters}")
            return True
        for member in failed:
            self._force_leave(member, _attempt(member))
        by_id = min_raft_protocol(self.server) >= 2
        for address in sorted(stale):
            entry = stale[address]
            self._log(f"Attempting removal of stale server {entry.id} ({entry.address})")
            target = entry.id if by_id else entry.address
            yield from self._remove(target)
        return True

    # ------------------------------------------------------------ 1.4+

    def _raft_autopilot(self) -> Body:
        timing = self.server.nomad_cluster.timing
        self._refresh()  # Start updates the state once before its loops run
        start = self.server.now
        next_refresh = start + timing.server_health_interval
        next_pass = start + timing.autopilot_interval
        while True:
            yield Sleep(min(next_refresh, next_pass) - self.server.now)
            now = self.server.now
            if now >= next_refresh:
                self._refresh()
                while next_refresh <= now:  # a ticker drops the ticks it could not deliver
                    next_refresh += timing.server_health_interval
            if now >= next_pass:
                # run.go: reconcile (promotions), then pruneDeadServers, on each tick.
                yield from self._promote()
                yield from self._prune()
                while next_pass <= self.server.now:
                    next_pass += timing.autopilot_interval

    def _refresh(self) -> None:
        """raft-autopilot's updateState: every Raft server's stats and health."""
        server = self.server
        node = server.sim.node
        config = self.config
        if node is None or node.leader_state is None:
            return
        now = server.now
        storage = node.storage
        leader_term, leader_index = storage.last_term, storage.last_index
        known = {m.info.tag("id") or "": m for m in self._servers()}
        states: dict[str, ServerState] = {}
        for entry in node.latest.servers:
            member = known.get(entry.id)
            if entry.id == node.id:
                contact, term, index = 0, leader_term, leader_index
            else:
                progress = node.leader_state.progress(entry.id)
                match, seen = progress if progress is not None else (0, now)
                contact, term, index = now - seen, max(storage.term_at(match), 0), match
            status = member.status if member is not None else "none"
            healthy = config is not None and _healthy(
                status, contact, term, index, leader_term, leader_index, config
            )
            before = self.states.get(entry.id)
            stable = before.stable_since if before and before.healthy == healthy else now
            states[entry.id] = ServerState(
                id=entry.id,
                name=member.info.name if member is not None else "",
                address=entry.address,
                serf_status=status,
                version=(member.info.tag("build") or "") if member is not None else "",
                leader=entry.id == node.id,
                voter=entry.suffrage is Suffrage.VOTER,
                last_contact=contact,
                last_term=term,
                last_index=index,
                healthy=healthy,
                stable_since=stable,
            )
        self.states = states
        self.leader_id = node.id

    def _promote(self) -> Step:
        """StablePromoter: every non-voter healthy for the stabilization time becomes a voter
        (AddVoter); the pass then stops short of demotions, which it never makes anyway."""
        config = self.config
        if config is None or not self.states:
            return False
        now = self.server.now
        stabilization = config.server_stabilization_time // 1_000
        if now - self.started <= stabilization:
            stabilization = 0  # autopilot has not run that long: no server could qualify
        promoted = False
        for server_id in sorted(self.states):
            state = self.states[server_id]
            if state.voter or not state.healthy or now - state.stable_since < stabilization:
                continue
            self._log(f"Promoting server: id={state.id} address={state.address} name={state.name}")
            ok = yield from self._change(ChangeCommand.ADD_VOTER, state.id)
            if not ok:
                return True
            promoted = True
        return promoted

    def _prune(self) -> Step:
        """raft-autopilot's pruneDeadServers (spec §3.3)."""
        config = self.config
        if config is None or not config.cleanup_dead_servers:
            return True
        known = {m.info.tag("id") or "": m for m in self._servers()}
        entries = self._entries()
        # The voter registry: every Raft entry; the known ones may vote (StablePromoter).
        current = {s.id: s.suffrage is Suffrage.VOTER for s in entries}
        potential = {s.id for s in entries if s.id in known}
        stale = [s.id for s in entries if s.id not in known]
        failed = [
            s.id for s in entries if s.id in known and known[s.id].status not in (ALIVE, LEAVING)
        ]
        steps = (
            (sorted(i for i in stale if not current[i]), False),
            (sorted(i for i in stale if current[i]), False),
            (sorted(i for i in failed if not current[i]), True),
            (sorted(i for i in failed if current[i]), True),
        )
        for ids, is_failed in steps:
            chosen = _adjudicate([i for i in ids if i in current], current, potential, config)
            for server_id in chosen:
                if is_failed:
                    member = known[server_id]
                    self._force_leave(
                        member,
                        f"Attempting removal of failed server node: id={server_id} "
                        f"name={member.info.name} address={raft_address(member)}",
                    )
                else:
                    self._log(f"removing server by ID: id={server_id}")
                    yield from self._remove(server_id)
                current.pop(server_id, None)
                potential.discard(server_id)
        return True

    # ------------------------------------------------------------ actions

    def _force_leave(self, member: Member, text: str) -> None:
        """The delegate's RemoveFailedServer: Serf RemoveFailedNode, not waited for."""
        self._log(text)
        name = member.info.name

        def finished(error: str) -> None:
            if error:
                self._log(f"failed to remove server: name={name} error={error}")

        self.server.serf.force_leave(name, finished)

    def _remove(self, target: str) -> Step:
        ok = yield from self._change(ChangeCommand.REMOVE_SERVER, target)
        if ok:
            self._log(f"removed server: id={target}")
        return ok

    def _change(self, command: ChangeCommand, target: str) -> Step:
        future = yield from self.server.raft_change(command, target)
        if future.error is not None:
            self._log(f"failed to {command} {target}: {future.error}")
            return False
        return True

    # ------------------------------------------------------------ the health endpoint

    def health(self) -> JSON:
        """spec §2.5: Nomad's OperatorHealthReply from the last refresh, in its field order
        (servers in Raft configuration order: Go ranges over a map, which has none)."""
        states = list(self.states.values())
        voters = [s.id for s in states if s.voter]
        healthy_voters = sum(1 for s in states if s.voter and s.healthy)
        tolerance = max(0, healthy_voters - (len(voters) // 2 + 1))
        return {
            "Healthy": bool(states) and all(s.healthy for s in states),
            "FailureTolerance": tolerance,
            "Servers": [
                {
                    "ID": s.id,
                    "Name": s.name,
                    "Address": s.address,
                    "SerfStatus": s.serf_status,
                    "Version": s.version,
                    "Leader": s.leader,
                    "LastContact": go_duration(s.last_contact * 1_000),
                    "LastTerm": s.last_term,
                    "LastIndex": s.last_index,
                    "Healthy": s.healthy,
                    "Voter": s.voter,
                    "StableSince": rfc3339(s.stable_since),
                }
                for s in states
            ],
            "Leader": self.leader_id,
            "Voters": voters,
        }


def _attempt(member: Member) -> str:
    """Consul autopilot's log line, Go's %q of the member name."""
    return f'Attempting removal of failed server node "{member.info.name}"'


def _healthy(
    status: str,
    contact: int,
    term: int,
    index: int,
    leader_term: int,
    leader_index: int,
    config: AutopilotConfig,
) -> bool:
    """raft-autopilot's isHealthy (spec §3.3)."""
    if leader_index == 0 or leader_term == 0:
        return False  # not bootstrapped yet
    if status not in (ALIVE, LEAVING):  # Nomad's delegate: leaving counts as alive
        return False
    if contact > config.last_contact_threshold // 1_000:
        return False
    if term != leader_term:
        return False
    return index + config.max_trailing_logs >= leader_index


def _adjudicate(
    ids: list[str], current: dict[str, bool], potential: set[str], config: AutopilotConfig
) -> list[str]:
    """raft-autopilot's adjudicateRemoval: at most (potentialVoters - 1)/2 voters in one
    step, and never so many that fewer than MinQuorum potential voters remain."""
    initial = len(potential)
    removed = 0
    budget = (initial - 1) // 2
    chosen = []
    for server_id in ids:
        may_vote = server_id in potential
        if may_vote and initial - removed - 1 < config.min_quorum:
            continue
        if current.get(server_id, False) and budget < 1:
            continue
        if may_vote:
            budget -= 1
            removed += 1
        chosen.append(server_id)
    return chosen
