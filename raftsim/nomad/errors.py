"""The errors a simulated Nomad server answers with (ring 1b), and the texts of spec
nomad-api.md that the HTTP layer must reproduce byte for byte.

A `NomadError` is an answer, like an RPC error travelling back to the HTTP agent: it carries
the text and the status the agent's HTTP wrapper would give it (spec §1 "Error bodies": 500
unless the handler coded it). `ServerGoneError` is not an answer at all: the server that took
the request stopped, so its connection closes without a response.
"""

from __future__ import annotations

from ..core.errors import RaftsimError

NO_LEADER = "No cluster leader"  # structs.ErrNoLeader, spec §3.1
NO_REGION_PATH = "No path to region"  # structs.ErrNoRegionPath, spec §3.1
RPC_PREFIX = "rpc error: "  # the connection pool's wrapping of remote errors, spec §1
BROADCAST_TIMEOUT = "timed out broadcasting node removal"  # Serf RemoveFailedNode


class NomadError(RaftsimError):
    """An error answer of a Nomad server; `code` is the HTTP status it becomes."""

    def __init__(self, text: str, code: int = 500) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


class ServerGoneError(RaftsimError):
    """The server that received the request stopped before answering (connection closed)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not running")
        self.name = name


def go_quote(text: str) -> str:
    """Go's `%q` (strconv.Quote) of a string, as Nomad's error texts use it (spec §2.2)."""
    out = ['"']
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    escapes |= {"\v": "\\v", '"': '\\"', "\\": "\\\\"}
    for ch in text:
        code = ord(ch)
        if ch in escapes:
            out.append(escapes[ch])
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")  # an undecodable byte (surrogateescape)
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)
