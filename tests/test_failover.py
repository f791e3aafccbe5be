"""Measured elections: failover at Nomad's defaults (spec §3.11) and the Raft paper's Figure 16
(spec §5), each over many seeds in virtual time. Method and tables: docs/elections.md.

Run with `-s` to see the printed quantiles next to the paper's."""

from __future__ import annotations

import functools

import pytest

from raftsim.core import MS, SECOND, Timing

from .experiments import (
    FIGURE16_PAPER,
    TABLE_HEADER,
    Summary,
    failover_time,
    failover_times,
    figure16,
    figure16_table,
    figure16_trial,
    format_row,
)

SEEDS = range(1000)
TRIALS = 1000  # per Figure 16 curve, as in the paper (spec §5.1)

# 25-50 ms: with 2-3 ms one-way latency the split-vote rate is lower than on the paper's
# cluster (the thesis: ranges of 10-20x the one-way latency); the median comes out ~12 %
# short of the paper's 43 ms. Kept visible rather than tuned away (docs/elections.md).
SHORT_RANGE = "25-50 ms: median ~38 ms vs the paper's 43 ms (-12 %), see docs/elections.md"


def _print_nomad(servers: int, summary: Summary) -> None:
    print(f"\nNomad defaults, {servers} servers, seeds {SEEDS.start}-{SEEDS.stop - 1}:")
    print(TABLE_HEADER)
    print(format_row(f"raftsim n={summary.n}", summary.row_ms()))


@functools.cache
def _nomad(servers: int) -> Summary:
    return failover_times(SEEDS, servers=servers, timing=Timing.nomad())


@functools.cache
def _curve(low: int, high: int) -> Summary:
    summary = figure16(low, high, TRIALS)
    print(f"\nFigure 16 {low}-{high} ms, 5 servers, PAPER_LAN, seeds 0-{TRIALS - 1}:")
    print(figure16_table(low, high, summary))
    return summary


# ------------------------------------------------------------------------- Nomad (§3.11)


@pytest.mark.slow
@pytest.mark.parametrize("servers", [3, 5])
def test_failover_nomad_defaults_within_envelope(servers: int) -> None:
    """Failover after a leader crash at Nomad's defaults falls in spec §3.11's envelope."""
    summary = _nomad(servers)
    _print_nomad(servers, summary)
    timing = Timing.nomad()
    # §3.3: a follower campaigns no earlier than HT after its last contact, and the leader
    # contacts each follower at least every 2·CT (§3.7 idle replication) plus a round trip.
    assert summary.minimum >= timing.heartbeat_timeout - 2 * timing.commit_timeout - MS
    # §3.11: "typically 2-3 s" (median within [1.5 s, 3.5 s] allows for the definition:
    # time until a leader exists, not until clients are served).
    assert 1.5 * SECOND <= summary.median <= 3.5 * SECOND
    # §3.11: "roughly 1-5 s without a leader".
    assert summary.p90 <= 5 * SECOND
    # §3.11: "results far outside this band for 3-5 servers indicate a semantic error".
    assert summary.maximum < 10 * SECOND


def test_failover_time_is_deterministic() -> None:
    """The same seed gives the same failover time and the same Figure 16 downtime."""
    for seed in (0, 7):
        print(f"seed {seed}")
        assert failover_time(seed) == failover_time(seed)
        assert figure16_trial(seed, 150, 300) == figure16_trial(seed, 150, 300)
    assert failover_time(0) != failover_time(1)


# ------------------------------------------------------------------------- Figure 16 (§5)

FEASIBLE = [(150, 155), (150, 175), (150, 200), (150, 300), (25, 50), (50, 100), (100, 200)]


@pytest.mark.slow
@pytest.mark.parametrize(("low", "high"), FEASIBLE)
def test_figure16_downtime_exceeds_half_minimum_timeout(low: int, high: int) -> None:
    """No Figure 16 trial recovers faster than half the minimum timeout (spec §5.1)."""
    summary = _curve(low, high)
    # §5.1: the crash comes within low/2 of the broadcast and followers wait at least
    # `low` after it, so "the smallest possible downtime is about half that minimum".
    assert summary.minimum > low * MS // 2


@pytest.mark.slow
def test_figure16_first_term_can_elect() -> None:
    """Some Figure 16 trials elect a leader in the first term after the crash (paper §5.2)."""
    low = 150
    summary = _curve(low, 300)
    # With paper rules a follower whose timer fires first wins unless votes split (§5.1),
    # so many trials end before a second election timeout; when every first term fails,
    # downtime is at least low/2 (crash) + low (second timeout) > 1.5·low.
    assert summary.minimum < 1.5 * low * MS


@pytest.mark.slow
@pytest.mark.parametrize(
    ("low", "high"),
    [
        pytest.param(*r, marks=pytest.mark.xfail(strict=True, reason=SHORT_RANGE))
        if r == (25, 50)
        else r
        for r in FEASIBLE
    ],
)
def test_figure16_median_matches_paper(low: int, high: int) -> None:
    """The median downtime is within 10 % of the paper's digitized median (spec §5.3, §5.4)."""
    summary = _curve(low, high)
    paper = FIGURE16_PAPER[(low, high)].p50
    # §5.4 suggested acceptance: "medians within ±10 % of §5.3".
    assert 0.9 * paper <= summary.median / MS <= 1.1 * paper


@pytest.mark.slow
def test_figure16_150_200_worst_case_in_band() -> None:
    """The worst of 1000 trials at 150-200 ms is 400-650 ms (spec §5.2: 513 ms; §5.4 band)."""
    summary = _curve(150, 200)
    assert 400 * MS <= summary.maximum <= 650 * MS
