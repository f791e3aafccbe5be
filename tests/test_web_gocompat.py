"""Go's parsing as Nomad's handlers see it (ring 2, raftsim/web/gocompat.py) and Go's `%q`
(ring 1b, raftsim/nomad/errors.py): one table row per Go behaviour that matters here."""

from __future__ import annotations

import pytest

from raftsim.nomad import go_quote
from raftsim.web.gocompat import (
    Redirect,
    ServeMux,
    clean_path,
    parse_duration,
    parse_query,
    parse_uint,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("stale", {"stale": [""]}),
        ("stale=&stale=false", {"stale": ["", "false"]}),
        ("a=1;b=2", {"a": ["1"], "b": ["2"]}),  # Go 1.8 splits on ';' too
        ("address=1.2.3.4%3A4647", {"address": ["1.2.3.4:4647"]}),
        ("node=a+b", {"node": ["a b"]}),
        ("bad=%zz&ok=1", {"ok": ["1"]}),  # a pair that fails to unescape is dropped
        ("&&=x&", {"": ["x"]}),
        ("", {}),
    ],
)
def test_gocompat_parse_query_matches_url_parsequery(raw: str, expected: object) -> None:
    """url.ParseQuery as URL.Query() uses it: errors drop the pair, not the request."""
    assert parse_query(raw) == expected


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("0", 0),
        ("5s", 5_000_000_000),
        ("1.5h", 5_400_000_000_000),
        ("-1m30s", -90_000_000_000),
        ("+.5ms", 500_000),
        ("1us", 1_000),
        ("1µs", 1_000),
        ("5", None),  # missing unit
        ("5d", None),  # unknown unit
        (".s", None),
        ("", None),
        ("-", None),
        ("9999999999999999999s", None),  # overflow
    ],
)
def test_gocompat_parse_duration_matches_time_parseduration(
    text: str, nanoseconds: int | None
) -> None:
    """time.ParseDuration: `Invalid wait time` exactly where Go fails."""
    assert parse_duration(text) == nanoseconds


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("42", 42),
        ("18446744073709551615", 2**64 - 1),
        ("18446744073709551616", None),
        ("-1", None),
        ("+1", None),
        ("1_000", None),
        ("0x10", None),
        ("", None),
    ],
)
def test_gocompat_parse_uint_matches_strconv(text: str, value: int | None) -> None:
    """strconv.ParseUint(s, 10, 64): digits only, within 64 bits."""
    assert parse_uint(text) == value


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [
        ("/v1/status/leader", "/v1/status/leader"),
        ("//v1/status/leader", "/v1/status/leader"),
        ("/v1/./status/../status/leader", "/v1/status/leader"),
        ("/v1/operator/", "/v1/operator/"),
        ("/..", "/"),
        ("", "/"),
    ],
)
def test_gocompat_clean_path_matches_servemux(path: str, cleaned: str) -> None:
    """net/http cleanPath: path.Clean, keeping a trailing slash."""
    assert clean_path(path) == cleaned


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("1.2.3.4:4647", '"1.2.3.4:4647"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("tab\there\n", '"tab\\there\\n"'),
        ("\x01", '"\\x01"'),
        ("é", '"é"'),
        ("\udcff", '"\\xff"'),  # an undecodable byte
    ],
)
def test_gocompat_go_quote_matches_strconv_quote(text: str, quoted: str) -> None:
    """Go's %q, used in `address "..." was not found in the Raft configuration`."""
    assert go_quote(text) == quoted


def test_gocompat_servemux_matches_like_go() -> None:
    """ServeMux: exact patterns, the longest subtree, a subtree root redirected to its slash
    (unless registered itself), unclean paths redirected, anything else unmatched."""
    mux = ServeMux({"/a": "a", "/a/": "a/", "/a/b/": "a/b/", "/c/": "c/"})
    assert mux.match("/a") == "a"  # registered: no redirect to /a/
    assert mux.match("/a/x") == "a/"
    assert mux.match("/a/b/x") == "a/b/"
    assert mux.match("/a/b") == Redirect("/a/b/")
    assert mux.match("/c") == Redirect("/c/")
    assert mux.match("//c/x") == Redirect("/c/x")
    assert mux.match("/d") is None
