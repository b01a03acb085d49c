"""Stateful property tests over random command sequences, on the pure domain.

The model keeps only totals per party; the ledger keeps serial blocks. They must agree,
and the ledger's own invariants (supply rule, serial uniqueness) must hold after every step.
Deliveries under a partner agreement reserve credits (pending) on a simulated clock, so the
supply rule is checked with all four terms: issued = tradable + pending + retired + cancelled."""

from __future__ import annotations

from datetime import date

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from registry.domain import commands as c
from registry.domain import rules
from registry.domain.checks import CheckCode, Rejection
from registry.domain.events import Beneficiary
from registry.domain.invariants import invariant_violations
from registry.domain.ledger import Ledger, key_id_for

OPERATOR = "operator"
ISSUER = "issuer"
HOLDERS = ("132071", "034835", "132039", "131016")
PROVIDER, USER = "034835", "132071"  # Iwaizumi delivers forest absorption to Akishima
AGREEMENT = "AKISHIMA-IWAIZUMI"
NOW_US = 1_700_000_000_000_000
SECOND_US = 1_000_000


def _key(index: int) -> bytes:
    return index.to_bytes(32, "big")


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger()
        self.position = 0
        self.tradable_kg = dict.fromkeys(HOLDERS, 0)
        self.retired_kg = 0
        self.cancelled_kg = 0
        self.issued_kg = 0
        self.retired_before: dict[str, tuple[tuple[int, int], ...]] = {}
        self.now_us = NOW_US
        self.pending_kg = 0
        self.open_deliveries: dict[str, tuple[int, int]] = {}  # id -> (kg, deadline)
        self.resolved: set[str] = set()
        self.run(OPERATOR, c.RegisterParty(OPERATOR, "operator", "Operator", _key(1)))
        self.run(OPERATOR, c.RegisterParty(ISSUER, "issuer", "Issuer", _key(2)))
        for index, holder in enumerate(HOLDERS):
            self.run(OPERATOR, c.RegisterParty(holder, "municipality", holder, _key(10 + index)))
        self.run(OPERATOR, c.RegisterCreditClass("JVER", "J-VER", (ISSUER,)))
        self.run(ISSUER, c.RegisterProject("FOREST", "JVER", "Forest", "Iwate", "FM", "034835"))
        terms = c.SignAgreement(
            AGREEMENT, PROVIDER, USER, date(2011, 12, 20), 10, 50_000, "森林吸収"
        )
        assert self.run(PROVIDER, terms) is None and self.run(USER, terms) is None

    def run(self, actor: str, body: c.CommandBody) -> CheckCode | None:
        key_id = key_id_for(_key(1)) if actor == OPERATOR else ""
        command = c.Command(
            f"cmd-{self.position}", actor, key_id, self.now_us, self.now_us + 1, body
        )
        before = self.snapshot()
        try:
            effects = rules.decide(self.ledger, command, self.now_us)
        except Rejection as rejection:
            assert self.snapshot() == before, "a rejected command changed the ledger"
            return rejection.code
        self.position += 1
        for effect in effects:
            self.ledger.apply(effect, self.position)
        return None

    def snapshot(self) -> tuple[object, ...]:
        return (
            dict(self.ledger.holdings),
            dict(self.ledger.supply),
            dict(self.ledger.retired),
            dict(self.ledger.deliveries),
        )

    @rule(holder=st.sampled_from(HOLDERS), quantity_kg=st.integers(1, 50_000))
    def issue(self, holder: str, quantity_kg: int) -> None:
        body = c.IssueCredits("FOREST", date(2011, 4, 1), date(2012, 3, 31), quantity_kg, holder)
        assert self.run(ISSUER, body) is None
        self.tradable_kg[holder] += quantity_kg
        self.issued_kg += quantity_kg

    @rule(
        sender=st.sampled_from(HOLDERS),
        recipient=st.sampled_from(HOLDERS),
        quantity_kg=st.integers(-5, 60_000),
        retire=st.booleans(),
        pick_batch=st.booleans(),
    )
    def transfer(
        self, sender: str, recipient: str, quantity_kg: int, retire: bool, pick_batch: bool
    ) -> None:
        details = (
            c.RetirementDetails(Beneficiary("someone"), "meeting_event", 2011) if retire else None
        )
        batch_id = self._some_batch(sender) if pick_batch else None
        available_kg = (
            self.ledger.tradable_kg(sender, batch_id) if batch_id else self.tradable_kg[sender]
        )
        code = self.run(
            sender, c.TransferCredits(sender, recipient, quantity_kg, batch_id, "", details)
        )
        if sender == recipient:
            assert code is CheckCode.SAME_PARTY
        elif quantity_kg <= 0:
            assert code is CheckCode.INVALID_QUANTITY
        elif quantity_kg > available_kg:
            assert code is CheckCode.INSUFFICIENT_HOLDINGS
        else:
            assert code is None
            self.tradable_kg[sender] -= quantity_kg
            if retire:
                self.retired_kg += quantity_kg
            else:
                self.tradable_kg[recipient] += quantity_kg

    @rule(holder=st.sampled_from(HOLDERS), quantity_kg=st.integers(1, 60_000))
    def retire(self, holder: str, quantity_kg: int) -> None:
        details = c.RetirementDetails(Beneficiary(holder, holder), "facility", 2012)
        code = self.run(holder, c.RetireCredits(holder, quantity_kg, details))
        if quantity_kg > self.tradable_kg[holder]:
            assert code is CheckCode.INSUFFICIENT_HOLDINGS
        else:
            assert code is None
            self.tradable_kg[holder] -= quantity_kg
            self.retired_kg += quantity_kg

    @precondition(lambda self: bool(self.ledger.batches))
    @rule(
        holder=st.sampled_from(HOLDERS),
        quantity_kg=st.integers(1, 20_000),
        actor=st.sampled_from((ISSUER, "132071")),
    )
    def cancel(self, holder: str, quantity_kg: int, actor: str) -> None:
        batch_id = self._some_batch(holder) or next(iter(self.ledger.batches))
        held_kg = self.ledger.tradable_kg(holder, batch_id)
        code = self.run(
            actor, c.CancelCredits(holder, batch_id, quantity_kg, "forest fire reversal")
        )
        if actor != ISSUER:
            assert code is CheckCode.ROLE_NOT_ALLOWED
        elif quantity_kg > held_kg:
            assert code is CheckCode.INSUFFICIENT_HOLDINGS
        else:
            assert code is None
            self.tradable_kg[holder] -= quantity_kg
            self.cancelled_kg += quantity_kg

    @rule(quantity_kg=st.integers(1, 30_000), deadline_s=st.integers(1, 900))
    def propose_delivery(self, quantity_kg: int, deadline_s: int) -> None:
        delivery_id = f"D-{len(self.open_deliveries) + len(self.resolved) + 1}"
        deadline_us = self.now_us + deadline_s * SECOND_US
        body = c.ProposeDelivery(AGREEMENT, delivery_id, 2011, quantity_kg, deadline_us)
        code = self.run(PROVIDER, body)
        if quantity_kg > self.tradable_kg[PROVIDER]:
            assert code is CheckCode.INSUFFICIENT_HOLDINGS
            return
        assert code is None
        self.tradable_kg[PROVIDER] -= quantity_kg  # reserved: nobody may spend it now
        self.pending_kg += quantity_kg
        self.open_deliveries[delivery_id] = (quantity_kg, deadline_us)

    @precondition(lambda self: bool(self.open_deliveries) or bool(self.resolved))
    @rule(
        pick=st.integers(0, 1_000),
        outcome=st.sampled_from(("accepted", "rejected", "expired")),
        actor=st.sampled_from((USER, PROVIDER, OPERATOR, "131016")),
    )
    def resolve_delivery(self, pick: int, outcome: str, actor: str) -> None:
        candidates = sorted(self.open_deliveries) + sorted(self.resolved)
        delivery_id = candidates[pick % len(candidates)]
        code = self.run(actor, c.ResolveDelivery(delivery_id, outcome, "by the model"))
        if delivery_id in self.resolved:
            assert code is CheckCode.DELIVERY_RESOLVED  # exactly once, whoever tries again
            return
        quantity_kg, deadline_us = self.open_deliveries[delivery_id]
        due = self.now_us >= deadline_us
        if outcome == "expired":
            allowed = actor in (USER, PROVIDER, OPERATOR)
            expected = None if allowed and due else CheckCode.NOT_THE_OWNER
            if allowed and not due:
                expected = CheckCode.DELIVERY_NOT_DUE
        elif actor != USER:
            expected = CheckCode.NOT_THE_OWNER
        else:
            expected = CheckCode.DELIVERY_EXPIRED if due else None
        assert code is expected, (delivery_id, outcome, actor, due, code)
        if code is None:
            receiver = USER if outcome == "accepted" else PROVIDER
            self.tradable_kg[receiver] += quantity_kg
            self.pending_kg -= quantity_kg
            del self.open_deliveries[delivery_id]
            self.resolved.add(delivery_id)

    @rule(seconds=st.integers(0, 2_000))
    def time_passes(self, seconds: int) -> None:
        self.now_us += seconds * SECOND_US

    @rule(thief=st.sampled_from(HOLDERS), victim=st.sampled_from(HOLDERS))
    def someone_elses_account(self, thief: str, victim: str) -> None:
        if thief != victim:
            code = self.run(thief, c.TransferCredits(victim, thief, 1))
            assert code is CheckCode.NOT_THE_OWNER

    def _some_batch(self, holder: str) -> str | None:
        batches = self.ledger.party_batches.get(holder, ())
        return batches[len(batches) // 2] if batches else None

    @invariant()
    def holdings_match_the_model(self) -> None:
        for holder in HOLDERS:
            assert self.ledger.tradable_kg(holder) == self.tradable_kg[holder]
            assert all(
                block.serial_start <= block.serial_end for block in self.ledger.holdings_of(holder)
            )

    @invariant()
    def supply_rule_and_unique_serials(self) -> None:
        assert invariant_violations(self.ledger) == []
        supply = self.ledger.supply.values()
        assert sum(s.issued_kg for s in supply) == self.issued_kg
        assert sum(s.retired_kg for s in supply) == self.retired_kg
        assert sum(s.cancelled_kg for s in supply) == self.cancelled_kg
        assert sum(s.pending_kg for s in supply) == self.pending_kg
        assert sum(
            s.tradable_kg + s.pending_kg + s.retired_kg + s.cancelled_kg for s in supply
        ) == sum(s.issued_kg for s in supply)

    @invariant()
    def retired_credits_never_move(self) -> None:
        for batch_id, before in self.retired_before.items():
            now = self.ledger.retired[batch_id]
            assert all(any(s <= start and end <= e for s, e in now) for start, end in before)
        self.retired_before = dict(self.ledger.retired)


LedgerMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=50, deadline=None)
TestLedger = LedgerMachine.TestCase
