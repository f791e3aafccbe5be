"""Go's parsers for the identifiers of a leadership transfer's target (ring 2), with Go's
error texts, which Nomad's handler puts in its 400s (spec nomad-api.md §2.3: `id must be a
uuid: <detail>`, `address must be in IP:port format: <detail>`): hashicorp/go-uuid's
`ParseUUID` and `net/netip.ParseAddrPort` as Go 1.24 (Nomad 1.10's) has them. Both work on
the bytes of the query value, as Go strings are bytes.
"""

from __future__ import annotations

from ..nomad.errors import go_quote

_HEX = frozenset(b"0123456789abcdefABCDEF")


def _rune(byte: int) -> str:
    """fmt's %#U of a byte as a rune: `U+0067 'g'`, or `U+0000` when not printable."""
    char = chr(byte)
    return f"U+{byte:04X} '{char}'" if char.isprintable() else f"U+{byte:04X}"


def uuid_error(text: str) -> str | None:
    """go-uuid ParseUUID's error for `text`, None for a UUID."""
    data = text.encode("utf-8", "surrogateescape")
    if len(data) != 36:
        return "uuid string is wrong length"
    if any(data[i] != ord("-") for i in (8, 13, 18, 23)):
        return "uuid is improperly formatted"
    digits = data[:8] + data[9:13] + data[14:18] + data[19:23] + data[24:]
    bad = next((b for b in digits if b not in _HEX), None)
    # (encoding/hex reports the first invalid byte, in order)
    return None if bad is None else f"encoding/hex: invalid byte: {_rune(bad)}"


class _AddrError(Exception):
    """netip's parseAddrError: `ParseAddr("in"): msg`, with ` (at "rest")` if known."""

    def __init__(self, whole: str, msg: str, at: str = "") -> None:
        text = f"ParseAddr({go_quote(whole)}): {msg}"
        super().__init__(text + (f" (at {go_quote(at)})" if at else ""))


def _ipv4_fields(whole: str, part: str) -> None:
    """parseIPv4Fields over `part` (all of `whole`, or the tail of an IPv6 address)."""
    value = pos = digits = 0
    for i, char in enumerate(part):
        if "0" <= char <= "9":
            if digits == 1 and value == 0:
                raise _AddrError(whole, "IPv4 field has octet with leading zero")
            value = value * 10 + ord(char) - 48
            digits += 1
            if value > 255:
                raise _AddrError(whole, "IPv4 field has value >255")
        elif char == ".":
            if i == 0 or i == len(part) - 1 or part[i - 1] == ".":
                raise _AddrError(whole, "IPv4 field must have at least one digit", part[i:])
            if pos == 3:
                raise _AddrError(whole, "IPv4 address too long")
            pos, value, digits = pos + 1, 0, 0
        else:
            raise _AddrError(whole, "unexpected character", part[i:])
    if pos < 3:
        raise _AddrError(whole, "IPv4 address too short")


def _ipv6(whole: str) -> None:
    """parseIPv6: hex groups, one `::`, an embedded IPv4 tail, a `%zone`."""
    s, percent, zone = whole.partition("%")
    if percent and not zone:
        raise _AddrError(whole, "zone must be a non-empty string")
    ellipsis = -1
    if s.startswith("::"):
        ellipsis, s = 0, s[2:]
        if not s:
            return
    i = 0
    while i < 16:
        off = acc = 0
        while off < len(s) and s[off] in "0123456789abcdefABCDEF":
            acc = acc * 16 + int(s[off], 16)
            if off > 3:
                raise _AddrError(whole, "each group must have 4 or less digits", s)
            if acc > 0xFFFF:
                raise _AddrError(whole, "IPv6 field has value >=2^16", s)
            off += 1
        if off == 0:
            raise _AddrError(whole, "each colon-separated field must have at least one digit", s)
        if off < len(s) and s[off] == ".":
            if ellipsis < 0 and i != 12:
                raise _AddrError(
                    whole, "embedded IPv4 address must replace the final 2 fields of the address", s
                )
            if i + 4 > 16:
                raise _AddrError(
                    whole,
                    "too many hex fields to fit an embedded IPv4 at the end of the address",
                    s,
                )
            _ipv4_fields(whole, s)
            s, i = "", i + 4
            break
        i += 2
        s = s[off:]
        if not s:
            break
        if s[0] != ":":
            raise _AddrError(whole, "unexpected character, want colon", s)
        if len(s) == 1:
            raise _AddrError(whole, "colon must be followed by more characters", s)
        s = s[1:]
        if s[0] == ":":
            if ellipsis >= 0:
                raise _AddrError(whole, "multiple :: in address", s)
            ellipsis, s = i, s[1:]
            if not s:
                break
    if s:
        raise _AddrError(whole, "trailing garbage after address", s)
    if i < 16 and ellipsis < 0:
        raise _AddrError(whole, "address string too short")
    if i >= 16 and ellipsis >= 0:
        raise _AddrError(whole, "the :: must expand to at least one field of zeros")


def _parse_addr(text: str) -> bool:
    """netip.ParseAddr; True for an IPv6 address (raises _AddrError)."""
    for char in text:
        if char == ".":
            _ipv4_fields(text, text)
            return False
        if char == ":":
            _ipv6(text)
            # An IPv4-mapped address (`::ffff:1.2.3.4`) is still IPv6 to netip.
            return True
        if char == "%":
            raise _AddrError(text, "missing IPv6 address")
    raise _AddrError(text, "unable to parse IP")


def addr_port_error(text: str) -> str | None:
    """netip.ParseAddrPort's error for `text`, None for a valid `IP:port`."""
    colon = text.rfind(":")
    if colon < 0:
        return "not an ip:port"
    ip, port = text[:colon], text[colon + 1 :]
    if not ip:
        return "no IP"
    if not port:
        return "no port"
    bracketed = ip.startswith("[")
    if bracketed:
        if len(ip) < 2 or not ip.endswith("]"):
            return "missing ]"
        ip = ip[1:-1]
    if not port.isascii() or not port.isdigit() or int(port) > 0xFFFF:
        return f"invalid port {go_quote(port)} parsing {go_quote(text)}"
    try:
        is6 = _parse_addr(ip)
    except _AddrError as error:
        return str(error)
    if bracketed and not is6:
        return (
            f"invalid ip:port {go_quote(text)}, square brackets can only be used with IPv6 "
            "addresses"
        )
    if not bracketed and is6:
        return (
            f"invalid ip:port {go_quote(text)}, IPv6 addresses must be surrounded by square "
            "brackets"
        )
    return None
