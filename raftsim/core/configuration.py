"""Membership as a pure island, after hashicorp/raft's `configuration.go` (spec §2.3-2.4).

`next_configuration` computes the configuration a change command produces and
`check_configuration` validates it; both are pure so they can be table-tested. The node
applies the one-change-at-a-time and new-leader rules (§2.5) around them.
"""

from __future__ import annotations

import enum

from .errors import ConfigurationError
from .profile import P1, Profile
from .types import Configuration, Server, Suffrage


class ChangeCommand(enum.Enum):
    """The change commands of `nextConfiguration` (AddStaging is an alias of AddVoter)."""

    ADD_VOTER = "AddVoter"
    ADD_NONVOTER = "AddNonvoter"
    DEMOTE_VOTER = "DemoteVoter"
    REMOVE_SERVER = "RemoveServer"

    def __str__(self) -> str:
        return self.value


def check_configuration(configuration: Configuration, profile: Profile = P1) -> None:
    """Raise ConfigurationError when the configuration breaks a rule of spec §2.4."""
    ids: set[str] = set()
    addresses: set[str] = set()
    voters = 0
    for server in configuration.servers:
        if not server.id:
            raise ConfigurationError(profile.error(f"empty ID in configuration: {configuration}"))
        if not server.address:
            raise ConfigurationError(profile.error(f"empty address in configuration: {server}"))
        if server.id in ids:
            raise ConfigurationError(
                profile.error(f"found duplicate ID in configuration: {server.id}")
            )
        ids.add(server.id)
        if server.address in addresses:
            raise ConfigurationError(
                profile.error(f"found duplicate address in configuration: {server.address}")
            )
        addresses.add(server.address)
        if server.suffrage is Suffrage.VOTER:
            voters += 1
    if voters == 0:
        raise ConfigurationError(
            profile.error(f"need at least one voter in configuration: {configuration}")
        )


def next_configuration(
    current: Configuration,
    current_index: int,
    command: ChangeCommand,
    server_id: str,
    address: str = "",
    prev_index: int = 0,
    profile: Profile = P1,
) -> Configuration:
    """The configuration `command` produces from `current` (spec §2.3), validated (§2.4).

    A command that changes nothing still returns an (identical) configuration: hashicorp
    writes and commits it anyway (AddKnownPeer, RemoveUnknownPeer).
    """
    if prev_index > 0 and prev_index != current_index:
        raise ConfigurationError(
            profile.error(f"configuration changed since {prev_index} (latest is {current_index})")
        )
    servers = list(current.servers)
    position = next((i for i, s in enumerate(servers) if s.id == server_id), None)
    if command is ChangeCommand.ADD_VOTER:
        added = Server(Suffrage.VOTER, server_id, address)
        if position is None:
            servers.append(added)
        elif servers[position].suffrage is Suffrage.VOTER:
            servers[position] = Server(Suffrage.VOTER, server_id, address)
        else:
            servers[position] = added
    elif command is ChangeCommand.ADD_NONVOTER:
        if position is None:
            servers.append(Server(Suffrage.NONVOTER, server_id, address))
        else:
            # A nonvoter entry is replaced; a voter (or staging) keeps its suffrage.
            servers[position] = Server(servers[position].suffrage, server_id, address)
    elif command is ChangeCommand.DEMOTE_VOTER:
        if position is not None:
            old = servers[position]
            servers[position] = Server(Suffrage.NONVOTER, old.id, old.address)
    elif command is ChangeCommand.REMOVE_SERVER and position is not None:
        del servers[position]
    result = Configuration(tuple(servers))
    check_configuration(result, profile)
    return result
