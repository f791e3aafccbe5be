"""Data directories on disk for `raftsim serve --data-dir DIR` (ring 2): each server's Raft
directory is `DIR/<name>/server/raft/`, as Nomad's `<data_dir>/server/raft/`, so that an
operator rehearsing an outage writes `peers.json` there with their own shell or editor.
What the server does with the files at startup is raftsim.sim.datadir's (one code path
with the scenarios' in-memory directories); this module only does the file operations,
failing with Go's `*PathError` text (`remove DIR/alice/server/raft/peers.json: permission
denied`).

Only the peers files live there: the simulated Raft log and term stay in memory, so a
directory left by an earlier serve is refused rather than half reused.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..sim.datadir import DirectoryError, RaftDirectory


def _go_error(op: str, path: Path, error: OSError) -> DirectoryError:
    text = error.strerror or str(error)
    return DirectoryError(f"{op} {path}: {text[:1].lower()}{text[1:]}")


class DiskDirectory:
    """One server's Raft directory on disk (created on first use, as Nomad's ensurePath)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self, name: str) -> bool:
        return (self.path / name).exists()

    def read(self, name: str) -> bytes:
        path = self.path / name
        try:
            return path.read_bytes()
        except OSError as error:
            raise _go_error("open", path, error) from None

    def write(self, name: str, data: bytes) -> None:
        path = self.path / name
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError as error:
            raise _go_error("open", path, error) from None

    def remove(self, name: str) -> None:
        path = self.path / name
        try:
            path.unlink()
        except OSError as error:
            raise _go_error("remove", path, error) from None


class DataDirs:
    """The data directory of a whole served cluster: one `DIR/<name>/` per server."""

    def __init__(self, root: str | Path | None = None) -> None:
        """`root` None: a fresh temporary directory, removed again by `cleanup`."""
        self.temporary = root is None
        self.root = Path(tempfile.mkdtemp(prefix="raftsim-") if root is None else root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"cannot use {self.root} as the data directory: {error}") from None
        self.made: set[str] = set()  # the server directories this serve created

    def raft(self, name: str) -> Path:
        return self.root / name / "server" / "raft"

    def check_fresh(self, names: list[str]) -> None:
        """ValueError if a server's directory already holds files: raftsim keeps the Raft
        state in memory, so a directory from an earlier serve would not match it."""
        for name in names:
            server = self.root / name
            if server.exists() and any(server.iterdir()):
                raise ValueError(
                    f"{server} is not empty: raftsim keeps Raft state in memory only, so each "
                    "serve needs fresh data directories (remove it or choose another --data-dir)"
                )

    def cleanup(self) -> None:
        """The serve is over: a temporary data directory goes; one given by the user stays."""
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)

    def recreate(self) -> None:
        """Empty data directories again for a reset: every server directory this serve made
        goes (the files an operator wrote there included), as a new cluster needs."""
        for name in sorted(self.made):
            shutil.rmtree(self.root / name, ignore_errors=True)
        self.made.clear()

    def directory(self, name: str) -> RaftDirectory:
        """Server `name`'s Raft directory, created when the server first writes to it (a
        failure then is a failed start: `failed to write peers.info file: ...`)."""
        self.made.add(name)
        return DiskDirectory(self.raft(name))
