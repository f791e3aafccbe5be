"""What Go's standard library does to a request before Nomad's handlers see it (ring 2):
`url.ParseQuery`, `time.ParseDuration`, `strconv.ParseUint`, and `net/http.ServeMux`'s path
cleaning and matching. Reproduced so that odd inputs get Nomad's answers (spec nomad-api.md
§1), not aiohttp's: `?stale&stale=x`, `%zz`, `;` separators, `wait=1.5h`, `//v1/status/leader`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar

_HEX = "0123456789abcdefABCDEF"
# time.ParseDuration's units, in nanoseconds (µs: U+00B5 and U+03BC).
_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_INT64_MAX = (1 << 63) - 1


def _unescape(text: str) -> str | None:
    """url.QueryUnescape: '+' is a space, '%XX' a byte; a bad escape is an error (None)."""
    if "%" not in text and "+" not in text:
        return text
    out = bytearray()
    i = 0
    raw = text.encode("utf-8", "surrogateescape")
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # '%'
            pair = raw[i + 1 : i + 3].decode("latin-1")
            if len(pair) < 2 or pair[0] not in _HEX or pair[1] not in _HEX:
                return None
            out.append(int(pair, 16))
            i += 3
            continue
        out.append(0x20 if c == 0x2B else c)
        i += 1
    return out.decode("utf-8", "surrogateescape")


def parse_query(raw: str) -> dict[str, list[str]]:
    """`req.URL.Query()` of Go 1.8: pairs split on '&' and ';', pairs that fail to
    unescape dropped, values in order; a key without '=' has the value ''."""
    values: dict[str, list[str]] = {}
    for part in raw.replace(";", "&").split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        k, v = _unescape(key), _unescape(value)
        if k is None or v is None:
            continue
        values.setdefault(k, []).append(v)
    return values


def first(query: dict[str, list[str]], key: str) -> str:
    """`Values.Get`: the first value, or '' when the key is absent."""
    found = query.get(key)
    return found[0] if found else ""


def parse_duration(text: str) -> int | None:
    """time.ParseDuration in nanoseconds, or None where Go returns an error."""
    s = text
    negative = False
    if s[:1] in ("-", "+"):
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        return None
    total = Fraction(0)
    while s:
        if not (s[0] == "." or (s[0].isascii() and s[0].isdigit())):
            return None
        i = 0
        while i < len(s) and s[i].isascii() and s[i].isdigit():
            i += 1
        whole, s = s[:i], s[i:]
        fraction = ""
        if s[:1] == ".":
            s = s[1:]
            j = 0
            while j < len(s) and s[j].isascii() and s[j].isdigit():
                j += 1
            fraction, s = s[:j], s[j:]
            if not whole and not fraction:
                return None
        elif not whole:
            return None
        k = 0
        while k < len(s) and s[k] != "." and not (s[k].isascii() and s[k].isdigit()):
            k += 1
        unit, s = s[:k], s[k:]
        if unit not in _UNITS:
            return None  # missing or unknown unit
        if whole and int(whole) > _INT64_MAX:
            return None
        value = Fraction(int(whole or "0"))
        if fraction:
            value += Fraction(int(fraction), 10 ** len(fraction))
        total += value * _UNITS[unit]
        if total > _INT64_MAX:
            return None
    nanoseconds = int(total)
    return -nanoseconds if negative else nanoseconds


GO_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


def parse_bool(text: str) -> bool | None:
    """strconv.ParseBool, or None where Go returns an error."""
    return GO_BOOLS.get(text)


def parse_int(text: str, bits: int) -> int | None:
    """strconv.ParseInt(text, 10, bits), or None where Go returns an error."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or not all("0" <= c <= "9" for c in digits):
        return None
    value = int(text)
    limit = 1 << (bits - 1)
    return value if -limit <= value < limit else None


def parse_uint(text: str) -> int | None:
    """strconv.ParseUint(text, 10, 64), or None where Go returns an error."""
    if not text or not all("0" <= c <= "9" for c in text):
        return None
    value = int(text)
    return value if value < 1 << 64 else None


def clean_path(path: str) -> str:
    """net/http cleanPath: path.Clean, keeping a trailing slash (ServeMux redirects to it)."""
    if not path:
        return "/"
    if path[0] != "/":
        path = "/" + path
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    cleaned = "/" + "/".join(parts)
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


T = TypeVar("T")


@dataclass(frozen=True)
class Redirect:
    """ServeMux's answer to an unclean path or a subtree root: 301 to `path`."""

    path: str


class ServeMux(Generic[T]):
    """net/http.ServeMux (before Go 1.22) over patterns registered once, at construction:
    a pattern ending in '/' is a subtree matched by prefix, the longest one winning; any
    other pattern matches exactly."""

    def __init__(self, patterns: Mapping[str, T]) -> None:
        self.exact = {p: t for p, t in patterns.items() if not p.endswith("/")}
        self.subtrees = sorted(
            ((p, t) for p, t in patterns.items() if p.endswith("/")),
            key=lambda item: len(item[0]),
            reverse=True,
        )
        # Handle("/a/") also registers "/a" as a redirect to "/a/", unless "/a" is a pattern.
        self.roots = {p[:-1]: p for p, _ in self.subtrees if p[:-1] not in self.exact}

    def match(self, path: str) -> T | Redirect | None:
        """What serves `path`: a target, a redirect, or None for NotFound."""
        cleaned = clean_path(path)
        if cleaned != path:
            return Redirect(cleaned)
        root = self.roots.get(path)
        if root is not None:
            return Redirect(root)
        if path in self.exact:
            return self.exact[path]
        for prefix, target in self.subtrees:
            if path.startswith(prefix):
                return target
        return None
