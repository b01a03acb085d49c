"""End to end over real gRPC on a localhost port: commands, queries, races, hostile calls,
health, reflection and TLS."""

from __future__ import annotations

import dataclasses
import threading
from datetime import date
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from devtools.devcerts import create_dev_certificates
from registry.api.credit_registry.v1 import registry_pb2 as pb
from registry.api.credit_registry.v1 import registry_pb2_grpc as pb_grpc
from registry.audit.auditor import Auditor
from registry.audit.replay import verify_history
from registry.audit.sources import DatabaseSource
from registry.client.grpc_client import ClientTls, CommandRejected, RegistryClient
from registry.domain import commands as c
from registry.domain.checks import CheckCode
from registry.domain.events import Beneficiary, Origin
from registry.envelope.keys import SigningKey
from registry.rpc.status import check_code_of
from registry.service.server import RegistryServer, TlsFiles
from registry.write.persistence import CHAIN_ID
from tests.e2e.grpc_world import GrpcWorld, build_grpc_world, issue, start_server
from tests.support.helpers import (
    AKISHIMA,
    AUDITOR,
    ISSUER,
    IWAIZUMI,
    MUSASHINO,
    OPERATOR,
    retirement,
)


@pytest.fixture
def world(client: RegistryClient) -> GrpcWorld:
    return build_grpc_world(client)


def head(server: RegistryServer) -> int:
    return len(server.app.recorder.select_events(CHAIN_ID))


def healthy(server: RegistryServer) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


def test_transfer_retire_and_both_sides_see_balances(
    world: GrpcWorld, client: RegistryClient
) -> None:
    issue(world, 100_000, IWAIZUMI)
    moved = client.transfer(
        world.signer(IWAIZUMI), AKISHIMA, 30_000, memo="forest agreement 2011-12-20"
    )
    assert moved.accepted and moved.position > 0
    retired = client.retire(world.signer(AKISHIMA), 12_000, retirement("Akishima city"))
    akishima = client.balance(AKISHIMA, min_position=retired.position)
    iwaizumi = client.balance(IWAIZUMI, min_position=retired.position)
    assert (akishima.tradable_kg, akishima.retired_kg) == (18_000, 12_000)
    assert (iwaizumi.tradable_kg, iwaizumi.retired_kg) == (70_000, 0)
    assert [(b.serial_start, b.serial_end) for b in client.holdings(AKISHIMA)] == [(12_001, 30_000)]
    batch = client.batch("JVER-IWAIZUMI01-20110401-20120331-001")
    assert (batch.issued_kg, batch.tradable_kg, batch.retired_kg) == (100_000, 88_000, 12_000)
    (record,) = client.retirements(holder_id=AKISHIMA)
    assert (record.quantity_kg, record.beneficiary_name, record.purpose) == (
        12_000,
        "Akishima city",
        "residual_emissions",
    )
    allocation = client.allocation(min_position=retired.position)
    # No pool has been opened: the joint-purchase table has no members, only its totals.
    assert (len(allocation.rows), [t.members for t in allocation.totals]) == (0, [0] * 6)


