"""The errors a simulated Nomad server answers with (ring 1b), and the texts of spec
nomad-api.md that the HTTP layer must reproduce byte for byte.

A `NomadError` is an answer, like an RPC error travelling back to the HTTP agent: it carries
the text and its `Kind`, what the error means. Which HTTP status a kind becomes is the HTTP
edge's business (ring 2, spec §1 "Error bodies"), not this ring's. `ServerGoneError` is not
an answer at all: the server that took the request stopped, so its connection closes without
a response.
"""

from __future__ import annotations

from enum import Enum

from ..core.errors import RaftsimError

NO_LEADER = "No cluster leader"  # structs.ErrNoLeader, spec §3.1
# structs.ErrNotReadyForConsistentReads (0.10+), spec §3.1: a leader whose leader loop has
# not yet established leadership held a request for the whole RPCHoldTimeout.
NOT_READY = "Not ready to serve consistent reads"
NO_REGION_PATH = "No path to region"  # structs.ErrNoRegionPath, spec §3.1
RPC_PREFIX = "rpc error: "  # the connection pool's wrapping of remote errors, spec §1
BROADCAST_TIMEOUT = "timed out broadcasting node removal"  # Serf RemoveFailedNode
# AgentForceLeaveRequest's 400 (spec §2.9): the agent's own check, which from 0.7 comes
# after the ACL check, so with ACLs on the server answers it.
MISSING_NODE = "missing node to force leave"


class Kind(Enum):
    """What an error answer means to the client that asked."""

    # Whatever the RPC layer answers, even "address ... was not found": Nomad 0.5.x codes
    # none of its RPC errors, so all of them mean "the server failed the request".
    INTERNAL = "internal"
    # The agent's own checks before any RPC (Go's CodedError in command/agent):
    BAD_REQUEST = "bad request"  # an argument is missing or does not parse
    NOT_FOUND = "not found"  # no operation under a known prefix (OperatorRequest)
    WRONG_METHOD = "wrong method"  # the operation exists, not for this method
    # An ACL refusal as the HTTP agent's `wrap` recognises it (0.7+): by the suffix of an
    # RPC error's text, `rpc error: ` prefix or not (spec §1 "Error bodies" rule 3).
    FORBIDDEN = "forbidden"
    # A server's coded RPC error (0.11+ `structs.NewErrRPCCoded`, spec §1 rule 2) with 503.
    UNAVAILABLE = "unavailable"


class NomadError(RaftsimError):
    """An error answer of a Nomad server: its text, byte for byte, and what it means."""

    def __init__(self, text: str, kind: Kind = Kind.INTERNAL) -> None:
        super().__init__(text)
        self.text = text
        self.kind = kind


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


def is_coded(error: RaftsimError) -> bool:
    """A server's coded RPC error (a NomadError with its own status), which a forwarding
    server passes on as it is from 0.11 instead of prefixing `rpc error: `."""
    return isinstance(error, NomadError) and error.kind is not Kind.INTERNAL
