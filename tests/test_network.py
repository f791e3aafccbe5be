"""The simulated network's connections (raftsim/sim/network.py): each direction of each
channel of a link is FIFO unless `reorder` is on, duplicates follow that order, and each
draws from its own stream, so one loop's traffic never shifts another loop's timing."""

from __future__ import annotations

from raftsim.sim.network import LinkConditions, Network
from raftsim.sim.rng import Streams

WIDE = LinkConditions(latency_min=100, latency_max=50_000)


def network(conditions: LinkConditions, seed: int = 1) -> Network:
    return Network(Streams(seed).get, conditions)


def arrivals(net: Network, channel: str, count: int = 200) -> list[int]:
    """Send `count` messages on a->b, one per microsecond; every copy's arrival."""
    times: list[int] = []
    for now in range(count):
        times.extend(net.route("a", "b", now, channel))
    return times


def test_network_channel_is_fifo_without_reorder() -> None:
    """Later messages never overtake earlier ones on one channel, whatever the latencies."""
    times = arrivals(network(WIDE), "append")
    assert times == sorted(times)


def test_network_reorder_lets_messages_overtake() -> None:
    """With reorder=True the same traffic arrives out of order."""
    times = arrivals(network(LinkConditions(100, 50_000, reorder=True)), "append")
    assert times != sorted(times)


def test_network_duplicates_follow_fifo_order_unless_reordering() -> None:
    """duplicate=1 sends every message twice; without reorder the second copy arrives no
    earlier than the first, and later messages follow both; with reorder, anything goes."""
    fifo = network(LinkConditions(100, 50_000, duplicate=1.0))
    times = arrivals(fifo, "append", 100)
    assert len(times) == 200 and times == sorted(times)
    loose = network(LinkConditions(100, 50_000, duplicate=1.0, reorder=True))
    times = arrivals(loose, "append", 100)
    assert len(times) == 200 and times != sorted(times)


def test_network_channels_share_no_order() -> None:
    """A slow message on the replication loop's connection does not hold back the heartbeat
    loop's: each loop has its own connection, as in hashicorp's transport."""
    net = network(LinkConditions(100, 100))
    net.set_conditions(LinkConditions(10_000, 10_000), "a", "b")
    (slow,) = net.route("a", "b", 0, "append")
    net.set_conditions(LinkConditions(100, 100), "a", "b")
    (fast,) = net.route("a", "b", 1, "heartbeat")
    (queued,) = net.route("a", "b", 2, "append")
    assert fast < slow <= queued  # the heartbeat overtakes; the same channel stays FIFO


def test_network_channels_draw_from_their_own_streams() -> None:
    """Traffic on one channel leaves another channel's latencies unchanged."""
    quiet, busy = network(WIDE, seed=5), network(WIDE, seed=5)
    arrivals(busy, "heartbeat", 50)
    assert arrivals(quiet, "append", 50) == arrivals(busy, "append", 50)


def test_network_blocked_link_loses_every_channel() -> None:
    """A cut drops messages on every channel of the link, and only in its direction."""
    net = network(WIDE)
    net.block("a", "b")
    assert net.route("a", "b", 0, "heartbeat") == ()
    assert net.route("a", "b", 0, "vote") == ()
    assert net.route("b", "a", 0, "heartbeat") != ()
