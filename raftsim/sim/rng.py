"""Seeded random streams (ring 1): one root seed, one named child stream per component.

Children are derived with SHA-256 of (root seed, name), never with `hash()`, so a stream's
draws depend only on the seed and its own name: adding a server does not shift the
network's stream, and the same seed gives the same draws on every interpreter."""

from __future__ import annotations

import hashlib
import random


def derive_seed(seed: int, name: str) -> int:
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Streams:
    """Hands out one `random.Random` per component name, created on first use."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[str, random.Random] = {}

    def get(self, name: str) -> random.Random:
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = random.Random(derive_seed(self.seed, name))
        return stream