def test_origin_labels_and_location_through_the_query_service(
    world: GrpcWorld, client: RegistryClient
) -> None:
    world.register("icvcm-labels", "issuer", "ICVCM")
    signer = world.signer
    client.execute(
        signer(OPERATOR),
        c.RegisterCreditClass("CCP", "Labelled", (ISSUER,), "icvcm-labels", 100),
    )
    client.execute(
        signer(ISSUER), c.RegisterProject("P1", "CCP", "Forest", "Iwate", "FM", IWAIZUMI)
    )
    origin = Origin("JP-JVER", "JVER-0012", 1, 10_000)
    client.execute(
        signer(ISSUER),
        c.IssueCredits("P1", date(2011, 4, 1), date(2012, 3, 31), 10_000, AKISHIMA, origin),
    )
    batch_id = "CCP-P1-20110401-20120331-001"
    label = c.AddLabel(batch_id, 1, 5_000, "ICVCM-CCP", date(2020, 4, 1), date(2099, 3, 31))
    client.execute(signer("icvcm-labels"), label)
    client.transfer(signer(AKISHIMA), MUSASHINO, 2_000)
    details = c.RetirementDetails(
        Beneficiary("Akishima", AKISHIMA), "facility", 2011, "", None, "JP-13", "ICVCM-CCP"
    )
    retired = client.retire(signer(AKISHIMA), 3_000, details)
    with pytest.raises(CommandRejected) as refused:  # serials 5001-9000 lack the label
        client.retire(signer(AKISHIMA), 1_000, details)
    assert refused.value.code is CheckCode.LABEL_REQUIRED
    batch = client.batch(batch_id, min_position=retired.position)
    assert (batch.origin.registry_id, batch.origin.serial_end) == ("JP-JVER", 10_000)
    assert [(x.label, x.serial_start, x.serial_end, x.valid_until) for x in batch.labels] == [
        ("ICVCM-CCP", 1, 5_000, "2099-03-31")
    ]
    assert batch.buffer_held_kg == 1_000  # a tenth, the highest serials
    (held,) = client.holdings(MUSASHINO)
    assert [(x.label, x.serial_start, x.serial_end) for x in held.labels] == [
        ("ICVCM-CCP", 1, 2_000)
    ]
    (record,) = client.retirements(location="JP-13")
    assert (record.quantity_kg, record.location, record.required_label) == (
        3_000,
        "JP-13",
        "ICVCM-CCP",
    )
    assert [(x.label, x.serial_start, x.serial_end) for x in record.labels] == [
        ("ICVCM-CCP", 2_001, 5_000)
    ]
    assert client.retirements(location="132071") == []


def test_holdings_come_a_page_at_a_time_and_join_again(
    world: GrpcWorld, client: RegistryClient, server: RegistryServer
) -> None:
    """A party with many blocks, one of them a labelled retired block of more pieces than a
    page reads: pages of every size hold the blocks once each, the client joins the block
    that came in parts, labels and all, and a bad page token or size is refused."""
    world.register("icvcm-labels", "issuer", "ICVCM")
    signer = world.signer
    client.execute(signer(OPERATOR), c.RegisterCreditClass("CCP", "L", (ISSUER,), "icvcm-labels"))
    client.execute(
        signer(ISSUER), c.RegisterProject("P1", "CCP", "Forest", "Iwate", "FM", IWAIZUMI)
    )
    body = c.IssueCredits("P1", date(2011, 4, 1), date(2012, 3, 31), 5_000, IWAIZUMI)
    client.execute(signer(ISSUER), body)
    batch_id = "CCP-P1-20110401-20120331-001"
    label = c.AddLabel(batch_id, 1, 4_000, "ICVCM-CCP", date(2020, 4, 1), date(2099, 3, 31))
    client.execute(signer("icvcm-labels"), label)
    # Akishima: serials 1-1500, then every other hundred up to 3,500: eleven blocks.
    moves = [c.TransferCredits(IWAIZUMI, AKISHIMA, 1_500)]
    moves += [
        c.TransferCredits(IWAIZUMI, to, 100) for _ in range(10) for to in (MUSASHINO, AKISHIMA)
    ]
    assert all(r.accepted for r in client.send_batch([signer(IWAIZUMI).sign(m) for m in moves]))
    # 1,002 retirements of a kilogram each: one retired block 1-1002 of as many pieces.
    retire = c.RetireCredits(AKISHIMA, 1, retirement("Akishima city"))
    for count in (1_000, 2):
        results = client.send_batch([signer(AKISHIMA).sign(retire) for _ in range(count)])
        assert all(r.accepted for r in results)
    head_position = results[-1].position
    held = [(b.serial_start, b.serial_end) for b in server.app.ledger.holdings_of(AKISHIMA)]
    assert len(held) == 11
    for page_size in (1, 2, 5, 100):
        blocks = client.holdings(AKISHIMA, head_position, page_size=page_size)
        assert [(b.batch_id, b.serial_start, b.serial_end) for b in blocks] == [
            (batch_id, start, end) for start, end in held
        ], page_size
    first = client.holdings_page(AKISHIMA, head_position, page_size=5)
    assert len(first.blocks) == 5 and first.next_page_token == f"{batch_id}:{held[4][1]}"
    last = client.holdings_page(AKISHIMA, page_size=6, page_token=first.next_page_token)
    assert len(last.blocks) == 6 and last.next_page_token == ""
    legacy = client.queries.GetHoldings(pb.HoldingsRequest(party_id=AKISHIMA, limit=3))
    assert len(legacy.blocks) == 3 and legacy.next_page_token == f"{batch_id}:{held[2][1]}"

    # A page reads at most its size and a thousand more pieces: the block of 1,002 comes in
    # two parts, and the client joins them, the label across the cut with them.
    part = client.holdings_page(AKISHIMA, status="retired", page_size=1)
    assert [(b.serial_start, b.serial_end) for b in part.blocks] == [(1, 1_001)]
    rest = client.holdings_page(AKISHIMA, status="retired", page_token=part.next_page_token)
    assert [(b.serial_start, b.serial_end) for b in rest.blocks] == [(1_002, 1_002)]
    (retired,) = client.holdings(AKISHIMA, status="retired", page_size=1)
    assert (retired.serial_start, retired.serial_end) == (1, 1_002)
    assert [(x.label, x.serial_start, x.serial_end) for x in retired.labels] == [
        ("ICVCM-CCP", 1, 1_002)
    ]

    for page_size, token in ((0, "nonsense"), (0, f"{batch_id}:-5"), (1_001, ""), (-1, "")):
        refused = rejection_of(
            lambda size=page_size, token=token: client.holdings_page(
                AKISHIMA, 0, "tradable", size, token
            )
        )
        assert refused.status is grpc.StatusCode.INVALID_ARGUMENT, (page_size, token)
        assert refused.code is CheckCode.MALFORMED_COMMAND, (page_size, token)
    with pytest.raises(grpc.RpcError) as legacy_refused:  # the old limit, read as page_size
        client.queries.GetHoldings(pb.HoldingsRequest(party_id=AKISHIMA, limit=5_000))
    assert check_code_of(legacy_refused.value)[0] is CheckCode.MALFORMED_COMMAND
    assert head(server) == head_position


