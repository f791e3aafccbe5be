"""Captions (raftsim/web/captions.py): one plain sentence per typed event, made by the
simulator from the event and the cluster at the moment it happened."""

from __future__ import annotations

from raftsim.core.events import EVENT_CLASSES, Event, RoleChanged
from raftsim.core.types import Role
from raftsim.sim.cluster import Cluster
from raftsim.web.captions import CAPTIONS, caption


def test_every_kind_of_event_has_its_own_caption() -> None:
    """No event falls back to its trace text: a kind added later must get a sentence."""
    missing = sorted(kind for kind, cls in EVENT_CLASSES.items() if cls not in CAPTIONS)
    assert missing == []


def test_a_candidates_caption_names_the_voters_it_asks() -> None:
    """The sentence comes from the event and the cluster as it is then: whom the candidate
    asks is its latest configuration's other voters."""
    cluster = Cluster(3, seed=0, trace="all")
    captions: list[str] = []

    def note(event: Event) -> None:
        if isinstance(event, RoleChanged) and event.role is Role.CANDIDATE:
            captions.append(caption(event, cluster))

    cluster.listeners.append(note)
    cluster.run_for("3s")
    leader = cluster.leader()
    assert leader is not None
    others = sorted(n for n in cluster.servers if n != leader)
    assert captions[0] == (
        f"{leader}'s election timer fired: {leader} becomes a candidate for term 2 "
        f"and asks {others[0]} and {others[1]} for votes"
    )


def test_captions_of_a_whole_run_are_sentences() -> None:
    """Every event of a traced run with faults gets a non-empty sentence naming servers by
    name, never by ID (server IDs under protocol 1 are addresses)."""
    cluster = Cluster(3, seed=4, trace="all")
    texts: list[str] = []
    cluster.listeners.append(lambda event: texts.append(caption(event, cluster)))
    cluster.run_for("3s")
    cluster.crash(cluster.leader() or "alice")
    cluster.partition(["alice"], ["bob", "carol"])
    cluster.run_for("5s")
    cluster.heal()
    cluster.run_for("5s")
    assert len(texts) > 100 and all(texts)
    assert not [t for t in texts if ":4647" in t]
