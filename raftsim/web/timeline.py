"""The console timeline of `raftsim serve` (ring 2): one line per significant event as it
happens, stamped with the virtual time, so an operator rehearsing an outage sees what their
calls did (`--quiet` turns it off).

A listener on the cluster's typed events (`Cluster.listeners`), and on the requests the
servers' APIs answer (`NomadCluster.api_listeners`, which reach it whatever the trace level).
Shown: a leader elected or lost; a leader appending a configuration and committing it, with
its index; a server crashed, restarted, started, paused, resumed or failing to start; Nomad's
data-directory log lines and a recovery from peers.json; partitions, cuts, heals and link
conditions; a change of a Serf member's status (once, however many servers see it); an API
write (peer removal, leadership transfer, autopilot configuration, force-leave, join) and
its answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..core.events import ConfigurationChanged, Event, RoleChanged
from ..core.types import Role
from ..nomad.events import MemberChanged, RequestAnswered
from ..sim import events as sim
from ..sim.render import fmt_configuration, fmt_detail

if TYPE_CHECKING:
    from .simulation import Simulation

# The API calls that change something (the rest are reads).
WRITES = {
    "Operator.RaftRemovePeerByAddress": "remove-peer",
    "Operator.RaftRemovePeerByID": "remove-peer",
    "Operator.TransferLeadershipToPeer": "transfer-leadership",
    "Operator.AutopilotSetConfiguration": "autopilot-configuration",
    "Agent.ForceLeave": "force-leave",
    "Agent.Join": "join",
}
PROCESS = {
    sim.ServerCrashed: "crashed",
    sim.ServerRestarted: "restarted",
    sim.ServerStarted: "started (new, empty)",
    sim.ServerPaused: "paused",
    sim.ServerResumed: "resumed",
    sim.Healed: "network healed",
}


def fmt_clock(us: int) -> str:
    """Virtual time as seconds with milliseconds: `  12.345s`."""
    return f"{us // 1_000_000:>5}.{us // 1000 % 1000:03d}s"


class Timeline:
    """Writes one line per significant event through `write` (print, by default)."""

    def __init__(self, simulation: Simulation, write: Callable[[str], None] | None = None) -> None:
        self.sim = simulation
        self.write = write or (lambda line: print(line, flush=True))
        self._roles: dict[str, Role] = {}
        self._latest: dict[str, int] = {}  # leader -> the latest index it announced
        self._committed: dict[str, int] = {}  # leader -> the committed index it announced
        self._members: dict[str, str] = {}  # Serf member -> the status last shown
        simulation.listen(self.on_event)  # (kept across a reset or replay)
        simulation.nomad.api_listeners.append(self.on_request)
        simulation.rebuilds.append(self._rebuilt)

    def _rebuilt(self) -> None:
        """A reset or replay built a new cluster: follow its Nomad layer's requests too."""
        self._roles.clear()
        self._latest.clear()
        self._committed.clear()
        self._members.clear()
        self.sim.nomad.api_listeners.append(self.on_request)

    def _line(self, event: Event, text: str) -> None:
        self.write(f"{fmt_clock(event.time)}  {event.server:<6}  {text}")

    def on_event(self, event: Event) -> None:
        if event.message_level:
            return  # (messages and timers, reported while the page draws them: none shown)
        names = self.sim.cluster.names

        def show(server_id: str) -> str:
            return names.get(server_id, server_id)

        match event:
            case RoleChanged(role=role, term=term):
                before = self._roles.get(event.server)
                self._roles[event.server] = role
                if role is Role.LEADER:
                    # What it holds already was announced when it was appended.
                    view = self.sim.cluster.view(event.server)
                    self._latest[event.server] = view.latest_index
                    self._committed[event.server] = view.committed_index
                    self._line(event, f"leader elected (term {term})")
                elif before is Role.LEADER:
                    self._line(event, f"leader lost: now {role.value.lower()} (term {term})")
            case ConfigurationChanged():
                if self._roles.get(event.server) is Role.LEADER:
                    self._configuration(event, show)
            case sim.ServerCrashed() if self._roles.pop(event.server, None) is Role.LEADER:
                self._line(event, "crashed (it was the leader: leader lost)")
            case sim.StartFailed(error=error):
                self._line(event, f"did not start: {error}")
            case sim.NomadLogged(line=line):
                self._line(event, line)
            case sim.Recovered(configuration=configuration, index=index):
                servers = fmt_configuration(configuration, show)
                self._line(
                    event,
                    f"recovered from peers.json: configuration {servers}, log committed up "
                    f"to index {index}",
                )
            case sim.ClusterReset():
                self._line(event, f"{fmt_detail(event, show)}".strip() or "reset")
            case sim.Partitioned() | sim.LinkCut() | sim.NetworkChanged():
                self._line(event, f"{event.kind} {fmt_detail(event, show)}")
            case MemberChanged(member=member, status=status):
                if self._members.get(member) != status:
                    self._members[member] = status
                    self._line(event, f"serf: {member} is {status} ({event.change})")
            case _:
                text = PROCESS.get(type(event))
                if text is not None:
                    self._line(event, text)

    def on_request(self, event: Event) -> None:
        """An API request's events, whatever the trace level (`api_listeners`; the cluster's
        listeners see them too while messages are traced, and `on_event` leaves them)."""
        if type(event) is RequestAnswered and event.method in WRITES:
            # (A join answers 200 even when it joined nobody: its error is in the body.)
            method, error = event.method, event.error
            outcome = f"error: {error}" if error else "answered" if method == "Agent.Join" else "ok"
            self._line(event, f"API {WRITES[method]}: {outcome}")

    def _configuration(self, event: ConfigurationChanged, show: Callable[[str], str]) -> None:
        """A leader's configuration entry appended (latest moved on) or committed."""
        leader = event.server
        servers = fmt_configuration(event.latest, show)
        if event.latest_index > self._latest.get(leader, 0):
            self._latest[leader] = event.latest_index
            if event.committed_index < event.latest_index:
                self._line(event, f"configuration {servers} appended at index {event.latest_index}")
        committed = event.committed_index
        if committed == event.latest_index and committed > self._committed.get(leader, 0):
            self._committed[leader] = committed
            self._line(event, f"configuration {servers} committed at index {committed}")
