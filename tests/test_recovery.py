"""Manual recovery with peers.json (raftsim.core.recovery, raftsim.sim.datadir): the sentinel
rule, the protocol-1 format, validation and startup failures with Nomad's and hashicorp's
texts (spec nomad-api.md §5), and RecoverCluster's effect on a server (raft-semantics §2.4:
configuration replaced, outstanding entries committed, term kept, file deleted)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftsim.core.errors import RaftsimError
from raftsim.core.profile import P1, P3
from raftsim.core.recovery import NO_STATE, PeersJsonError, read_peers_json, recover
from raftsim.core.storage import Storage
from raftsim.core.types import Configuration, Role, Server, Suffrage
from raftsim.scenario import Runner
from raftsim.sim.cluster import DOWN, UP, Cluster
from raftsim.sim.datadir import (
    DELETED_AFTER_RECOVERY,
    DELETED_UNUSED,
    FOUND,
    PEERS_INFO,
    PEERS_INFO_TEXT,
    PEERS_JSON,
    MemoryDirectory,
    StartError,
    open_raft,
)
from raftsim.sim.events import NomadLogged, Recovered, StartFailed

ALICE = "127.0.0.1:4647"


def voters(*addresses: str) -> Configuration:
    return Configuration(tuple(Server(Suffrage.VOTER, a, a) for a in addresses))


def started(files: dict[str, bytes]) -> tuple[MemoryDirectory, Storage]:
    storage = Storage()
    storage.bootstrap(Storage.bootstrap_entry(voters(ALICE, "127.0.0.2:4647")))
    return MemoryDirectory(dict(files)), storage


# ------------------------------------------------------------------ the format (§5)


def test_peers_json_protocol_1_is_an_array_of_addresses_each_a_voter_with_id_equal_address() -> (
    None
):
    """§5 Formats: `["10.1.0.1:4647", ...]`, every entry a voter whose ID is its address."""
    data = b'["10.1.0.1:4647","10.1.0.2:4647","10.1.0.3:4647"]'

    assert read_peers_json(data, P1) == voters("10.1.0.1:4647", "10.1.0.2:4647", "10.1.0.3:4647")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        # §5: validated like a Raft configuration (hashicorp aaad9f1 capitalised its texts).
        (b"[]", "Need at least one voter in configuration: {[]}"),
        (b"null", "Need at least one voter in configuration: {[]}"),
        (b'[""]', "Empty ID in configuration: {[{Voter  }]}"),
        (b'["a:1", null]', "Empty ID in configuration: {[{Voter a:1 a:1} {Voter  }]}"),
        (b'["a:1","a:1"]', "Found duplicate ID in configuration: a:1"),
        # Go's encoding/json into []string.
        (b"", "EOF"),
        (b"  \n", "EOF"),
        (b'{"a": 1}', "json: cannot unmarshal object into Go value of type []string"),
        (b'"a:1"', "json: cannot unmarshal string into Go value of type []string"),
        (b"4647", "json: cannot unmarshal number into Go value of type []string"),
        (b"true", "json: cannot unmarshal bool into Go value of type []string"),
        (b'["a:1", 4647]', "json: cannot unmarshal number into Go value of type string"),
        (b'[["a:1"]]', "json: cannot unmarshal array into Go value of type string"),
        (b'["a:1"', "unexpected EOF"),
        (b'["a:1",]', "invalid character ']' looking for beginning of value"),
        (b'["a:1" "b:1"]', "invalid character '\"' after array element"),
        (b"[NaN]", "invalid character 'N' looking for beginning of value"),
        # The decoder reads the number 10.1, its first value, and stops there.
        (b"10.1.0.1:4647", "json: cannot unmarshal number into Go value of type []string"),
    ],
)
def test_peers_json_errors_have_go_texts(data: bytes, error: str) -> None:
    """Every refusal is a PeersJsonError with the text hashicorp's ReadPeersJSON returns."""
    with pytest.raises(PeersJsonError) as raised:
        read_peers_json(data, P1)

    assert str(raised.value) == error


def test_peers_json_reads_only_the_first_value_as_gos_decoder_does() -> None:
    """json.Decoder.Decode stops after the first value: what follows is never read."""
    assert read_peers_json(b'["127.0.0.1:4647"] trailing', P1) == voters(ALICE)


def test_peers_json_takes_any_string_as_an_address_as_hashicorp_does() -> None:
    """ReadPeersJSON checks no address format: an HTTP port (4646) is taken as given."""
    assert read_peers_json(b'["127.0.0.1:4646"]', P1) == voters("127.0.0.1:4646")


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=12,
)
EXPECTED_ERRORS = (
    "Need at least one voter in configuration: ",
    "Empty ID in configuration: ",
    "Found duplicate ID in configuration: ",
    "json: cannot unmarshal ",
)


