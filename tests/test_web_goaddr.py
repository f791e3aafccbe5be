"""Go's parsers behind transfer-leadership's 400s (raftsim/web/goaddr.py; spec nomad-api.md
§2.3): hashicorp/go-uuid ParseUUID and Go 1.24's net/netip.ParseAddrPort, whose error texts
Nomad 1.10 puts after `id must be a uuid: ` and `address must be in IP:port format: `."""

from __future__ import annotations

import pytest

from raftsim.web.goaddr import addr_port_error, uuid_error


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("127.0.0.1:4647", None),
        ("[::1]:4647", None),
        ("[fe80::1%eth0]:4647", None),
        ("[::ffff:1.2.3.4]:1", None),
        ("[::]:0", None),
        ("x", "not an ip:port"),
        ("127.0.0.1", "not an ip:port"),
        (":4647", "no IP"),
        ("127.0.0.1:", "no port"),
        ("[::1:4647", "missing ]"),
        ("1.2.3.4:x", 'invalid port "x" parsing "1.2.3.4:x"'),
        ("1.2.3.4:65536", 'invalid port "65536" parsing "1.2.3.4:65536"'),
        ("1.2.3.4:+1", 'invalid port "+1" parsing "1.2.3.4:+1"'),
        ("1.2.3:1", 'ParseAddr("1.2.3"): IPv4 address too short'),
        ("1.2.3.4.5:1", 'ParseAddr("1.2.3.4.5"): IPv4 address too long'),
        ("01.2.3.4:1", 'ParseAddr("01.2.3.4"): IPv4 field has octet with leading zero'),
        ("256.1.1.1:1", 'ParseAddr("256.1.1.1"): IPv4 field has value >255'),
        ("1..2.3:1", 'ParseAddr("1..2.3"): IPv4 field must have at least one digit (at ".2.3")'),
        ("a.b:1", 'ParseAddr("a.b"): unexpected character (at "a.b")'),
        ("abc:1", 'ParseAddr("abc"): unable to parse IP'),
        ("%x:1", 'ParseAddr("%x"): missing IPv6 address'),
        ("[fe80::1%]:1", 'ParseAddr("fe80::1%"): zone must be a non-empty string'),
        ("[::1::]:1", 'ParseAddr("::1::"): multiple :: in address (at ":")'),
        (
            "[12345::]:1",
            'ParseAddr("12345::"): each group must have 4 or less digits (at "12345::")',
        ),
        (
            "[1:2:3:4:5:6:7:8:9]:1",
            'ParseAddr("1:2:3:4:5:6:7:8:9"): trailing garbage after address (at "9")',
        ),
        ("[1:2:3]:1", 'ParseAddr("1:2:3"): address string too short'),
        (
            "[1:2:3:4:5:6:7::8]:1",
            'ParseAddr("1:2:3:4:5:6:7::8"): the :: must expand to at least one field of zeros',
        ),
        (
            "[1.2.3.4]:1",
            'invalid ip:port "[1.2.3.4]:1", square brackets can only be used with IPv6 addresses',
        ),
        (
            "::1:4647",
            'invalid ip:port "::1:4647", IPv6 addresses must be surrounded by square brackets',
        ),
    ],
)
def test_addr_port_errors_are_gos(text: str, error: str | None) -> None:
    assert addr_port_error(text) == error


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("24caa671-5fbd-4cc4-9d03-0e2be0203af9", None),
        ("24CAA671-5FBD-4CC4-9D03-0E2BE0203AF9", None),
        ("x", "uuid string is wrong length"),
        ("24caa671-5fbd-4cc4-9d03-0e2be0203af9a", "uuid string is wrong length"),
        ("24caa6715fbd-4cc4-9d03-0e2be0203af9-", "uuid is improperly formatted"),
        ("24caa671-5fbd-4cc4-9d03-0e2be0203agz", "encoding/hex: invalid byte: U+0067 'g'"),
        ("z4caa671-5fbd-4cc4-9d03-0e2be0203agz", "encoding/hex: invalid byte: U+007A 'z'"),
        ("24caa671-5fbd-4cc4-9d03-0e2be0203a\x00f", "encoding/hex: invalid byte: U+0000"),
        # Go counts bytes: an "é" is two, so 35 characters can be 36 bytes.
        ("24caa671-5fbd-4cc4-9d03-0e2be0203aé", "encoding/hex: invalid byte: U+00C3 'Ã'"),
    ],
)
def test_uuid_errors_are_go_uuids(text: str, error: str | None) -> None:
    assert uuid_error(text) == error
