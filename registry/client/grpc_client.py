"""Python client for the registry's gRPC API. Signs commands locally with the caller's key:
the private key never leaves the client."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import grpc

from registry.api.credit_registry.v1 import registry_pb2 as pb
from registry.api.credit_registry.v1 import registry_pb2_grpc as pb_grpc
from registry.client.command_signer import CommandSigner
from registry.domain import commands as c
from registry.domain.checks import CheckCode
from registry.envelope.sealing import SignedCommand
from registry.rpc.status import check_code_of
from registry.rpc.translate import signed_command_message
from registry.support.block_pages import joined_pages

TIMEOUT_S_DEFAULT = 10.0


class CommandRejected(Exception):
    """The server refused a command (or a query) with a check code, or failed outright."""

    def __init__(self, status: grpc.StatusCode, code: CheckCode | None, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{status.name} {code.name if code else ''}: {message}")

    @property
    def reason(self) -> str:
        """As the command line prints a refusal: the check code and number, else the status."""
        code = f"{self.code.name} ({self.code.number})" if self.code else self.status.name
        return f"{code}: {self.message}"


@dataclass(frozen=True)
class ClientTls:
    root_ca: Path
    certificate: Path | None = None  # with the key: mutual TLS
    private_key: Path | None = None


_RPC_FOR_BODY = {
    c.RegisterParty: "RegisterParty",
    c.RegisterKey: "RegisterKey",
    c.RotateKey: "RotateKey",
    c.RevokeKey: "RevokeKey",
    c.RegisterCreditClass: "RegisterCreditClass",
    c.RegisterProject: "RegisterProject",
    c.IssueCredits: "IssueCredits",
    c.TransferCredits: "TransferCredits",
    c.RetireCredits: "RetireCredits",
    c.CancelCredits: "CancelCredits",
    c.IssueAggregated: "IssueAggregated",
}
_EXCHANGE_RPC_FOR_BODY = {
    c.SignAgreement: "SignAgreement",
    c.ProposeDelivery: "ProposeDelivery",
    c.ResolveDelivery: "ResolveDelivery",
}


class RegistryClient:
    def __init__(
        self, target: str, tls: ClientTls | None = None, timeout_s: float = TIMEOUT_S_DEFAULT
    ) -> None:
        if tls is None:
            self.channel = grpc.insecure_channel(target)
        else:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=tls.root_ca.read_bytes(),
                private_key=tls.private_key.read_bytes() if tls.private_key else None,
                certificate_chain=tls.certificate.read_bytes() if tls.certificate else None,
            )
            self.channel = grpc.secure_channel(target, credentials)
        self.commands = pb_grpc.CommandServiceStub(self.channel)
        self.queries = pb_grpc.QueryServiceStub(self.channel)
        self.exchange = pb_grpc.ExchangeServiceStub(self.channel)
        self.timeout_s = timeout_s

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(
        self,
        method: str,
        request: object,
        stub: object | None = None,
        timeout_s: float | None = None,
    ) -> object:
        try:
            return getattr(stub or self.commands, method)(
                request, timeout=timeout_s or self.timeout_s
            )
        except grpc.RpcError as error:
            code, message = check_code_of(error)
            raise CommandRejected(error.code(), code, message or error.details()) from None

    # -- commands ---------------------------------------------------------------------
    def send(
        self, signed: SignedCommand, rpc: str = "Submit", timeout_s: float | None = None
    ) -> pb.CommandResult:
        response = self._call(
            rpc, pb.CommandRequest(command=signed_command_message(signed)), timeout_s=timeout_s
        )
        assert isinstance(response, pb.CommandResponse)
        return response.result

    def execute(
        self, signer: CommandSigner, body: c.CommandBody, command_id: str | None = None
    ) -> pb.CommandResult:
        """Sign `body` as the signer's party and send it through its own RPC."""
        return self.deliver(signer.sign(body, command_id), body)

    def deliver(self, signed: SignedCommand, body: c.CommandBody) -> pb.CommandResult:
        """Send a signed (perhaps co-signed) command through the RPC of its body's type."""
        if type(body) in _EXCHANGE_RPC_FOR_BODY:
            return self.send_exchange(signed, _EXCHANGE_RPC_FOR_BODY[type(body)])
        return self.send(signed, _RPC_FOR_BODY.get(type(body), "Submit"))

    def send_exchange(
        self, signed: SignedCommand, rpc: str, timeout_s: float | None = None
    ) -> pb.CommandResult:
        """An already signed exchange command: sending the same bytes again after a lost
        answer gets the first result back instead of a second effect."""
        request = pb.CommandRequest(command=signed_command_message(signed))
        response = self._call(rpc, request, self.exchange, timeout_s)
        assert isinstance(response, pb.CommandResponse)
        return response.result

    def statement(
        self, agreement_id: str, fiscal_year: int, min_position: int = 0
    ) -> pb.StatementResponse:
        request = pb.StatementRequest(
            agreement_id=agreement_id, fiscal_year=fiscal_year, min_position=min_position
        )
        response = self._call("GetStatement", request, self.exchange)
        assert isinstance(response, pb.StatementResponse)
        return response

    def deliveries(
        self,
        party_id: str = "",
        agreement_id: str = "",
        due_only: bool = False,
        after_position: int = 0,
        limit: int = 0,
        min_position: int = 0,
    ) -> pb.DeliveriesResponse:
        request = pb.DeliveriesRequest(
            party_id=party_id,
            agreement_id=agreement_id,
            due_only=due_only,
            after_position=after_position,
            limit=limit,
            min_position=min_position,
        )
        response = self._call("ListDeliveries", request, self.exchange)
        assert isinstance(response, pb.DeliveriesResponse)
        return response

    def watch_agreement(
        self,
        agreement_id: str,
        after_position: int = 0,
        follow: bool = False,
        timeout_s: float | None = None,
    ) -> Iterator[pb.EnvelopeRecord]:
        request = pb.WatchAgreementRequest(
            agreement_id=agreement_id, after_position=after_position, follow=follow
        )
        try:
            yield from self.exchange.WatchAgreement(request, timeout=timeout_s)
        except grpc.RpcError as error:
            code, message = check_code_of(error)
            raise CommandRejected(error.code(), code, message or error.details()) from None

    def send_batch(
        self, signed: list[SignedCommand], timeout_s: float | None = None
    ) -> list[pb.CommandResult]:
        request = pb.CommandBatchRequest(
            commands=[signed_command_message(command) for command in signed]
        )
        response = self._call("SubmitBatch", request, timeout_s=timeout_s)
        assert isinstance(response, pb.CommandBatchResponse)
        return list(response.results)

    def transfer(
        self,
        signer: CommandSigner,
        to_party_id: str,
        quantity_kg: int,
        batch_id: str | None = None,
        memo: str = "",
    ) -> pb.CommandResult:
        return self.execute(
            signer, c.TransferCredits(signer.actor_id, to_party_id, quantity_kg, batch_id, memo)
        )

    def retire(
        self,
        signer: CommandSigner,
        quantity_kg: int,
        details: c.RetirementDetails,
        batch_id: str | None = None,
    ) -> pb.CommandResult:
        return self.execute(
            signer, c.RetireCredits(signer.actor_id, quantity_kg, details, batch_id)
        )

    def issue(
        self,
        signer: CommandSigner,
        project_id: str,
        vintage_start: date,
        vintage_end: date,
        quantity_kg: int,
        recipient_id: str,
    ) -> pb.CommandResult:
        return self.execute(
            signer,
            c.IssueCredits(project_id, vintage_start, vintage_end, quantity_kg, recipient_id),
        )

    # -- queries ------------------------------------------------------------------------
    def balance(self, party_id: str, min_position: int = 0) -> pb.BalanceResponse:
        response = self._call(
            "GetBalance",
            pb.BalanceRequest(party_id=party_id, min_position=min_position),
            self.queries,
        )
        assert isinstance(response, pb.BalanceResponse)
        return response

    def holdings_page(
        self,
        party_id: str,
        min_position: int = 0,
        status: str = "tradable",
        page_size: int = 0,
        page_token: str = "",
    ) -> pb.HoldingsResponse:
        """One page of a party's serial blocks (page_size 0: the server's default, 100);
        its next_page_token, empty on the last page, asks for the next."""
        request = pb.HoldingsRequest(
            party_id=party_id,
            status=status,
            min_position=min_position,
            page_size=page_size,
            page_token=page_token,
        )
        response = self._call("GetHoldings", request, self.queries)
        assert isinstance(response, pb.HoldingsResponse)
        return response

    def each_holding(
        self, party_id: str, min_position: int = 0, status: str = "tradable", page_size: int = 0
    ) -> Iterator[pb.SerialBlock]:
        """Every block, page by page; a block that came in parts across pages is joined."""
        return joined_pages(self._pages(party_id, min_position, status, page_size), _joined)

    def _pages(
        self, party_id: str, min_position: int, status: str, page_size: int
    ) -> Iterator[Sequence[pb.SerialBlock]]:
        token = ""
        while True:
            page = self.holdings_page(party_id, min_position, status, page_size, token)
            yield page.blocks
            if not page.next_page_token:
                return
            token = page.next_page_token

    def holdings(
        self, party_id: str, min_position: int = 0, status: str = "tradable", page_size: int = 0
    ) -> list[pb.SerialBlock]:
        """Every block of the party, all pages read."""
        return list(self.each_holding(party_id, min_position, status, page_size))

    def batch(self, batch_id: str, min_position: int = 0) -> pb.BatchResponse:
        response = self._call(
            "GetBatch", pb.BatchRequest(batch_id=batch_id, min_position=min_position), self.queries
        )
        assert isinstance(response, pb.BatchResponse)
        return response

    def retirements(
        self,
        holder_id: str = "",
        beneficiary_party_id: str = "",
        min_position: int = 0,
        location: str = "",
    ) -> list[pb.Retirement]:
        request = pb.RetirementsRequest(
            holder_id=holder_id,
            beneficiary_party_id=beneficiary_party_id,
            min_position=min_position,
            location=location,
        )
        response = self._call("ListRetirements", request, self.queries)
        assert isinstance(response, pb.RetirementsResponse)
        return list(response.retirements)

    def recoveries(
        self, party_id: str = "", pending_only: bool = False, min_position: int = 0
    ) -> list[pb.Recovery]:
        request = pb.RecoveriesRequest(
            party_id=party_id, pending_only=pending_only, min_position=min_position
        )
        response = self._call("ListRecoveries", request, self.queries)
        assert isinstance(response, pb.RecoveriesResponse)
        return list(response.recoveries)

    def allocation(self, pool_id: str = "", min_position: int = 0) -> pb.AllocationResponse:
        """The table of the pool `pool_id` (no pool, no rows: only zero totals)."""
        request = pb.AllocationRequest(pool_id=pool_id, min_position=min_position)
        response = self._call("GetAllocation", request, self.queries)
        assert isinstance(response, pb.AllocationResponse)
        return response

    def stream_events(
        self, after_position: int = 0, follow: bool = False, timeout_s: float | None = None
    ) -> Iterator[pb.EnvelopeRecord]:
        request = pb.StreamEventsRequest(after_position=after_position, follow=follow)
        try:
            yield from self.queries.StreamEvents(request, timeout=timeout_s)
        except grpc.RpcError as error:
            code, message = check_code_of(error)
            raise CommandRejected(error.code(), code, message or error.details()) from None


def _joined(block: pb.SerialBlock, then: pb.SerialBlock) -> pb.SerialBlock:
    """One block from two adjacent parts; a label that ran on across the cut is one again."""
    joined = pb.SerialBlock()
    joined.CopyFrom(block)
    joined.serial_end = then.serial_end
    for label in then.labels:
        run_on = next((x for x in joined.labels if _label_continues(x, label)), None)
        if run_on is None:
            joined.labels.append(label)
        else:
            run_on.serial_end = label.serial_end
    return joined


def _label_continues(label: pb.SerialLabel, then: pb.SerialLabel) -> bool:
    same = (label.label, label.valid_from, label.valid_until) == (
        then.label,
        then.valid_from,
        then.valid_until,
    )
    return same and label.serial_end + 1 == then.serial_start