def test_fifty_clients_race_for_the_same_credits(world: GrpcWorld, server: RegistryServer) -> None:
    issue(world, 1_000, IWAIZUMI)  # room for exactly ten 100 kg transfers
    signer = world.signer(IWAIZUMI)
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def spend(index: int) -> None:
        with RegistryClient(f"127.0.0.1:{server.port}") as own:
            signed = signer.sign(c.TransferCredits(IWAIZUMI, (AKISHIMA, MUSASHINO)[index % 2], 100))
            start.wait()
            try:
                own.send(signed, "TransferCredits")
                outcome = "accepted"
            except CommandRejected as rejection:
                assert rejection.status is grpc.StatusCode.FAILED_PRECONDITION
                outcome = rejection.code.name if rejection.code else "?"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=spend, args=(index,)) for index in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes.count("accepted") == 10
    assert outcomes.count(CheckCode.INSUFFICIENT_HOLDINGS.name) == 40
    report = verify_history(server.app.read_envelopes(), server.app.registry_public_keys)
    assert report.clean, report.discrepancies
    assert report.ledger.tradable_kg(IWAIZUMI) == 0
    assert report.ledger.tradable_kg(AKISHIMA) + report.ledger.tradable_kg(MUSASHINO) == 1_000
    # The auditor's verdict on the same store: every signature and rule re-checked, and the
    # service's live projections equal to a rebuild from the log.
    with RegistryClient(f"127.0.0.1:{server.port}") as reader:  # a read that waits for it
        reader.balance(AKISHIMA, min_position=server.app.ledger.position)
    audit = Auditor(
        server.app.registry_public_keys,
        workers=2,
        compare_projection_url=server.config.projection_url,
        progress=False,
    ).run(DatabaseSource(server.config.database_url))
    assert audit.clean, audit.discrepancies
    assert audit.envelopes == server.app.ledger.position


def rejection_of(call) -> CommandRejected:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandRejected) as caught:
        call()
    return caught.value


