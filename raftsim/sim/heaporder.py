"""The order the scheduler runs a fast-forward's events in (ring 1), without the heap.

The heap breaks ties between events due at the same microsecond by the order they were
scheduled, i.e. by the order their parents ran. In a jump (fastforward.py) every event has
exactly one parent, the one before it in its own stream (a loop's cycle, a timer's firings),
so an event's place is (due, parent's due, grandparent's due, ..., then the sequence number
of the stream's first event, which was in the heap when the jump began). `precedes` walks
that chain back; `heap_order` merges whole streams by it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cmp_to_key
from itertools import compress, islice
from operator import eq

INDEX_BITS = 24  # an event's index in its stream (a jump's streams are far shorter)
STREAM_BITS = 16  # a stream's number (two loops and a timer per server, and the lease)
INDEX_MASK = (1 << INDEX_BITS) - 1
_LOW = (1 << (INDEX_BITS + STREAM_BITS)) - 1

# (due times, how many of them ran in the jump, the sequence number of the first)
Stream = tuple[Sequence[int], int, int]


def precedes(a: Sequence[int], i: int, a_seq: int, b: Sequence[int], j: int, b_seq: int) -> bool:
    """Whether event a[i] of one stream ran before event b[j] of another (both histories of
    due times; index -1 means: the stream's first event, in the heap since before the jump
    with sequence number a_seq or b_seq)."""
    while i >= 0 and j >= 0:
        if a[i] != b[j]:
            return a[i] < b[j]
        i -= 1
        j -= 1
    if i < 0 and j < 0:
        return a_seq < b_seq
    return i < 0  # a reached an event scheduled before the jump, b one scheduled during it


def heap_order(streams: Sequence[Stream]) -> list[int]:
    """Every event that ran, of every stream, in the order the heap ran them: each as
    `stream << INDEX_BITS | index`.

    One sort of plain integers (due time, then stream and index) puts nearly everything in
    place; only events due at the same microsecond in different streams are then re-ordered
    by `precedes`."""
    keys: list[int] = []
    shift = INDEX_BITS + STREAM_BITS
    for number, (history, count, _) in enumerate(streams):
        if count >= 1 << INDEX_BITS or number >= 1 << STREAM_BITS:
            raise ValueError("a jump too long to order: shorten the jump")
        base = number << INDEX_BITS
        keys += [(t << shift) | base | i for i, t in zip(range(count), history, strict=False)]
    keys.sort()
    dues = [k >> shift for k in keys]
    order = [k & _LOW for k in keys]
    # Runs of equal due times: rare, unless latencies and timers are fixed.
    ties = compress(range(len(dues) - 1), map(eq, dues, islice(dues, 1, None)))
    end = -1
    for tie in ties:
        if tie < end:
            continue  # (inside the run just ordered)
        end = tie + 2
        while end < len(dues) and dues[end] == dues[tie]:
            end += 1
        order[tie:end] = sorted(order[tie:end], key=cmp_to_key(_ran_first(streams)))
    return order


def _ran_first(streams: Sequence[Stream]) -> Callable[[int, int], int]:
    def compare(x: int, y: int) -> int:
        a, i = streams[x >> INDEX_BITS], x & INDEX_MASK
        b, j = streams[y >> INDEX_BITS], y & INDEX_MASK
        if x >> INDEX_BITS == y >> INDEX_BITS:
            return -1 if i < j else 1
        return -1 if precedes(a[0], i, a[2], b[0], j, b[2]) else 1

    return compare
