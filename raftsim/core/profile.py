"""Version profiles: which hashicorp/raft behaviours a simulated Nomad release has (spec §0).

A profile is data, not code paths scattered by version: the node asks it yes/no questions.
P1 (Nomad 0.5.5-0.7, hashicorp/raft rev aaad9f1, protocol 1) is the default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Profile:
    """The version-dependent behaviours of one simulated release line."""

    name: str
    nomad_versions: str
    raft_protocol: int
    # Server ID equals the Raft address (protocol < 3) or is the node UUID (protocol 3).
    id_is_address: bool
    # §2.8: a follower with latest != committed campaigns even when it is not a voter of
    # latest (aaad9f1 ... v1.3.2). From v1.3.3 only voters of latest campaign.
    removed_follower_campaigns: bool
    # §2.9 / §3.5 steps 1 and 5 (v1.3.7 and v1.3.11): a voter refuses candidates outside its
    # latest configuration, and nonvoters.
    vote_membership_checks: bool
    # §2.10: Index() reports latestIndex (<= v1.1.1) or always 0 (v1.1.2+).
    reports_configuration_index: bool
    # hashicorp's configuration error texts were capitalised ("Need at least one voter ...")
    # until its commit d58cb41 of January 2021 (first in v1.2.0).
    capitalised_errors: bool
    # §3.9: LeadershipTransfer and TimeoutNow (v1.1.0+, with protocol 3 only).
    leadership_transfer: bool = False
    # §3.6: a candidate asks for pre-votes before it raises its term (v1.7.0+).
    pre_vote: bool = False

    def error(self, text: str) -> str:
        return text[0].upper() + text[1:] if self.capitalised_errors else text


P1 = Profile(
    name="P1",
    nomad_versions="0.5.5-0.7.x",
    raft_protocol=1,
    id_is_address=True,
    removed_follower_campaigns=True,
    vote_membership_checks=False,
    reports_configuration_index=True,
    capitalised_errors=True,
)
P2 = Profile(
    name="P2",
    nomad_versions="0.8.0-1.2.x",
    raft_protocol=2,
    id_is_address=True,
    removed_follower_campaigns=True,
    vote_membership_checks=False,
    # 0.11.0-1.2.x vendor v1.1.2+ (Index 0); 0.8.0-0.10.x vendor older revisions, whose
    # Index is latestIndex: their Nomad releases take this profile with that one flag set.
    reports_configuration_index=False,
    # Nomad up to 1.2.13 vendors revisions older than d58cb41 (1.0.0-1.2.13: v1.1.3-pre
    # 365023de; 0.8.x: 077966d), which still capitalise.
    capitalised_errors=True,
)
P3 = Profile(
    name="P3",
    nomad_versions="1.3.0-1.8.x",
    raft_protocol=3,
    id_is_address=False,
    removed_follower_campaigns=False,
    vote_membership_checks=True,
    reports_configuration_index=False,
    capitalised_errors=False,
    leadership_transfer=True,
)
# The spec's profiles stop at P3 (Nomad 1.3 and later); P4 is this project's name for P3 on
# the hashicorp/raft that has pre-vote (v1.7.1+, Nomad 1.9 and later).
P4 = replace(P3, name="P4", nomad_versions="1.9.0 and later", pre_vote=True)
PROFILES = {p.name: p for p in (P1, P2, P3, P4)}