def test_hostile_calls_are_refused_and_record_nothing(
    world: GrpcWorld, client: RegistryClient, server: RegistryServer
) -> None:
    issue(world, 1_000, IWAIZUMI)
    signer = world.signer(IWAIZUMI)
    transfer = c.TransferCredits(IWAIZUMI, AKISHIMA, 10)
    signed = signer.sign(transfer, command_id="hostile-1")
    accepted = client.send(signed, "TransferCredits")
    before = head(server)

    cases = {
        "wrong signature": (
            lambda: client.send(
                dataclasses.replace(signer.sign(transfer), signature=bytes(64)), "TransferCredits"
            ),
            grpc.StatusCode.UNAUTHENTICATED,
            CheckCode.BAD_SIGNATURE,
        ),
        "someone else's account": (
            lambda: client.execute(
                world.signer(AKISHIMA), c.TransferCredits(IWAIZUMI, AKISHIMA, 10)
            ),
            grpc.StatusCode.PERMISSION_DENIED,
            CheckCode.NOT_THE_OWNER,
        ),
        "same id, other content": (
            lambda: client.send(
                signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 11), "hostile-1"),
                "TransferCredits",
            ),
            grpc.StatusCode.ALREADY_EXISTS,
            CheckCode.DUPLICATE_COMMAND_ID,
        ),
        "malformed bytes": (
            lambda: client.send(
                dataclasses.replace(signed, command_bytes=b"\xc3\x01garbage"), "TransferCredits"
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            CheckCode.MALFORMED_COMMAND,
        ),
        "wrong RPC for the command": (
            lambda: client.send(signer.sign(transfer), "RetireCredits"),
            grpc.StatusCode.INVALID_ARGUMENT,
            CheckCode.MALFORMED_COMMAND,
        ),
        "too many in one batch": (
            lambda: client.send_batch([signed] * 1_001),
            grpc.StatusCode.INVALID_ARGUMENT,
            CheckCode.BATCH_TOO_LARGE,
        ),
        "oversized message": (
            lambda: client.send(
                dataclasses.replace(signed, command_bytes=bytes(5 * 1024 * 1024)), "Submit"
            ),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            None,
        ),
        "expired deadline": (
            lambda: client.send(signer.sign(transfer), "TransferCredits", timeout_s=0.000_001),
            grpc.StatusCode.DEADLINE_EXCEEDED,
            None,
        ),
    }
    for name, (call, status, code) in cases.items():
        rejection = rejection_of(call)
        assert rejection.status is status, (name, rejection)
        assert rejection.code is code, (name, rejection)
        assert head(server) == before, f"{name} recorded something"
        assert healthy(server), name

    replay = client.send(signed, "TransferCredits")  # the very same signed command again
    assert (
        replay.replayed
        and replay.position == accepted.position
        and replay.check_code == "DUPLICATE_COMMAND_ID"
    )

    new_key, recovery_key = SigningKey.generate(), SigningKey.generate()
    client.execute(world.signer(IWAIZUMI), c.SetRecoveryKey(IWAIZUMI, recovery_key.public_key))
    client.execute(
        world.signer(OPERATOR), c.RevokeKey(IWAIZUMI, world.keys[IWAIZUMI].key_id, "lost")
    )
    after_revoke = head(server)
    rejection = rejection_of(lambda: client.execute(world.signer(IWAIZUMI), transfer))
    assert (rejection.status, rejection.code) == (
        grpc.StatusCode.UNAUTHENTICATED,
        CheckCode.KEY_REVOKED,
    )
    assert head(server) == after_revoke
    # The operator freezes a key but cannot install one; the party recovers itself.
    installed = rejection_of(
        lambda: client.execute(world.signer(OPERATOR), c.RegisterKey(IWAIZUMI, new_key.public_key))
    )
    assert (installed.status, installed.code) == (
        grpc.StatusCode.PERMISSION_DENIED,
        CheckCode.OPERATOR_CANNOT_INSTALL_KEYS,
    )
    by_recovery = dataclasses.replace(world.signer(IWAIZUMI), key=recovery_key)
    assert client.execute(by_recovery, c.RecoverKey(IWAIZUMI, new_key.public_key)).accepted
    world.keys[IWAIZUMI] = new_key
    assert client.execute(world.signer(IWAIZUMI), transfer).accepted
    assert healthy(server)


