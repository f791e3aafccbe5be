"""A server's Raft directory (`<data_dir>/server/raft/`) and what Nomad 0.5.5+ does with
it when the server starts (ring 1; spec nomad-api.md §5): the peers.info sentinel and the
manual recovery with peers.json.

The directory is anything with the four file operations of `RaftDirectory`: scenarios and
tests use `MemoryDirectory`; `raftsim serve --data-dir` hands in one on disk (ring 2, which
may do I/O). Both go through `open_raft`, so validation and recovery are one code path.
An operation that fails raises `DirectoryError` with Go's `*PathError` text
(`remove /x/peers.json: permission denied`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..core.errors import RaftsimError
from ..core.profile import Profile
from ..core.recovery import PeersJsonError, RecoveryError, read_peers_json, recover
from ..core.storage import Storage
from ..core.types import Configuration

PEERS_JSON = "peers.json"
PEERS_INFO = "peers.info"

# Nomad 0.5.5's peersInfoContent (nomad/server.go), written on a server's first start.
PEERS_INFO_TEXT = """
As of Nomad 0.5.5, the peers.json file is only used for recovery
after an outage. It should be formatted as a JSON array containing the address
and port (RPC) of each Nomad server in the cluster, like this:

["10.1.0.1:4647","10.1.0.2:4647","10.1.0.3:4647"]

Under normal operation, the peers.json file will not be present.

When Nomad starts for the first time, it will create this peers.info file and
delete any existing peers.json file so that recovery doesn't occur on the first
startup.

Once this peers.info file is present, any peers.json file will be ingested at
startup, and will set the Raft peer configuration manually to recover from an
outage. It's crucial that all servers in the cluster are shut down before
creating the peers.json file, and that all servers receive the same
configuration. Once the peers.json file is successfully ingested and applied, it
will be deleted.

Please see https://www.nomadproject.io/guides/outage.html for more information.
"""

# Nomad's log lines (spec §5), with the agent's level and subsystem prefix.
FOUND = "[INFO] nomad: found peers.json file, recovering Raft configuration..."
DELETED_AFTER_RECOVERY = "[INFO] nomad: deleted peers.json file after successful recovery"
DELETED_UNUSED = "[INFO] nomad: deleted peers.json file (see peers.info for details)"


class DirectoryError(RaftsimError):
    """A file operation failed (Go's *PathError text)."""


class StartError(RaftsimError):
    """The server could not open its Raft directory and did not start (Nomad's text)."""


class RaftDirectory(Protocol):
    """The files of one server's Raft directory, by name."""

    def exists(self, name: str) -> bool: ...
    def read(self, name: str) -> bytes: ...
    def write(self, name: str, data: bytes) -> None: ...
    def remove(self, name: str) -> None: ...


@dataclass
class MemoryDirectory:
    """A Raft directory in memory (scenarios, tests). `read_only` makes removals fail as
    a directory the server may not write would."""

    files: dict[str, bytes] = field(default_factory=dict)
    read_only: bool = False
    where: str = "raft"

    def exists(self, name: str) -> bool:
        return name in self.files

    def read(self, name: str) -> bytes:
        if name not in self.files:
            raise DirectoryError(f"open {self.where}/{name}: no such file or directory")
        return self.files[name]

    def write(self, name: str, data: bytes) -> None:
        if self.read_only:
            raise DirectoryError(f"open {self.where}/{name}: permission denied")
        self.files[name] = data

    def remove(self, name: str) -> None:
        if self.read_only:
            raise DirectoryError(f"remove {self.where}/{name}: permission denied")
        if name not in self.files:
            raise DirectoryError(f"remove {self.where}/{name}: no such file or directory")
        del self.files[name]


DirectoryFactory = Callable[[str], RaftDirectory]  # server name -> its Raft directory


def memory_directories(name: str) -> RaftDirectory:
    return MemoryDirectory(where=f"{name}/server/raft")


@dataclass(frozen=True)
class Opened:
    """What opening the directory did: Nomad's log lines, and the recovery if there was one
    (the configuration and the index up to which the log now counts as committed)."""

    lines: tuple[str, ...] = ()
    recovered: tuple[Configuration, int] | None = None


def open_raft(directory: RaftDirectory, storage: Storage, profile: Profile) -> Opened:
    """Nomad's setupRaft before NewRaft: the sentinel rule, then recovery. Raises StartError
    with Nomad's text when the server must not start; `storage` is changed only by a
    recovery that succeeded (even if deleting the file afterwards fails, as in Nomad)."""
    lines: list[str] = []
    if not directory.exists(PEERS_INFO):
        try:
            directory.write(PEERS_INFO, PEERS_INFO_TEXT.encode())
        except DirectoryError as error:
            raise StartError(f"failed to write peers.info file: {error}") from None
        # No sentinel: this is the first start (or an upgrade), and an old peers.json
        # must not be replayed. It goes, unused.
        if directory.exists(PEERS_JSON):
            try:
                directory.remove(PEERS_JSON)
            except DirectoryError as error:
                raise StartError(
                    "failed to delete peers.json, please delete manually (see peers.info "
                    f"for details): {error}"
                ) from None
            lines.append(DELETED_UNUSED)
        return Opened(tuple(lines))
    if not directory.exists(PEERS_JSON):
        return Opened()
    lines.append(FOUND)
    try:
        configuration = read_peers_json(directory.read(PEERS_JSON), profile)
    except (PeersJsonError, DirectoryError) as error:
        raise StartError(f"recovery failed to parse peers.json: {error}") from None
    try:
        index = recover(storage, configuration, profile)
    except RecoveryError as error:
        raise StartError(f"recovery failed: {error}") from None
    try:
        directory.remove(PEERS_JSON)
    except DirectoryError as error:
        raise StartError(
            "recovery failed to delete peers.json, please delete manually (see peers.info "
            f"for details): {error}"
        ) from None
    lines.append(DELETED_AFTER_RECOVERY)
    return Opened(tuple(lines), (configuration, index))
