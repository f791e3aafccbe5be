"""Manual recovery with peers.json (ring 0): hashicorp/raft's `ReadPeersJSON` and
`RecoverCluster`, as Nomad 0.5.5+ runs them at startup (spec nomad-api.md §5,
raft-semantics.md §2.4).

`read_peers_json` turns the bytes of a protocol-1 or -2 file (a JSON array of `IP:port` Raft
addresses: voters whose ID is their address) or of a protocol-3 file (objects with `id`,
`address`, `non_voter`) into a configuration, or raises `PeersJsonError` with the text Go's
decoder or `checkConfiguration` gives. `recover` then
does what RecoverCluster does to a server's durable state: the configuration is replaced,
every entry in the log counts as committed (the library applies them all to a fresh FSM
and snapshots it), and the current term is kept.

The simulation keeps no snapshots, so the recovery is recorded in `Storage.recovered` as
(index, configuration): the point a snapshot would cover and the configuration it would
carry. The log itself stays, so a leader can still replicate it to servers that join later
(where hashicorp would send that snapshot instead).
"""

from __future__ import annotations

import json
from typing import NoReturn

from .configuration import check_configuration
from .errors import ConfigurationError, RaftsimError
from .profile import Profile
from .storage import Storage
from .types import Configuration, Server, Suffrage

# What RecoverCluster answers on a server with no state at all (hashicorp/raft api.go).
NO_STATE = "refused to recover cluster with no initial state, this is probably an operator error"


class PeersJsonError(RaftsimError):
    """peers.json could not be read into a valid configuration (Go's text)."""


class RecoveryError(RaftsimError):
    """RecoverCluster refused (Go's text)."""


# Go's encoding/json names a JSON value's kind this way in an UnmarshalTypeError.
_KINDS = ((bool, "bool"), (str, "string"), (int, "number"), (float, "number"))


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return next(name for cls, name in _KINDS if isinstance(value, cls))


def _reject_constant(name: str) -> NoReturn:
    # Python's json accepts NaN and Infinity; Go's scanner stops at their first letter.
    raise json.JSONDecodeError("Expecting value", name, 0)


def _syntax_error(text: str, error: json.JSONDecodeError) -> str:
    """Go's text for a malformed document, as near as the Python decoder's report allows:
    the offending character and what the scanner was looking for, or `unexpected EOF`."""
    pos = error.pos
    if error.msg == "Expecting value" and error.doc != text:  # NaN / Infinity
        pos = text.find(error.doc)
    if pos >= len(text) or error.msg.startswith("Unterminated string"):
        return "unexpected EOF"
    char = text[pos]
    quoted = "'\\''" if char == "'" else f"'{char}'"
    context = "looking for beginning of value"
    if error.msg.startswith("Expecting ',' delimiter"):
        context = (
            "after array element" if _innermost(text, pos) == "[" else "after object key:value pair"
        )
    elif error.msg.startswith("Expecting ':' delimiter"):
        context = "after object key"
    elif error.msg.startswith("Expecting property name"):
        context = "looking for beginning of object key string"
    elif error.msg.startswith("Invalid control character"):
        context = "in string literal"
    return f"invalid character {quoted} {context}"