def test_a_cosigned_recovery_shows_on_the_read_side_and_freezes_the_party(
    world: GrpcWorld, client: RegistryClient
) -> None:
    issue(world, 1_000, AKISHIMA)
    start = c.StartRecovery(AKISHIMA, "R-1", SigningKey.generate().public_key, "keys lost")
    signed = world.signer(AUDITOR).cosign(world.signer(OPERATOR).sign(start))
    started = client.send(signed)  # through Submit, co-signatures and all
    assert started.accepted, started
    balance = client.balance(AKISHIMA, min_position=started.position)
    assert balance.HasField("pending_recovery") and balance.tradable_kg == 1_000
    assert (balance.pending_recovery.recovery_id, balance.pending_recovery.status) == (
        "R-1",
        "pending",
    )
    assert list(balance.pending_recovery.cosigned_by) == [AUDITOR]
    assert [r.recovery_id for r in client.recoveries(pending_only=True)] == ["R-1"]
    frozen = rejection_of(
        lambda: client.execute(world.signer(AKISHIMA), c.TransferCredits(AKISHIMA, MUSASHINO, 1))
    )
    assert (frozen.status, frozen.code) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        CheckCode.PARTY_FROZEN,
    )
    vetoed = client.execute(world.signer(AKISHIMA), c.VetoRecovery(AKISHIMA, "R-1"))
    assert not client.balance(AKISHIMA, min_position=vetoed.position).HasField("pending_recovery")
    assert [r.status for r in client.recoveries(AKISHIMA)] == ["vetoed"]
    assert client.execute(
        world.signer(AKISHIMA), c.TransferCredits(AKISHIMA, MUSASHINO, 1)
    ).accepted


def test_batch_rpc_commits_together_with_results_per_command(
    world: GrpcWorld, client: RegistryClient
) -> None:
    issue(world, 250, IWAIZUMI)
    signer = world.signer(IWAIZUMI)
    results = client.send_batch(
        [signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 100)) for _ in range(3)]
    )
    assert [r.accepted for r in results] == [True, True, False]
    assert results[2].check_code == "INSUFFICIENT_HOLDINGS" and results[2].check_number == 4001
    assert client.balance(AKISHIMA, min_position=results[1].position).tradable_kg == 200


def test_stream_events_returns_the_stored_bytes_in_order(
    world: GrpcWorld, client: RegistryClient, server: RegistryServer
) -> None:
    issue(world, 10, IWAIZUMI)
    records = list(client.stream_events(after_position=3))
    stored = server.app.recorder.select_events(CHAIN_ID, gt=3)
    assert [r.position for r in records] == [s.originator_version for s in stored]
    assert [r.sealed_envelope for r in records] == [s.state for s in stored]
    assert records[-1].event_types == ["CreditsIssued"]


def test_following_stream_delivers_events_committed_after_subscribing(
    world: GrpcWorld, client: RegistryClient, server: RegistryServer
) -> None:
    """A partner node follows the history without polling: once the stream has caught up, it
    stays open and delivers each new commit (a non-following stream would have ended)."""
    issue(world, 1_000, IWAIZUMI)
    subscribed_at = head(server)
    stream = client.queries.StreamEvents(
        pb.StreamEventsRequest(after_position=subscribed_at, follow=True), timeout=60
    )
    received: list[pb.EnvelopeRecord] = []
    arrivals = [threading.Event(), threading.Event()]

    def read() -> None:
        try:
            for record in stream:
                received.append(record)
                arrivals[min(len(received), 2) - 1].set()
        except grpc.RpcError as error:  # the test cancels the stream once it has both
            assert error.code() is grpc.StatusCode.CANCELLED, error

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    signer = world.signer(IWAIZUMI)
    first = client.execute(signer, c.TransferCredits(IWAIZUMI, AKISHIMA, 100))
    assert arrivals[0].wait(30), "the first commit after subscribing never arrived"
    second = client.execute(signer, c.TransferCredits(IWAIZUMI, MUSASHINO, 200))
    assert arrivals[1].wait(30), "the stream stopped following after catching up"
    stream.cancel()
    reader.join(10)
    stored = {s.originator_version: s.state for s in server.app.recorder.select_events(CHAIN_ID)}
    assert [r.position for r in received] == [first.position, second.position]
    assert [r.sealed_envelope for r in received] == [
        stored[first.position],
        stored[second.position],
    ]
    assert received[1].event_types == ["CreditsTransferred"]