@settings(max_examples=300, deadline=None)
@given(document=JSON | st.lists(st.text(max_size=8) | st.none(), max_size=5))
def test_any_json_document_as_peers_json_recovers_cleanly_or_fails_with_the_exact_error(
    document: object,
) -> None:
    """Arbitrary JSON as peers.json on a stopped server: either the recovery succeeds with
    exactly the listed addresses as voters, or the server does not start and the error is
    Nomad's `recovery failed to parse peers.json: ` with the Go text; never a traceback."""
    data = json.dumps(document).encode()
    directory, storage = started({PEERS_INFO: b"x", PEERS_JSON: data})
    expected = None
    strings = isinstance(document, list) and all(isinstance(a, str) for a in document)
    if strings and document and all(document) and len(set(document)) == len(document):
        expected = voters(*document)

    try:
        opened = open_raft(directory, storage, P1)
    except StartError as error:
        assert expected is None
        text = str(error)
        assert text.startswith("recovery failed to parse peers.json: ")
        detail = text.removeprefix("recovery failed to parse peers.json: ")
        assert detail.startswith(EXPECTED_ERRORS), detail
        assert PEERS_JSON in directory.files  # the file stays for the operator to fix
        assert storage.recovered is None
    else:
        assert opened.recovered == (expected, storage.last_index)
        assert opened.lines == (FOUND, DELETED_AFTER_RECOVERY)
        assert PEERS_JSON not in directory.files


# ------------------------------------------------------------------ the sentinel rule (§5)


def test_first_start_writes_peers_info_and_deletes_an_unused_peers_json() -> None:
    """§5 Sentinel rule: without peers.info the server writes it (Nomad's text) and deletes
    peers.json without reading it, logging Nomad's line."""
    directory, storage = started({PEERS_JSON: b"not even JSON"})

    opened = open_raft(directory, storage, P1)

    assert directory.files == {PEERS_INFO: PEERS_INFO_TEXT.encode()}
    assert opened.lines == (DELETED_UNUSED,)
    assert opened.recovered is None and storage.recovered is None
    assert "As of Nomad 0.5.5, the peers.json file is only used for recovery" in PEERS_INFO_TEXT


def test_start_with_peers_info_and_no_peers_json_does_nothing() -> None:
    directory, storage = started({PEERS_INFO: b"x"})

    assert open_raft(directory, storage, P1).lines == ()
    assert directory.files == {PEERS_INFO: b"x"}


@pytest.mark.parametrize(
    ("files", "read_only", "error"),
    [
        (
            {},
            True,
            "failed to write peers.info file: open alice/server/raft/peers.info: permission denied",
        ),
        (
            {PEERS_INFO: b"x", PEERS_JSON: b'["127.0.0.1:4647"]'},
            True,
            "recovery failed to delete peers.json, please delete manually (see peers.info for "
            "details): remove alice/server/raft/peers.json: permission denied",
        ),
        (
            {PEERS_INFO: b"x", PEERS_JSON: b"[]"},
            False,
            "recovery failed to parse peers.json: Need at least one voter in configuration: {[]}",
        ),
    ],
)
def test_startup_failures_have_nomads_texts(
    files: dict[str, bytes], read_only: bool, error: str
) -> None:
    """§5: `failed to write peers.info file`, `recovery failed to parse peers.json`,
    `recovery failed to delete peers.json, please delete manually (see peers.info ...)`."""
    directory, storage = started(files)
    directory.read_only = read_only
    directory.where = "alice/server/raft"

    with pytest.raises(StartError) as raised:
        open_raft(directory, storage, P1)

    assert str(raised.value) == error


def test_recover_refuses_a_server_without_state() -> None:
    """hashicorp RecoverCluster: no existing state is an operator error; Nomad prefixes
    `recovery failed: `."""
    directory = MemoryDirectory({PEERS_INFO: b"x", PEERS_JSON: b'["127.0.0.1:4647"]'})

    with pytest.raises(StartError) as raised:
        open_raft(directory, Storage(), P1)

    assert str(raised.value) == f"recovery failed: {NO_STATE}"
    assert PEERS_JSON in directory.files


def test_recover_keeps_term_and_log_and_marks_the_recovery_point() -> None:
    storage = Storage()
    storage.bootstrap(Storage.bootstrap_entry(voters(ALICE, "127.0.0.2:4647")))
    storage.current_term = 7

    assert recover(storage, voters(ALICE), P1) == 1
    assert storage.current_term == 7 and storage.last_index == 1
    assert storage.recovered == (1, voters(ALICE))