def _innermost(text: str, pos: int) -> str:
    """The bracket that encloses `pos` (strings skipped): '[' or '{'."""
    stack: list[str] = []
    in_string = escaped = False
    for char in text[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            stack.append(char)
        elif char in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else "["


def _decode_first(data: bytes) -> object:
    """json.NewDecoder(...).Decode: the first JSON value of the file (anything after it is
    never read), or PeersJsonError with Go's syntax error."""
    text = data.decode("utf-8", errors="replace")  # Go puts U+FFFD for invalid UTF-8 too
    start = len(text) - len(text.lstrip(" \t\r\n"))
    if start == len(text):
        raise PeersJsonError("EOF")
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    try:
        value, _end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as error:
        raise PeersJsonError(_syntax_error(text, error)) from None
    except RecursionError:
        raise PeersJsonError("exceeded max depth") from None
    return value


def _decode_strings(data: bytes) -> list[str]:
    """Decode(&peers) with `var peers []string`: `null` as no peers, a `null` element as ""
    (Go leaves the zero value), and the first type mismatch as the error."""
    value = _decode_first(data)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PeersJsonError(
            f"json: cannot unmarshal {_kind(value)} into Go value of type []string"
        )
    peers: list[str] = []
    mismatch = ""
    for item in value:
        if item is None or isinstance(item, str):
            peers.append(item or "")
        else:
            # Go decodes on and reports the first mismatch at the end: same outcome.
            mismatch = mismatch or _kind(item)
            peers.append("")
    if mismatch:
        raise PeersJsonError(f"json: cannot unmarshal {mismatch} into Go value of type string")
    return peers


# hashicorp/raft's configEntry: JSON key, Go type as errors name it, and the Python type.
_ENTRY_FIELDS = (
    ("id", "raft.ServerID", str),
    ("address", "raft.ServerAddress", str),
    ("non_voter", "bool", bool),
)


def _decode_entries(data: bytes) -> list[Server]:
    """Decode(&peers) with `var peers []configEntry` (hashicorp/raft ReadConfigJSON): keys
    matched as encoding/json matches them (exactly, else ignoring case; others ignored, the
    last of duplicates wins), `null` leaving the zero value, and the first type mismatch
    reported once everything is decoded, as Go's decoder does."""
    value = _decode_first(data)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PeersJsonError(
            f"json: cannot unmarshal {_kind(value)} into Go value of type []raft.configEntry"
        )
    servers: list[Server] = []
    mismatch = ""
    for item in value:
        fields: dict[str, object] = {"id": "", "address": "", "non_voter": False}
        if isinstance(item, dict):
            for key, field_value in item.items():
                name = key if key in fields else key.casefold()
                found = next((f for f in _ENTRY_FIELDS if f[0] == name), None)
                if found is None or field_value is None:
                    continue
                if type(field_value) is not found[2]:
                    mismatch = mismatch or (
                        f"json: cannot unmarshal {_kind(field_value)} into Go struct field "
                        f"configEntry.{found[0]} of type {found[1]}"
                    )
                    continue
                fields[found[0]] = field_value
        elif item is not None:
            mismatch = mismatch or (
                f"json: cannot unmarshal {_kind(item)} into Go value of type raft.configEntry"
            )
        suffrage = Suffrage.NONVOTER if fields["non_voter"] else Suffrage.VOTER
        servers.append(Server(suffrage, str(fields["id"]), str(fields["address"])))
    if mismatch:
        raise PeersJsonError(mismatch)
    return servers


def read_peers_json(data: bytes, profile: Profile) -> Configuration:
    """The peers.json reader Nomad's setupRaft picks by Raft protocol, validated as any
    configuration is (§2.4); PeersJsonError with Go's text otherwise.

    Protocols 1 and 2, hashicorp/raft ReadPeersJSON: an array of `IP:port` strings, every
    one a voter whose ID is its address. Protocol 3 (Nomad 0.9.2+), ReadConfigJSON: an
    array of objects `{"id": ..., "address": ..., "non_voter": ...}` (spec nomad-api.md
    §5); the old format there is refused by the decoder, as Nomad refuses it."""
    if profile.raft_protocol >= 3:
        configuration = Configuration(tuple(_decode_entries(data)))
    else:
        peers = _decode_strings(data)
        configuration = Configuration(tuple(Server(Suffrage.VOTER, p, p) for p in peers))
    try:
        check_configuration(configuration, profile)
    except ConfigurationError as error:
        raise PeersJsonError(str(error)) from None
    return configuration


def recover(storage: Storage, configuration: Configuration, profile: Profile) -> int:
    """RecoverCluster on a stopped server's durable state; returns the recovery point (the
    last index, which a snapshot would cover). The term and the log are kept."""
    try:
        check_configuration(configuration, profile)
    except ConfigurationError as error:
        raise RecoveryError(str(error)) from None
    if storage.is_empty() and storage.recovered is None:
        raise RecoveryError(NO_STATE)
    storage.recovered = (storage.last_index, configuration)
    return storage.last_index