def test_reflection_lists_the_services(server: RegistryServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {
            "credit_registry.v1.CommandService",
            "credit_registry.v1.QueryService",
            "grpc.health.v1.Health",
        } <= services
        method = database.FindFileContainingSymbol("credit_registry.v1.CommandService")
        assert method.package == "credit_registry.v1"


def reflect_v1(
    channel: grpc.Channel, *requests: reflection_pb2.ServerReflectionRequest
) -> list[reflection_pb2.ServerReflectionResponse]:
    """Ask through the v1 reflection API, as current tools do. Its messages are v1alpha's
    field for field (only the package is renamed), so v1alpha's classes encode them."""
    call = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    return list(call(iter(requests), timeout=10))


def described_file(
    response: reflection_pb2.ServerReflectionResponse,
) -> descriptor_pb2.FileDescriptorProto:
    first = response.file_descriptor_response.file_descriptor_proto[0]
    return descriptor_pb2.FileDescriptorProto.FromString(first)


def test_reflection_v1_lists_and_describes_the_services(server: RegistryServer) -> None:
    Request = reflection_pb2.ServerReflectionRequest
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        listed, api, itself = reflect_v1(
            channel,
            Request(list_services=""),
            Request(file_containing_symbol="credit_registry.v1.CommandService"),
            Request(file_containing_symbol="grpc.reflection.v1.ServerReflection"),
        )
    services = {service.name for service in listed.list_services_response.service}
    assert {
        "credit_registry.v1.CommandService",
        "credit_registry.v1.QueryService",
        "credit_registry.v1.ExchangeService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= services
    assert described_file(api).package == "credit_registry.v1"
    reflection_file = described_file(itself)
    (method,) = reflection_file.service[0].method
    assert (reflection_file.package, method.name, method.input_type) == (
        "grpc.reflection.v1",
        "ServerReflectionInfo",
        ".grpc.reflection.v1.ServerReflectionRequest",
    )


def test_mutual_tls_refuses_clients_without_a_certificate(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    create_dev_certificates(certs, ("akishima",))
    tls = TlsFiles(certs / "server.pem", certs / "server.key", client_ca=certs / "ca.pem")
    running = start_server(tmp_path, tls=tls)
    try:
        target = f"localhost:{running.port}"
        with RegistryClient(
            target, ClientTls(certs / "ca.pem", certs / "akishima.pem", certs / "akishima.key")
        ) as trusted:
            assert len(trusted.allocation().totals) == 6  # served
        with RegistryClient(target, ClientTls(certs / "ca.pem")) as anonymous:
            rejection = rejection_of(lambda: anonymous.allocation())
            assert rejection.status is grpc.StatusCode.UNAVAILABLE
        with RegistryClient(target) as plaintext:
            assert (
                rejection_of(lambda: plaintext.allocation()).status is grpc.StatusCode.UNAVAILABLE
            )
    finally:
        running.stop(grace_s=1)


def test_stubs_serve_the_declared_services() -> None:
    assert pb.DESCRIPTOR.package == "credit_registry.v1"
    assert set(pb.DESCRIPTOR.services_by_name) == {
        "CommandService",
        "QueryService",
        "ExchangeService",
    }
    assert hasattr(pb_grpc, "CommandServiceStub")


def test_metrics_count_calls_by_method_and_code(tmp_path: Path) -> None:
    import urllib.request

    running = start_server(tmp_path, metrics_port=0)
    try:
        with RegistryClient(f"127.0.0.1:{running.port}") as connected:
            world = build_grpc_world(connected)
            issue(world, 100, IWAIZUMI)
            with pytest.raises(CommandRejected):
                connected.transfer(world.signer(IWAIZUMI), AKISHIMA, 1_000)
        assert running.metrics_port
        text = (
            urllib.request.urlopen(f"http://127.0.0.1:{running.metrics_port}/metrics", timeout=10)
            .read()
            .decode()
        )
    finally:
        running.stop(grace_s=1)
    assert 'credit_registry_requests_total{code="OK",method="RegisterParty"}' in text
    assert (
        'credit_registry_requests_total{code="FAILED_PRECONDITION",method="TransferCredits"}'
        in text
    )
    assert 'credit_registry_commands_total{result="INSUFFICIENT_HOLDINGS"}' in text
    assert "credit_registry_head_position" in text