def test_peers_json_protocol_3_is_an_array_of_objects() -> None:
    """§5 Formats (0.9.2+ on protocol 3, hashicorp ReadConfigJSON): `id` and `address`
    required, `non_voter` defaulting to false; keys matched as encoding/json matches them
    (exactly, else ignoring case), others ignored."""
    data = (
        b'[{"id":"adf4","address":"10.1.0.1:4647","non_voter":false},'
        b'{"ID":"8b6d","Address":"10.1.0.2:4647","extra":1},'
        b'{"id":"c3","address":"10.1.0.3:4647","Non_Voter":true}]'
    )
    assert read_peers_json(data, P3) == Configuration(
        (
            Server(Suffrage.VOTER, "adf4", "10.1.0.1:4647"),
            Server(Suffrage.VOTER, "8b6d", "10.1.0.2:4647"),
            Server(Suffrage.NONVOTER, "c3", "10.1.0.3:4647"),
        )
    )


@pytest.mark.parametrize(
    ("data", "error"),
    [
        # The protocol-1 file on a protocol-3 server: each string is no configEntry.
        (
            b'["127.0.0.1:4647"]',
            "json: cannot unmarshal string into Go value of type raft.configEntry",
        ),
        (b'{"id":"a"}', "json: cannot unmarshal object into Go value of type []raft.configEntry"),
        (
            b'[{"id":5,"address":"x:1"}]',
            "json: cannot unmarshal number into Go struct field configEntry.id of type "
            "raft.ServerID",
        ),
        (
            b'[{"id":"a","address":["x:1"]}]',
            "json: cannot unmarshal array into Go struct field configEntry.address of type "
            "raft.ServerAddress",
        ),
        (
            b'[{"id":"a","address":"x:1","non_voter":"no"}]',
            "json: cannot unmarshal string into Go struct field configEntry.non_voter of type bool",
        ),
        # Validated like a configuration, in v1.7.3's lowercase texts.
        (b'[{"address":"x:1"}]', "empty ID in configuration: {[{Voter  x:1}]}"),
        (b"[null]", "empty ID in configuration: {[{Voter  }]}"),
        (b'[{"id":"a"}]', "empty address in configuration: {Voter a }"),
        (
            b'[{"id":"a","address":"x:1"},{"id":"a","address":"y:1"}]',
            "found duplicate ID in configuration: a",
        ),
        (
            b'[{"id":"a","address":"x:1"},{"id":"b","address":"x:1"}]',
            "found duplicate address in configuration: x:1",
        ),
        (
            b'[{"id":"a","address":"x:1","non_voter":true}]',
            "need at least one voter in configuration: {[{Nonvoter a x:1}]}",
        ),
    ],
)
def test_peers_json_protocol_3_errors_have_go_texts(data: bytes, error: str) -> None:
    with pytest.raises(PeersJsonError) as raised:
        read_peers_json(data, P3)
    assert str(raised.value) == error


# ------------------------------------------------------------------ in a running cluster


def lose_quorum(seed: int = 1) -> Cluster:
    """Three servers, one committed command, then bob and carol crash for good and alice
    is stopped: the starting point of §5's manual recovery."""
    cluster = Cluster(3, seed=seed, trace="state")
    cluster.run_for("5s")
    cluster.propose("job-1")
    cluster.run_for("1s")
    for name in ("bob", "carol", "alice"):
        cluster.crash(name)
    return cluster


def test_recovery_on_the_survivor_elects_it_and_deletes_the_file() -> None:
    """RecoverCluster semantics: configuration replaced, term kept, the log committed up
    to its end at once, the file deleted; the survivor then elects itself."""
    cluster = lose_quorum()
    alice = cluster.server("alice")
    term = alice.storage.current_term
    alice.directory.write(PEERS_JSON, json.dumps([alice.address]).encode())

    cluster.restart("alice")
    view = cluster.view("alice")

    assert view.latest == voters(alice.address) and view.committed == view.latest
    assert view.commit_index == view.last_index == 3 and view.term == term
    assert PEERS_JSON not in alice.directory.files
    kinds = [e.kind for e in cluster.records if e.server == "alice"]
    start = len(kinds) - 1 - kinds[::-1].index("restart")
    assert kinds[start : start + 5] == ["restart", "log", "log", "recover", "config"]
    lines = [e.line for e in cluster.records if isinstance(e, NomadLogged)]
    assert lines == [FOUND, DELETED_AFTER_RECOVERY]
    cluster.run_for("5s")
    assert cluster.leader() == "alice" and cluster.violations == []


