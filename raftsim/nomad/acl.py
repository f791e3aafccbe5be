"""Nomad's ACL system (0.7+) as the endpoints here use it (ring 1b): spec nomad-api.md §1
"ACL capabilities", after `nomad/acl.go` ResolveToken and `acl/acl.go` at v0.8.7 and v1.2.13.

A server resolves the secret of `X-Nomad-Token` against its state: no secret is the
anonymous token (its policy `anonymous` does not exist here, so it may do nothing), an
unknown secret fails with `ACL token not found`, a management token may do everything, a
client token what its rules allow. The errors are plain RPC errors; the HTTP agent's `wrap`
turns them into 403s by their suffix (spec §1 "Error bodies").

Tokens are simulation state: the bootstrap management token exists from time 0, client
tokens are made by the operator through /v1/sim/ (a recorded input). Every server knows
every token at once (in Nomad a token is a Raft write that reaches a follower when it
applies it). Secrets and accessor IDs are go-uuid strings drawn from named seeds, so a run
and its replay hold the same tokens.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum

from ..sim.rng import derive_seed
from .errors import NomadError

PERMISSION_DENIED = "Permission denied"  # structs.ErrPermissionDenied
TOKEN_NOT_FOUND = "ACL token not found"  # structs.ErrTokenNotFound
# The policy scopes the endpoints here consult, and the levels Nomad's policy language gives
# them (acl/policy.go isPolicyValid; 1.2's `scale` means nothing for these scopes).
SCOPES = ("agent", "node", "operator")
LEVELS = ("deny", "read", "write")


class Capability(Enum):
    """What an endpoint needs (spec §1 "ACL capabilities")."""

    MANAGEMENT = "management"  # aclObj.IsManagement(): the operator's Raft endpoints
    NODE_READ = "node:read"  # AllowNodeRead: /v1/agent/members
    AGENT_WRITE = "agent:write"  # AllowAgentWrite: /v1/agent/force-leave
    OPERATOR_READ = "operator:read"  # AllowOperatorRead: autopilot reads
    OPERATOR_WRITE = "operator:write"  # AllowOperatorWrite: autopilot writes


@dataclass(frozen=True, slots=True)
class Token:
    """An ACL token: `management`, or `client` with one policy's rules (scope -> level)."""

    accessor_id: str
    secret_id: str = field(repr=False)
    name: str
    type: str
    rules: tuple[tuple[str, str], ...] = ()

    def allows(self, capability: Capability) -> bool:
        if self.type == "management":
            return True
        level = dict(self.rules)
        if capability is Capability.MANAGEMENT:
            return False
        scope, _, wanted = capability.value.partition(":")
        have = level.get(scope, "")
        # acl.go: read is allowed by read or write, write by write only; deny by nothing.
        return have == "write" or (wanted == "read" and have == "read")


def go_uuid(seed: int, name: str) -> str:
    """go-uuid's 8-4-4-4-12 hex of 128 bits drawn from the seed named `name`."""
    bits = random.Random(derive_seed(seed, name)).getrandbits(128)
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def check_rules(rules: object) -> tuple[tuple[str, str], ...]:
    """A client token's rules, `{"operator": "read", ...}`, checked (ValueError says why),
    in SCOPES order."""
    if not isinstance(rules, dict):
        raise ValueError(f'"rules" is an object of scope to level, got {rules!r}')
    for scope, level in rules.items():
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r} (scopes: {', '.join(SCOPES)})")
        if level not in LEVELS:
            raise ValueError(
                f"scope {scope!r}: unknown level {level!r} (levels: {', '.join(LEVELS)})"
            )
    return tuple((scope, rules[scope]) for scope in SCOPES if scope in rules)


class ACL:
    """The ACL state of one simulated cluster; `enabled` False answers every check with
    "allowed" (ResolveToken's fast path when ACLs are disabled)."""

    def __init__(
        self,
        enabled: bool = False,
        bootstrap_secret: str = "",
        seed: int = 0,
        unknown_denied: bool = False,
    ) -> None:
        self.enabled = enabled
        self.seed = seed
        # spec §1 "ACL capabilities": from 1.5 the operator RPCs and Status.Members
        # authenticate first and report an unknown secret as `Permission denied` too;
        # force-leave still resolves the token itself (`ACL token not found`).
        self.unknown_denied = unknown_denied
        self.tokens: dict[str, Token] = {}
        if enabled:
            if not bootstrap_secret:
                raise ValueError("an enabled ACL system needs its bootstrap secret")
            accessor = go_uuid(seed, f"nomad/acl/accessor/{bootstrap_secret}")
            self._add(Token(accessor, bootstrap_secret, "Bootstrap Token", "management"))

    @property
    def management(self) -> Token | None:
        """The bootstrap management token (None with ACLs disabled)."""
        return next(iter(self.tokens.values()), None)

    def _add(self, token: Token) -> Token:
        self.tokens[token.secret_id] = token
        return token

    def create(self, name: str, rules: tuple[tuple[str, str], ...]) -> Token:
        """A client token; its IDs come from the cluster's seed and how many came before."""
        if not self.enabled:
            raise ValueError("ACLs are not enabled (raftsim serve --acl)")
        n = len(self.tokens)
        secret = go_uuid(self.seed, f"nomad/acl/secret/{n}")
        accessor = go_uuid(self.seed, f"nomad/acl/accessor/{n}")
        return self._add(Token(accessor, secret, name, "client", rules))

    def check(
        self, secret: str, capability: Capability, authenticates: bool = False
    ) -> NomadError | None:
        """ResolveToken, then the capability: None when allowed, else the RPC error.
        `authenticates`: an RPC that authenticates first from 1.5 (nomad/operator_endpoint.go,
        status_endpoint.go Members at v1.10.1)."""
        if not self.enabled:
            return None
        if not secret:
            return NomadError(PERMISSION_DENIED)  # the anonymous token: no policy here
        token = self.tokens.get(secret)
        if token is None:
            denied = authenticates and self.unknown_denied
            return NomadError(PERMISSION_DENIED if denied else TOKEN_NOT_FOUND)
        return None if token.allows(capability) else NomadError(PERMISSION_DENIED)

    def state(self) -> dict[str, object]:
        """For GET /v1/sim/state: whether ACLs are on, and the tokens (no secrets)."""
        return {
            "enabled": self.enabled,
            "tokens": [
                {
                    "accessor_id": t.accessor_id,
                    "name": t.name,
                    "type": t.type,
                    "rules": dict(t.rules),
                }
                for t in self.tokens.values()
            ],
        }
