"""Deliberate faults: named ways to break the core, for showing that the checkers catch real
bugs. Nothing enables them unless a caller (a test, `raftsim check --inject`) asks for it.

Each is a bug of the kind Raft implementations really ship, kept as a hook in the core code
(`Fault.X in node.faults`, or a flag the node computes once for the per-message paths).
`make mutants` runs a campaign against each and prints which rule catches it at which seed;
`raftsim/testing/mutants.json` keeps those first seeds, and tests/test_mutants.py replays
them. Every fault here but one is caught by a plain `raftsim check` campaign (exit status
1); MATCH_FROM_REPLY is behaviourally equivalent to the correct core, as its comment says.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from .events import LogTruncated
from .types import EntryKind

if TYPE_CHECKING:
    from .node import RaftNode


class Fault(enum.Enum):
    """A deliberate bug the core can be built with."""

    # Grant a vote to any up-to-date candidate, even after voting for another in this term.
    DOUBLE_VOTE = "double-vote"
    # Commit by counting replicas even when the entry is from an earlier term (Fig. 8).
    COMMIT_PREVIOUS_TERM = "commit-previous-term"
    # On a conflicting AppendEntries, overwrite the entry but keep the stale suffix after it.
    NO_TRUNCATE = "no-truncate"
    # Take a new membership change while the previous one is still uncommitted (§2.5).
    CONCURRENT_CONFIG = "concurrent-config"
    # Let a new leader change membership before committing an entry of its term (§4.2).
    EARLY_CONFIG = "early-config"
    # Liveness only: on a rejected AppendEntries keep nextIndex instead of backing it up,
    # so a follower missing entries is sent the same mismatch forever and never catches
    # up. Nothing unsafe commits; campaigns must report it as unexplained non-convergence.
    STUCK_NEXT_INDEX = "stuck-next-index"
    # Check the leader lease once, at LLT after winning, and never re-arm it (§3.8).
    LEASE_NOT_REARMED = "lease-not-rearmed"
    # Count the leader's own log towards commitment even when it is not a voter of latest
    # (§2.6: hashicorp counts only the voters of latest, the leader among them if it is one).
    COMMIT_SELF_NONVOTER = "commit-self-nonvoter"
    # On a truncation that cuts off the latest configuration, keep it instead of falling
    # back on the committed one (§2.2).
    KEEP_CUT_CONFIG = "keep-cut-config"

    # ---- the mutation suite (`make mutants`): votes
    # The up-to-date check compares last indexes only, not last terms first (§5.4.1): a
    # long log of old entries wins over a shorter one holding newer, committed ones.
    VOTE_IGNORES_LAST_TERM = "vote-ignores-last-term"
    # A RequestVote of a lower term is not refused: the vote is granted and recorded with
    # that term, overwriting the record of the vote already cast in the current term.
    VOTE_STALE_TERM = "vote-stale-term"
    # A candidate does not reset its tally when it starts a new election: votes of an
    # earlier term count towards this one.
    VOTES_NOT_RESET = "votes-not-reset"
    # A candidate asks every server of its latest configuration, nonvoters included, and
    # counts their votes (and its own as a nonvoter) against the voters' quorum.
    VOTES_FROM_NONVOTERS = "votes-from-nonvoters"

    # ---- terms
    # A leader reads a replication reply carrying a higher term like any other rejection
    # and keeps leading (hashicorp handleStaleTerm forgotten).
    IGNORE_HIGHER_TERM_REPLY = "ignore-higher-term-reply"
    # A follower handles an AppendEntries of a lower term as if it came from its leader,
    # storing a deposed leader's entries (the term check of Fig. 2 rule 1 forgotten).
    APPEND_IGNORES_TERM = "append-ignores-term"

    # ---- persistence
    # On restart the current term is taken from the last log entry instead of the stable
    # store: a server forgets terms it adopted (and voted in) without appending.
    TERM_FROM_LOG = "term-from-log"
    # The vote is kept in memory only: a restarted server votes again in the same term.
    VOTE_NOT_PERSISTED = "vote-not-persisted"
    # Entries are acknowledged before they are synced: a crash loses the last one written.
    UNSYNCED_APPEND = "unsynced-append"

    # ---- append and truncate
    # A follower deletes everything after prevIndex before appending, even when the
    # entries match: a late (duplicated or reordered) AppendEntries cuts off newer ones.
    TRUNCATE_AFTER_PREV = "truncate-after-prev"
    # The consistency check tests that prevIndex exists, not that its term matches.
    PREV_TERM_UNCHECKED = "prev-term-unchecked"
    # A follower advances its commit index from an AppendEntries whose consistency check
    # failed, committing (and applying) entries of its own diverging log.
    COMMIT_BEFORE_CHECK = "commit-before-check"

    # ---- commitment
    # The commit index is the upper median of the voters' match indexes: with an even
    # number of voters, half of them is taken for a quorum.
    COMMIT_UPPER_MEDIAN = "commit-upper-median"
    # A successful reply sets matchIndex to the follower's reported last index instead of
    # the last entry the request carried. EQUIVALENT in this core, so no campaign can catch
    # it: a stale suffix beyond the entries sent would be counted, but a successful reply
    # never reports one. nextIndex backs off from the leader's end one entry at a time, so
    # the first success is at the highest index where the logs agree, and the entries sent
    # with it conflict at once with any stale suffix and truncate it; and once the leader's
    # own no-op (appended before its first AppendEntries) is in a follower's log, whatever
    # follows it there came from this leader, which holds it too. A reply from a log that
    # a newer leader extended carries that leader's higher term and is never read as a
    # success. It would matter with NO_LEADER_NOOP, or with a nextIndex that jumps back.
    MATCH_FROM_REPLY = "match-from-reply"
    # A leader starts each new follower's matchIndex at its own last index, as if the
    # follower already held the log (a server added later is counted at once).
    MATCH_INDEX_OPTIMISTIC = "match-index-optimistic"
    # Commitment counts every server of latest, nonvoters included.
    COMMIT_COUNTS_NONVOTERS = "commit-counts-nonvoters"

    # ---- membership
    # A follower adopts a configuration entry when it is committed rather than as soon
    # as it is in the log (§2.2).
    CONFIG_ON_COMMIT = "config-on-commit"
    # Commitment counts the voters of the committed configuration, not of latest (§2.6).
    COMMIT_OLD_CONFIG = "commit-old-config"

    # ---- lease
    # The lease check counts the leader itself twice (once as a voter, once up front).
    LEASE_COUNTS_SELF_TWICE = "lease-counts-self-twice"
    # The lease check is re-armed a whole LeaderLeaseTimeout on, not at the moment the
    # oldest counted contact expires: a leader that lost its quorum leads up to 2 LLT.
    LEASE_FIXED_INTERVAL = "lease-fixed-interval"
    # The lease counts every follower the leader replicates to, nonvoters included.
    LEASE_COUNTS_NONVOTERS = "lease-counts-nonvoters"

    # ---- replication backoff
    # When the backoff after a rejection ends, the loop goes back to waiting instead of
    # retrying, and every later round starts with the same backoff: the follower is never
    # sent the entries it lacks.
    BACKOFF_DROPS_RETRY = "backoff-drops-retry"
    # A failed AppendEntries, heartbeat or not (connection refused, timeout), is retried
    # at once, without backing off: a crashed follower draws a retry storm.
    RETRY_WITHOUT_BACKOFF = "retry-without-backoff"

    # ---- timers
    # Election timeouts without their random spread: servers started together time out
    # together, and split votes repeat for ever.
    NO_ELECTION_JITTER = "no-election-jitter"
    # A candidate arms no election timer: after a split vote it waits for ever.
    CANDIDATE_NO_TIMEOUT = "candidate-no-timeout"
    # A follower refreshes its leader contact only on AppendEntries that carry entries:
    # an idle leader's heartbeats do not keep it from campaigning.
    CONTACT_ONLY_ON_ENTRIES = "contact-only-on-entries"
    # A new leader appends no no-op entry: entries of earlier terms stay uncommitted until
    # a client writes, and membership changes wait for ever (§3.7, §4.2).
    NO_LEADER_NOOP = "no-leader-noop"


# Faults that change what an idle cluster's loops do (the follower timer, the lease check,
# heartbeats): the simulator's fast-forward computes the correct core's loops, so a cluster
# with one of them runs every event one by one instead.
CHANGES_IDLE_LOOPS = frozenset(
    {
        Fault.NO_ELECTION_JITTER,
        Fault.CONTACT_ONLY_ON_ENTRIES,
        Fault.LEASE_FIXED_INTERVAL,
        Fault.LEASE_COUNTS_SELF_TWICE,
        Fault.LEASE_COUNTS_NONVOTERS,
    }
)


# ------------------------------------------------------------------ the longer hooks
# The node calls these only when a fault is on: the correct core's paths stay as they are.


def forget_on_restart(node: RaftNode) -> None:
    """What a restart loses under the persistence faults: the term (taken back from the
    log), the vote, and the last entry written before the crash."""
    storage, faults = node.storage, node.faults
    if Fault.TERM_FROM_LOG in faults and storage.log:
        storage.current_term = storage.last_term
    if Fault.VOTE_NOT_PERSISTED in faults:
        storage.vote_term, storage.vote_for = 0, ""
    if Fault.UNSYNCED_APPEND in faults and len(storage.log) > 1:
        # (Never the bootstrap entry: a server's first start finds exactly that one.)
        index = len(storage.log)
        del storage.log[-1]
        node.events.append(LogTruncated(node.now, node.name, index))


def truncate_after_prev(node: RaftNode, prev: int) -> None:
    """TRUNCATE_AFTER_PREV: cut the log after `prev`, falling back on the committed
    configuration as a correct truncation does (§2.2), so that only the cut is wrong."""
    log = node.storage.log
    if len(log) <= prev:
        return
    del log[prev:]
    node.events.append(LogTruncated(node.now, node.name, prev + 1))
    if prev < node.latest_index:
        node.latest, node.latest_index = node.committed, node.committed_index
        node.configuration_changed()


def adopt_committed_configurations(node: RaftNode, old: int, index: int) -> None:
    """CONFIG_ON_COMMIT: the configuration entries between the old and the new commit
    index take effect only now."""
    for entry in node.storage.log[max(old, node.latest_index) : index]:
        if entry.kind is EntryKind.CONFIGURATION:
            node.adopt_configuration(entry)


def counted_voters(node: RaftNode, voters: tuple[str, ...]) -> tuple[str, ...]:
    """Whose match indexes commitment counts, under the commitment faults (the correct
    core counts `voters`, the voters of latest)."""
    faults = node.faults
    if Fault.COMMIT_OLD_CONFIG in faults:
        voters = node.committed.voters()
    if Fault.COMMIT_COUNTS_NONVOTERS in faults:
        voters = node.latest.ids()
    if Fault.COMMIT_SELF_NONVOTER in faults and node.id not in voters:
        voters = (*voters, node.id)  # a non-voter leader counts itself
    return voters