def test_failed_recovery_leaves_the_server_down_and_records_why() -> None:
    cluster = lose_quorum()
    alice = cluster.server("alice")
    alice.directory.write(PEERS_JSON, b'["127.0.0.1:4647",]')

    with pytest.raises(StartError) as raised:
        cluster.restart("alice")

    error = (
        "recovery failed to parse peers.json: invalid character ']' looking for beginning of value"
    )
    assert str(raised.value) == error
    assert alice.status == DOWN and alice.storage.recovered is None
    assert [e.error for e in cluster.records if isinstance(e, StartFailed)] == [error]
    # Fixed by the operator, the same server starts.
    alice.directory.write(PEERS_JSON, b'["127.0.0.1:4647"]')
    cluster.restart("alice")
    assert alice.status == UP


def test_disagreeing_files_give_two_leaders_reported_as_operator_caused() -> None:
    """§5 asks for identical files on every survivor. Two survivors each listing only
    itself recover into disjoint configurations: both lead. The simulator keeps running;
    the checkers report the split as the operator's doing, not as a Raft bug."""
    cluster = Cluster(3, seed=1, trace="state")
    cluster.run_for("5s")
    cluster.propose("job-1")
    cluster.run_for("1s")
    for name in ("alice", "bob", "carol"):
        cluster.crash(name)
    for name in ("alice", "bob"):
        server = cluster.server(name)
        server.directory.write(PEERS_JSON, json.dumps([server.address]).encode())
        cluster.restart(name)

    cluster.run_for("10s")

    roles = {name: cluster.view(name).role for name in ("alice", "bob")}
    assert roles == {"alice": Role.LEADER, "bob": Role.LEADER}
    assert any(isinstance(e, Recovered) for e in cluster.records)
    # Both may win the same term: Election Safety breaks, and says who caused it.
    for violation in cluster.violations:
        assert violation.cause.startswith("peers.json recovery on alice")
        assert "[operator-caused: peers.json recovery on alice" in str(violation)


ADDRESSES = st.sampled_from(
    ["127.0.0.1:4647", "127.0.0.2:4647", "127.0.0.3:4647", "127.0.0.1:4646", "10.0.0.9:4647"]
)
PEERS = st.one_of(
    JSON.map(json.dumps),
    st.lists(ADDRESSES, max_size=4).map(json.dumps),
    st.binary(max_size=24).map(lambda b: b.decode("latin-1")),
)


@settings(max_examples=60, deadline=None)
@given(files=st.lists(PEERS, min_size=1, max_size=2))
def test_any_peers_json_in_a_running_cluster_recovers_or_refuses_and_the_cluster_runs_on(
    files: list[str],
) -> None:
    """The whole path in a cluster: after quorum is lost, arbitrary peers.json files (JSON
    of any shape, lists of real, HTTP-port and unknown addresses, bytes that are not JSON;
    one survivor, or two with files that may disagree) and a restart of each. Each start
    either fails with Nomad's exact text (the server stays down) or recovers; then the
    cluster runs on without a traceback, and any broken rule is reported as the
    operator's doing."""
    cluster = lose_quorum()
    prefixes = ("recovery failed to parse peers.json: ", "recovery failed: ")
    for name, text in zip(("alice", "bob"), files, strict=False):
        server = cluster.server(name)
        server.directory.write(PEERS_JSON, text.encode("latin-1"))
        try:
            cluster.restart(name)
        except StartError as error:
            assert str(error).startswith(prefixes), str(error)
            assert server.status == DOWN and PEERS_JSON in server.directory.files
        else:
            assert server.status == UP and PEERS_JSON not in server.directory.files

    cluster.run_for("20s")

    assert all(violation.cause for violation in cluster.violations), cluster.violations


def test_scenario_peers_json_writes_the_file_the_restart_reads() -> None:
    runner = Runner()
    runner.execute("cluster servers=3 seed=1")
    runner.execute("run-for 5s")
    runner.execute("crash alice")

    assert runner.execute("peers-json alice 127.0.0.1:4647 127.0.0.2:4647") == [
        'alice/server/raft/peers.json: ["127.0.0.1:4647", "127.0.0.2:4647"]'
    ]
    lines = runner.execute("restart alice")
    assert any("found peers.json file, recovering Raft configuration..." in line for line in lines)
    assert any("recover   configuration=[alice bob] committed up to" in line for line in lines)


def test_scenario_restart_with_a_bad_file_prints_nomads_error() -> None:
    runner = Runner()
    runner.execute("cluster servers=3 seed=1")
    runner.execute("crash alice")
    runner.execute("peers-json alice")

    lines = runner.execute("restart alice")

    error = "recovery failed to parse peers.json: Need at least one voter in configuration: {[]}"
    assert lines[-1] == f"error: {error}"
    assert any("start-failed" in line for line in lines)


def test_start_error_is_a_raftsim_error() -> None:
    assert issubclass(StartError, RaftsimError)
