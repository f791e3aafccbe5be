"""Table tests of membership changes (spec §2.3) and validity (spec §2.4), in the manner of
hashicorp/raft's configuration_test.go: named fixtures, one row per command and start."""

from __future__ import annotations

import pytest

from raftsim.core import (
    P1,
    P2,
    P3,
    ChangeCommand,
    Configuration,
    ConfigurationError,
    Server,
    Suffrage,
    check_configuration,
    next_configuration,
)

V, N = Suffrage.VOTER, Suffrage.NONVOTER


def conf(*servers: tuple[Suffrage, str, str]) -> Configuration:
    return Configuration(tuple(Server(*s) for s in servers))


SINGLE = conf((V, "id1", "addr1"))
ONE_EACH = conf((V, "id1", "addr1"), (N, "id2", "addr2"))

CASES = [
    # (start, command, id, address, expected)
    (SINGLE, ChangeCommand.ADD_VOTER, "id1", "addr2", conf((V, "id1", "addr2"))),
    (
        SINGLE,
        ChangeCommand.ADD_VOTER,
        "id2",
        "addr2",
        conf((V, "id1", "addr1"), (V, "id2", "addr2")),
    ),
    (
        ONE_EACH,
        ChangeCommand.ADD_VOTER,
        "id2",
        "addr3",
        conf((V, "id1", "addr1"), (V, "id2", "addr3")),
    ),
    (SINGLE, ChangeCommand.ADD_NONVOTER, "id1", "addr2", conf((V, "id1", "addr2"))),
    (SINGLE, ChangeCommand.ADD_NONVOTER, "id2", "addr2", ONE_EACH),
    (
        ONE_EACH,
        ChangeCommand.ADD_NONVOTER,
        "id2",
        "addr3",
        conf((V, "id1", "addr1"), (N, "id2", "addr3")),
    ),
    (ONE_EACH, ChangeCommand.DEMOTE_VOTER, "id2", "", ONE_EACH),
    (
        conf((V, "id1", "addr1"), (V, "id2", "addr2")),
        ChangeCommand.DEMOTE_VOTER,
        "id2",
        "",
        ONE_EACH,
    ),
    (SINGLE, ChangeCommand.DEMOTE_VOTER, "id9", "", SINGLE),
    (ONE_EACH, ChangeCommand.REMOVE_SERVER, "id2", "", SINGLE),
    (SINGLE, ChangeCommand.REMOVE_SERVER, "id9", "", SINGLE),
]


@pytest.mark.parametrize(
    ("start", "command", "server_id", "address", "expected"),
    CASES,
    ids=[f"{c[1]}-{c[2]}-on-{len(c[0].servers)}" for c in CASES],
)
def test_next_configuration_table(
    start: Configuration,
    command: ChangeCommand,
    server_id: str,
    address: str,
    expected: Configuration,
) -> None:
    """Each command on each starting configuration gives hashicorp's result (§2.3)."""
    assert next_configuration(start, 1, command, server_id, address) == expected


def test_next_configuration_unchanged_request_still_produces_a_configuration() -> None:
    """RemoveUnknownPeer: a request that changes nothing still yields a configuration (§2.3)."""
    assert next_configuration(SINGLE, 5, ChangeCommand.REMOVE_SERVER, "nobody") == SINGLE


@pytest.mark.parametrize(
    ("profile", "text"),
    [
        (P1, "Need at least one voter in configuration: {[]}"),
        # Nomad's P2 releases up to 1.2.13 vendor hashicorp/raft from before d58cb41.
        (P2, "Need at least one voter in configuration: {[]}"),
        (P3, "need at least one voter in configuration: {[]}"),
    ],
    ids=["P1", "P2", "P3"],
)
def test_next_configuration_refuses_removing_the_last_voter(profile: object, text: str) -> None:
    """Removing the only voter fails with the profile's hashicorp text (§2.4)."""
    with pytest.raises(ConfigurationError) as info:
        next_configuration(SINGLE, 1, ChangeCommand.REMOVE_SERVER, "id1", profile=profile)  # type: ignore[arg-type]
    assert str(info.value) == text


def test_next_configuration_refuses_demoting_the_last_voter() -> None:
    """DemoteVoter of the last voter leaves no voter: refused (§2.4)."""
    with pytest.raises(ConfigurationError, match="Need at least one voter"):
        next_configuration(ONE_EACH, 1, ChangeCommand.DEMOTE_VOTER, "id1")


def test_next_configuration_refuses_a_stale_prev_index() -> None:
    """A conditional change fails when latestIndex moved on (§2.3)."""
    with pytest.raises(ConfigurationError) as info:
        next_configuration(SINGLE, 7, ChangeCommand.ADD_VOTER, "id2", "addr2", prev_index=5)
    assert str(info.value) == "Configuration changed since 5 (latest is 7)"


@pytest.mark.parametrize(
    ("configuration", "text"),
    [
        (conf((V, "", "addr1")), "Empty ID in configuration: {[{Voter  addr1}]}"),
        (conf((V, "id1", "")), "Empty address in configuration: {Voter id1 }"),
        (conf((V, "id1", "a1"), (V, "id1", "a2")), "Found duplicate ID in configuration: id1"),
        (conf((V, "id1", "a1"), (V, "id2", "a1")), "Found duplicate address in configuration: a1"),
        (conf((N, "id1", "a1")), "Need at least one voter in configuration: {[{Nonvoter id1 a1}]}"),
    ],
    ids=["empty-id", "empty-address", "duplicate-id", "duplicate-address", "no-voter"],
)
def test_check_configuration_rejects_with_hashicorp_text(
    configuration: Configuration, text: str
) -> None:
    """checkConfiguration's rules and texts at rev aaad9f1 (P1, §2.4)."""
    with pytest.raises(ConfigurationError) as info:
        check_configuration(configuration, P1)
    assert str(info.value) == text


def test_next_configuration_refuses_an_address_taken_by_another_id() -> None:
    """Adding a new ID at an address already in use fails the duplicate-address rule (§2.4)."""
    with pytest.raises(ConfigurationError, match="duplicate address"):
        next_configuration(SINGLE, 1, ChangeCommand.ADD_VOTER, "id2", "addr1")
