"""The CommandService and QueryService servicers. They only translate: protobuf in,
application or projection queries, protobuf out; rejections become rich statuses."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import sqlalchemy
from eventsourcing.persistence import InterfaceError, OperationalError

from projections import attribute_queries, queries
from projections.holdings import (
    HOLDINGS_PAGE_BLOCKS_DEFAULT,
    HOLDINGS_PAGE_BLOCKS_MAX,
    page_token,
    parse_page_token,
)
from projections.recoveries import RecoveryView, recoveries
from projections.store import ProjectionStore
from registry.api.credit_registry.v1 import registry_pb2 as pb
from registry.api.credit_registry.v1 import registry_pb2_grpc as pb_grpc
from registry.domain import commands as c
from registry.domain.checks import CheckCode
from registry.domain.results import CommandResult
from registry.envelope.sealing import open_sealed
from registry.log import EVENT_TYPES_HEADER, record_for
from registry.rpc.status import rich_status
from registry.rpc.translate import result_message, signed_command
from registry.service.attribute_messages import label_messages, origin_message
from registry.support.observability import COMMANDS, HEAD_POSITION
from registry.write.application import BATCH_COMMANDS_MAX, RegistryApplication
from registry.write.persistence import CHAIN_ID

# The least time a call must have left for the server to start a write: less than this and
# the client would give up before hearing the answer, so the server refuses up front.
DEADLINE_S_MIN = 0.005
READ_WAIT_S_MAX = 10.0
STREAM_PAGE_EVENTS = 500
STREAM_IDLE_S = 0.2
DELIVERIES_PAGE_MAX = 10_000

RPC_BODIES: dict[str, type[Any] | None] = {
    "RegisterParty": c.RegisterParty,
    "RegisterKey": c.RegisterKey,
    "RotateKey": c.RotateKey,
    "RevokeKey": c.RevokeKey,
    "RegisterCreditClass": c.RegisterCreditClass,
    "RegisterProject": c.RegisterProject,
    "IssueCredits": c.IssueCredits,
    "TransferCredits": c.TransferCredits,
    "RetireCredits": c.RetireCredits,
    "CancelCredits": c.CancelCredits,
    "IssueAggregated": c.IssueAggregated,
    "Submit": None,
}
EXCHANGE_BODIES: dict[str, type[Any] | None] = {
    "SignAgreement": c.SignAgreement,
    "ProposeDelivery": c.ProposeDelivery,
    "ResolveDelivery": c.ResolveDelivery,
}


def recovery_message(view: RecoveryView) -> pb.Recovery:
    return pb.Recovery(
        party_id=view.party_id,
        recovery_id=view.recovery_id,
        status=view.status,
        key_id=view.key_id,
        reason=view.reason,
        started_by=view.started_by,
        cosigned_by=list(view.cosigned_by),
        started_at_us=view.started_at_us,
        due_at_us=view.due_at_us,
        started_position=view.started_position,
    )


def _count(result: CommandResult) -> None:
    if result.accepted and not result.replayed:
        COMMANDS.labels("ACCEPTED").inc()
        HEAD_POSITION.set(result.position or 0)
    else:
        COMMANDS.labels(result.code.name if result.code else "UNKNOWN").inc()


def _require_time(context: grpc.ServicerContext) -> None:
    remaining = context.time_remaining()
    if remaining is not None and remaining < DEADLINE_S_MIN:
        context.abort(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"less than {DEADLINE_S_MIN * 1000:.0f} ms left: nothing done",
        )


# The event store refusing or cutting connections (a restart, a failover, a database closed
# for maintenance): not a verdict on the command, so not UNKNOWN but UNAVAILABLE, which tells
# the client to send the same signed command again. If the store took the command before the
# connection broke, the retry gets the first result back (idempotency): at most once per id.
STORE_UNAVAILABLE = (
    OperationalError,
    InterfaceError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
)


@contextmanager
def _store_unavailable_as_status(context: grpc.ServicerContext) -> Iterator[None]:
    try:
        yield
    except STORE_UNAVAILABLE as error:
        context.abort(
            grpc.StatusCode.UNAVAILABLE,
            f"the event store is unavailable ({type(error).__name__}): "
            "send the same signed command again",
        )


class CommandServicer(pb_grpc.CommandServiceServicer):  # type: ignore[misc]
    def __init__(
        self, app: RegistryApplication, on_commit: Callable[[], None] = lambda: None
    ) -> None:
        self.app = app
        self.on_commit = on_commit
        for rpc, body in RPC_BODIES.items():
            setattr(self, rpc, self._unary(body))

    def _unary(
        self, body: type[Any] | None
    ) -> Callable[[pb.CommandRequest, grpc.ServicerContext], pb.CommandResponse]:
        def handle(request: pb.CommandRequest, context: grpc.ServicerContext) -> pb.CommandResponse:
            _require_time(context)
            if not request.HasField("command"):
                context.abort_with_status(
                    rich_status(CheckCode.MALFORMED_COMMAND, "the request carries no command")
                )
            with _store_unavailable_as_status(context):
                result = self.app.submit(signed_command(request.command), expected_body=body)
            self._answer(result, context)
            return pb.CommandResponse(result=result_message(result))

        return handle

    def _answer(self, result: CommandResult, context: grpc.ServicerContext) -> None:
        _count(result)
        if result.accepted:
            if not result.replayed:
                self.on_commit()
            return
        code = result.code if result.code is not None else CheckCode.INTERNAL_ERROR
        context.abort_with_status(rich_status(code, result.message))

    def SubmitBatch(
        self, request: pb.CommandBatchRequest, context: grpc.ServicerContext
    ) -> pb.CommandBatchResponse:
        _require_time(context)
        if len(request.commands) > BATCH_COMMANDS_MAX:
            detail = f"{len(request.commands)} commands; at most {BATCH_COMMANDS_MAX} per call"
            context.abort_with_status(rich_status(CheckCode.BATCH_TOO_LARGE, detail))
        with _store_unavailable_as_status(context):
            results = self.app.submit_batch(
                [signed_command(command) for command in request.commands]
            )
        for result in results:
            _count(result)
        if any(result.accepted and not result.replayed for result in results):
            self.on_commit()
        return pb.CommandBatchResponse(results=[result_message(result) for result in results])


class QueryServicer(pb_grpc.QueryServiceServicer):  # type: ignore[misc]
    def __init__(
        self, app: RegistryApplication, store: ProjectionStore, stop: threading.Event
    ) -> None:
        self.app = app
        self.store = store
        self.stop = stop

    def _wait_for(self, min_position: int, context: grpc.ServicerContext) -> None:
        """Read your writes: hold the read until the projections have the position."""
        if min_position <= 0:
            return
        remaining = context.time_remaining()
        deadline = time.monotonic() + min(
            READ_WAIT_S_MAX, remaining if remaining is not None else READ_WAIT_S_MAX
        )
        while not self.store.has_applied_through(min_position):
            if time.monotonic() >= deadline:
                context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    f"projections have not reached position {min_position} yet",
                )
            time.sleep(0.01)

    def GetBalance(
        self, request: pb.BalanceRequest, context: grpc.ServicerContext
    ) -> pb.BalanceResponse:
        self._wait_for(request.min_position, context)
        with self.store.engine.connect() as connection:
            balance = queries.balance(connection, request.party_id)
        lines = [
            pb.BalanceLine(
                class_id=line.class_id,
                vintage=line.vintage,
                tradable_kg=line.tradable_kg,
                pending_kg=line.pending_kg,
                retired_kg=line.retired_kg,
            )
            for line in balance.lines
        ]
        recovery = balance.pending_recovery
        return pb.BalanceResponse(
            party_id=request.party_id,
            lines=lines,
            tradable_kg=balance.tradable_kg,
            pending_kg=balance.pending_kg,
            retired_kg=balance.retired_kg,
            pending_recovery=recovery_message(recovery) if recovery else None,
        )

    def ListRecoveries(
        self, request: pb.RecoveriesRequest, context: grpc.ServicerContext
    ) -> pb.RecoveriesResponse:
        self._wait_for(request.min_position, context)
        with self.store.engine.connect() as connection:
            found = recoveries(connection, request.party_id or None, request.pending_only)
        return pb.RecoveriesResponse(recoveries=[recovery_message(view) for view in found])

    def GetHoldings(
        self, request: pb.HoldingsRequest, context: grpc.ServicerContext
    ) -> pb.HoldingsResponse:
        self._wait_for(request.min_position, context)
        status = request.status or "tradable"
        if status not in ("tradable", "pending", "retired", "cancelled"):
            context.abort_with_status(
                rich_status(CheckCode.MALFORMED_COMMAND, f"unknown status {status!r}")
            )
        page_blocks = request.page_size or request.limit or HOLDINGS_PAGE_BLOCKS_DEFAULT
        if not 0 < page_blocks <= HOLDINGS_PAGE_BLOCKS_MAX:
            detail = f"page_size is 1 to {HOLDINGS_PAGE_BLOCKS_MAX} blocks, not {page_blocks}"
            context.abort_with_status(rich_status(CheckCode.MALFORMED_COMMAND, detail))
        try:
            after = parse_page_token(request.page_token)
        except ValueError as error:
            context.abort_with_status(rich_status(CheckCode.MALFORMED_COMMAND, str(error)))
            raise AssertionError("abort raises") from error
        with self.store.engine.connect() as connection:
            page = queries.holdings(connection, request.party_id, status, after, page_blocks)
            found = page.blocks
            labels = attribute_queries.labels_of_blocks(
                connection, [(h.batch_id, h.serial_start, h.serial_end) for h in found]
            )
        blocks = [
            pb.SerialBlock(
                batch_id=h.batch_id,
                serial_start=h.serial_start,
                serial_end=h.serial_end,
                labels=label_messages(on_block),
            )
            for h, on_block in zip(found, labels, strict=True)
        ]
        return pb.HoldingsResponse(blocks=blocks, next_page_token=page_token(page.next_after))

    def GetBatch(self, request: pb.BatchRequest, context: grpc.ServicerContext) -> pb.BatchResponse:
        self._wait_for(request.min_position, context)
        with self.store.engine.connect() as connection:
            view = queries.batch(connection, request.batch_id)
        if view is None:
            context.abort_with_status(rich_status(CheckCode.UNKNOWN_BATCH, repr(request.batch_id)))
            raise AssertionError("abort raises")
        return pb.BatchResponse(
            batch_id=view.batch_id,
            class_id=view.class_id,
            project_id=view.project_id,
            vintage=view.vintage,
            issuer_id=view.issuer_id or "",
            issued_kg=view.issued_kg,
            tradable_kg=view.tradable_kg,
            pending_kg=view.pending_kg,
            retired_kg=view.retired_kg,
            cancelled_kg=view.cancelled_kg,
            origin=origin_message(view.origin),
            labels=label_messages(view.labels),
            buffer_held_kg=view.buffer_held_kg,
        )

    def ListRetirements(
        self, request: pb.RetirementsRequest, context: grpc.ServicerContext
    ) -> pb.RetirementsResponse:
        self._wait_for(request.min_position, context)
        with self.store.engine.connect() as connection:
            found = queries.retirements(
                connection,
                request.holder_id or None,
                request.beneficiary_party_id or None,
                request.after_position,
                min(request.limit or 1_000, 10_000),
                request.location or None,
            )
            carried = [
                attribute_queries.retirement_labels(connection, r.position, r.effect_index)
                for r in found
            ]
        return pb.RetirementsResponse(
            retirements=[
                pb.Retirement(
                    position=r.position,
                    holder_id=r.holder_id,
                    quantity_kg=r.quantity_kg,
                    blocks=r.blocks,
                    beneficiary_name=r.beneficiary_name,
                    beneficiary_party_id=r.beneficiary_party_id or "",
                    purpose=r.purpose,
                    reporting_year=r.reporting_year,
                    memo=r.memo,
                    location=r.location or "",
                    required_label=r.required_label or "",
                    labels=label_messages(labels),
                )
                for r, labels in zip(found, carried, strict=True)
            ]
        )

    def GetAllocation(
        self, request: pb.AllocationRequest, context: grpc.ServicerContext
    ) -> pb.AllocationResponse:
        self._wait_for(request.min_position, context)
        with self.store.engine.connect() as connection:
            rows, totals = queries.allocation(connection, request.pool_id)
            meetings = queries.meetings(connection, request.pool_id)
            pool = queries.pool(connection, request.pool_id)
        return pb.AllocationResponse(
            rows=[
                pb.AllocationRow(
                    member_code=r.member_code,
                    name_ja=r.name_ja,
                    name_en=r.name_en,
                    kind=r.kind,
                    events_offset=r.events_offset,
                    allocated_kg=r.allocated_kg,
                    offset_kg=r.offset_kg,
                    estimate_kg=r.estimate_kg,
                    calculated_kg=r.calculated_kg,
                )
                for r in rows
            ],
            totals=[
                pb.AllocationTotal(
                    label=s.label,
                    members=s.members,
                    participating=s.participating,
                    events_offset=s.events_offset,
                    allocated_kg=s.allocated_kg,
                    offset_kg=s.offset_kg,
                    estimate_kg=s.estimate_kg,
                    calculated_kg=s.calculated_kg,
                )
                for s in totals
            ],
            meetings=[_meeting_message(m) for m in meetings],
            pool=_pool_message(pool) if pool else None,
        )

    def StreamEvents(
        self, request: pb.StreamEventsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.EnvelopeRecord]:
        """Served from the event store itself: indexed by position, the same bytes as the topic."""
        position = max(request.after_position, 0)
        schemas = self.app.codec.schemas
        while context.is_active() and not self.stop.is_set():
            page = self.app.recorder.select_events(CHAIN_ID, gt=position, limit=STREAM_PAGE_EVENTS)
            for stored in page:
                record = record_for(schemas, stored.state)
                event_types = record.headers[EVENT_TYPES_HEADER].decode().split(",")
                yield pb.EnvelopeRecord(
                    position=record.position, sealed_envelope=stored.state, event_types=event_types
                )
                position = record.position
            if len(page) < STREAM_PAGE_EVENTS:
                if not request.follow:
                    return
                self.stop.wait(STREAM_IDLE_S)


class ExchangeServicer(pb_grpc.ExchangeServiceServicer):  # type: ignore[misc]
    """Commands go through the same path as CommandService; reads come from the store
    (the agreement's events) and the projections (the statement)."""

    def __init__(
        self,
        app: RegistryApplication,
        store: ProjectionStore,
        stop: threading.Event,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        commands = CommandServicer(app, on_commit)
        for rpc, body in EXCHANGE_BODIES.items():
            setattr(self, rpc, commands._unary(body))
        self.app = app
        self.store = store
        self.stop = stop
        self.queries = QueryServicer(app, store, stop)

    def WatchAgreement(
        self, request: pb.WatchAgreementRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.EnvelopeRecord]:
        position = max(request.after_position, 0)
        codec = self.app.codec
        while context.is_active() and not self.stop.is_set():
            page = self.app.recorder.select_events(CHAIN_ID, gt=position, limit=STREAM_PAGE_EVENTS)
            for stored in page:
                position = stored.originator_version
                envelope = open_sealed(codec.schemas, stored.state)
                events = [codec.decode_event(effect) for effect in envelope.body.effects]
                if any(
                    getattr(event, "agreement_id", None) == request.agreement_id for event in events
                ):
                    yield pb.EnvelopeRecord(
                        position=position,
                        sealed_envelope=stored.state,
                        event_types=[type(event).__name__ for event in events],
                    )
            if len(page) < STREAM_PAGE_EVENTS:
                if not request.follow:
                    return
                self.stop.wait(STREAM_IDLE_S)

    def GetStatement(
        self, request: pb.StatementRequest, context: grpc.ServicerContext
    ) -> pb.StatementResponse:
        self.queries._wait_for(request.min_position, context)
        with self.store.engine.connect() as connection:
            found = queries.statement(connection, request.agreement_id, request.fiscal_year)
        if found is None:
            context.abort_with_status(
                rich_status(CheckCode.UNKNOWN_AGREEMENT, repr(request.agreement_id))
            )
            raise AssertionError("abort raises")
        return pb.StatementResponse(
            agreement_id=found.agreement_id,
            fiscal_year=found.fiscal_year,
            provider_id=found.provider_id,
            user_id=found.user_id,
            expected_annual_kg=found.expected_annual_kg,
            in_force=found.in_force,
            delivered_kg=found.proposed_kg,
            accepted_kg=found.accepted_kg,
            rejected_kg=found.rejected_kg,
            expired_kg=found.expired_kg,
            pending_kg=found.pending_kg,
            retired_by_user_kg=found.retired_by_user_kg,
            in_term=found.in_term,
            expected_kg=found.expected_kg,
            difference_kg=found.difference_kg,
        )

    def ListDeliveries(
        self, request: pb.DeliveriesRequest, context: grpc.ServicerContext
    ) -> pb.DeliveriesResponse:
        self.queries._wait_for(request.min_position, context)
        # "Due" by the clock that also decides DELIVERY_NOT_DUE: a client whose clock runs
        # ahead would otherwise send expiries the rule refuses.
        server_time_us = self.app.decision_time_us()
        with self.store.engine.connect() as connection:
            found = queries.deliveries(
                connection,
                request.party_id or None,
                request.agreement_id or None,
                server_time_us if request.due_only else None,
                max(request.after_position, 0),
                min(request.limit, DELIVERIES_PAGE_MAX) if request.limit > 0 else 1_000,
            )
        return pb.DeliveriesResponse(
            deliveries=[
                pb.Delivery(
                    delivery_id=d.delivery_id,
                    agreement_id=d.agreement_id,
                    provider_id=d.provider_id,
                    user_id=d.user_id,
                    fiscal_year=d.fiscal_year,
                    quantity_kg=d.quantity_kg,
                    deadline_us=d.deadline_us,
                    proposed_position=d.proposed_position,
                    outcome=d.outcome or "",
                    resolved_position=d.resolved_position or 0,
                )
                for d in found
            ],
            server_time_us=server_time_us,
        )


def _meeting_message(meeting: queries.MeetingView) -> pb.AllocationMeeting:
    return pb.AllocationMeeting(
        meeting_id=meeting.meeting_id,
        organiser_id=meeting.organiser_id or "",
        name=meeting.name or "",
        estimate_kg=meeting.estimate_kg or 0,
        calculated_kg=meeting.calculated_kg or 0,
        allocated_kg=meeting.allocated_kg or 0,
        retired_kg=meeting.retired_kg or 0,
        registered_position=meeting.registered_position or 0,
    )


def _pool_message(pool: queries.PoolView) -> pb.PoolSummary:
    return pb.PoolSummary(
        pool_id=pool.pool_id,
        name=pool.name or "",
        fiscal_year=pool.fiscal_year or 0,
        allocated_kg=pool.allocated_kg or 0,
        funded_kg=pool.funded_kg,
        carried_in_kg=pool.carried_in_kg,
        returned_kg=pool.returned_kg,
        carried_out_kg=pool.carried_out_kg,
        held_kg=pool.held_kg,
        retired_kg=pool.retired_kg,
    )
