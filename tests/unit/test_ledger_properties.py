"""Stateful property tests over random command sequences, on the pure domain.

The model keeps only totals per party; the ledger keeps serial blocks. They must agree,
and the ledger's own invariants (supply rule, serial uniqueness) must hold after every step.
Deliveries under a partner agreement reserve credits (pending) on a simulated clock, so the
supply rule is checked with all four terms: issued = tradable + pending + retired + cancelled.
Two joint-purchase pools hold credits of their own (funded by members, split among their
meetings, retired for them, returned or carried on), so the rule is checked with pool
holdings among the tradable ones, and the pools against a model of their own. A forest
class withholds a tenth of each issuance in its buffer account, reversals cancel from it
and report the rest as a shortfall, and its label authority labels serial ranges that a
retirement may require: accepted exactly when every serial it takes carries the label,
valid on the day.

Recoveries of a holder's keys, co-signed by an auditor or not, freeze its credits while
pending: no step may move them, and a completed recovery replaces the holder's key."""

from __future__ import annotations

from datetime import date

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from registry.domain import commands as c
from registry.domain import rules
from registry.domain.allocation import largest_remainder
from registry.domain.checks import CheckCode, Rejection
from registry.domain.emissions import Factor, MeetingInputs
from registry.domain.events import Beneficiary
from registry.domain.invariants import invariant_violations
from registry.domain.ledger import Ledger, key_id_for
from registry.domain.records import buffer_holder, pool_holder
from registry.domain.recovery import RECOVERY_WAIT_US_MIN
from registry.domain.serials import SerialBlock

OPERATOR = "operator"
ISSUER = "issuer"
AUDITOR = "audit-office"
HOLDERS = ("132071", "034835", "132039", "131016")
PROVIDER, USER = "034835", "132071"  # Iwaizumi delivers forest absorption to Akishima
AGREEMENT = "AKISHIMA-IWAIZUMI"
NOW_US = 1_700_000_000_000_000
SECOND_US = 1_000_000
# Two pools of the operator's: an earlier one may carry what is left into the later one.
POOLS = {"POOL-A": 2011, "POOL-B": 2012}
TABLE = "one-kg-per-kwh"
LABELLER, BUFFERED_CLASS, BUFFERED_PROJECT, LABEL = "labeller", "FORESTB", "FORESTB1", "ICVCM-CCP"
VALID = (date(2020, 1, 1), date(2099, 12, 31))  # NOW_US is in 2023
EXPIRED = (date(2011, 4, 1), date(2012, 3, 31))
# Pool quantities as a share of what is there: mostly within it, sometimes just beyond.
PERCENT = st.integers(0, 110)


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
        self.keys = {OPERATOR: _key(1), ISSUER: _key(2), AUDITOR: _key(3)}
        self.keys.update({holder: _key(10 + index) for index, holder in enumerate(HOLDERS)})
        self.frozen: dict[str, tuple[str, int]] = {}  # holder -> (recovery id, due)
        self.pending_keys: dict[str, bytes] = {}  # recovery id -> the key it installs
        self.recoveries = 0
        for party, role in ((OPERATOR, "operator"), (ISSUER, "issuer"), (AUDITOR, "auditor")):
            assert self.run(OPERATOR, c.RegisterParty(party, role, party, self.keys[party])) is None
        for holder in HOLDERS:
            self.run(OPERATOR, c.RegisterParty(holder, "municipality", holder, self.keys[holder]))
        self.run(OPERATOR, c.RegisterCreditClass("JVER", "J-VER", (ISSUER,)))
        self.run(ISSUER, c.RegisterProject("FOREST", "JVER", "Forest", "Iwate", "FM", "034835"))
        terms = c.SignAgreement(
            AGREEMENT, PROVIDER, USER, date(2011, 12, 20), 10, 50_000, "森林吸収"
        )
        assert self.run(PROVIDER, terms) is None and self.run(USER, terms) is None
        self.pools = PoolModel()
        factor = Factor("electricity", "kWh", 1_000_000, "1 kg per kWh")
        assert self.run(OPERATOR, c.RegisterFactorTable(TABLE, (factor,))) is None
        for pool_id, year in POOLS.items():
            assert self.run(OPERATOR, c.OpenPool(pool_id, pool_id, year, HOLDERS)) is None
        self.keys[LABELLER] = _key(4)
        labeller = c.RegisterParty(LABELLER, "issuer", "Label authority", self.keys[LABELLER])
        assert self.run(OPERATOR, labeller) is None
        forest = c.RegisterCreditClass(BUFFERED_CLASS, "Forest", (ISSUER,), LABELLER, 100)
        assert self.run(OPERATOR, forest) is None
        project = c.RegisterProject(BUFFERED_PROJECT, BUFFERED_CLASS, "F", "Iwate", "FM", PROVIDER)
        assert self.run(ISSUER, project) is None
        self.buffer_kg = 0
        self.shortfall_kg = 0
        self.labelled: dict[str, list[tuple[int, int, bool]]] = {}  # batch -> (start, end, valid)

    def run(
        self, actor: str, body: c.CommandBody, cosigners: tuple[str, ...] = ()
    ) -> CheckCode | None:
        key_id = key_id_for(self.keys[actor])
        command = c.Command(
            f"cmd-{self.position}", actor, key_id, self.now_us, self.now_us + 1, body
        )
        before = self.snapshot()
        try:
            if self.ledger.parties:
                rules.verifying_key(self.ledger, command)
            effects = rules.decide(self.ledger, command, self.now_us, cosigners)
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
            dict(self.ledger.keys),
            dict(self.ledger.recoveries),
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
        elif sender in self.frozen:
            assert code is CheckCode.PARTY_FROZEN
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
        if holder in self.frozen:
            assert code is CheckCode.PARTY_FROZEN
        elif quantity_kg > self.tradable_kg[holder]:
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
        elif holder in self.frozen:
            assert code is CheckCode.PARTY_FROZEN
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
        if PROVIDER in self.frozen:
            assert code is CheckCode.PARTY_FROZEN
            return
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

    # -- buffers, reversals and labels ---------------------------------------------------
    @rule(holder=st.sampled_from(HOLDERS), quantity_kg=st.integers(1, 50_000))
    def issue_buffered(self, holder: str, quantity_kg: int) -> None:
        body = c.IssueCredits(BUFFERED_PROJECT, *EXPIRED, quantity_kg, holder)
        assert self.run(ISSUER, body) is None
        withheld_kg = quantity_kg * 100 // 1000  # rounded down: never more than a tenth
        self.tradable_kg[holder] += quantity_kg - withheld_kg
        self.buffer_kg += withheld_kg
        self.issued_kg += quantity_kg

    @rule(quantity_kg=st.integers(1, 8_000), actor=st.sampled_from((ISSUER, OPERATOR, USER)))
    def report_reversal(self, quantity_kg: int, actor: str) -> None:
        code = self.run(actor, c.ReportReversal(BUFFERED_PROJECT, quantity_kg, "fire"))
        if actor == USER:
            assert code is CheckCode.ISSUER_NOT_AUTHORISED
            return
        assert code is None
        cancelled_kg = min(quantity_kg, self.buffer_kg)  # never from a holder
        self.buffer_kg -= cancelled_kg
        self.cancelled_kg += cancelled_kg
        self.shortfall_kg += quantity_kg - cancelled_kg

    @precondition(lambda self: bool(self._buffered_batches()))
    @rule(
        pick=st.integers(0, 1_000),
        start=st.one_of(st.just(1), st.integers(1, 50_000)),
        size=st.one_of(st.none(), st.integers(0, 20_000)),  # None: to the end of the batch
    )
    def add_label(self, pick: int, start: int, size: int | None) -> None:
        batches = self._buffered_batches()
        batch_id = batches[pick % len(batches)]
        end = self.ledger.batches[batch_id].quantity_kg if size is None else start + size
        valid = pick % 3 != 0
        body = c.AddLabel(batch_id, start, end, LABEL, *(VALID if valid else EXPIRED))
        code = self.run(LABELLER, body)
        spans = self.labelled.setdefault(batch_id, [])
        if not start <= end <= self.ledger.batches[batch_id].quantity_kg:
            assert code is CheckCode.SERIALS_OUTSIDE_BATCH
        elif any(s <= end and start <= e for s, e, _valid in spans):
            assert code is CheckCode.LABEL_OVERLAP
        else:
            assert code is None
            spans.append((start, end, valid))

    @rule(holder=st.sampled_from(HOLDERS), quantity_kg=st.integers(1, 5_000))
    def retire_requiring_label(self, holder: str, quantity_kg: int) -> None:
        if holder in self.frozen:
            expected: CheckCode | None = CheckCode.PARTY_FROZEN  # before any balance check
        elif quantity_kg > self.tradable_kg[holder]:
            expected = CheckCode.INSUFFICIENT_HOLDINGS
        else:
            taken = rules._take(self.ledger, holder, quantity_kg, None)  # what it will take
            expected = None if all(self._labelled(b) for b in taken) else CheckCode.LABEL_REQUIRED
        details = c.RetirementDetails(
            Beneficiary(holder, holder), "facility", 2012, "", None, "JP-13", LABEL
        )
        assert self.run(holder, c.RetireCredits(holder, quantity_kg, details)) is expected
        if expected is None:
            self.tradable_kg[holder] -= quantity_kg
            self.retired_kg += quantity_kg

    def _buffered_batches(self) -> list[str]:
        return sorted(b for b in self.ledger.batches if b.startswith(BUFFERED_CLASS + "-"))

    def _labelled(self, block: SerialBlock) -> bool:
        """Every serial of the block under a valid span of the label (the model's spans)."""
        covered = block.serial_start
        for start, end, valid in sorted(self.labelled.get(block.batch_id, [])):
            if valid and start <= covered <= end:
                covered = end + 1
        return covered > block.serial_end

    @invariant()
    def the_buffer_holds_what_reversals_left(self) -> None:
        assert self.ledger.tradable_kg(buffer_holder(BUFFERED_CLASS)) == self.buffer_kg
        record = self.ledger.buffers.get(BUFFERED_PROJECT)
        assert (record.shortfall_kg if record else 0) == self.shortfall_kg

    @rule(thief=st.sampled_from(HOLDERS), victim=st.sampled_from(HOLDERS))
    def someone_elses_account(self, thief: str, victim: str) -> None:
        if thief != victim:
            code = self.run(thief, c.TransferCredits(victim, thief, 1))
            assert code is CheckCode.NOT_THE_OWNER

    # -- joint-purchase pools ------------------------------------------------------------
    @rule(pick=st.integers(0, 100), pool_id=st.sampled_from(sorted(POOLS)), percent=PERCENT)
    def fund_pool(self, pick: int, pool_id: str, percent: int) -> None:
        holding = [holder for holder in HOLDERS if self.tradable_kg[holder]] or list(HOLDERS)
        funder = holding[pick % len(holding)]
        quantity_kg = max(1, self.tradable_kg[funder] * percent // 100)
        code = self.run(funder, c.FundPool(pool_id, quantity_kg))
        if pool_id in self.pools.shares:
            assert code is CheckCode.POOL_STATE
        elif funder in self.frozen:
            assert code is CheckCode.PARTY_FROZEN  # a debit like any other
        elif quantity_kg > self.tradable_kg[funder]:
            assert code is CheckCode.INSUFFICIENT_HOLDINGS
        else:
            assert code is None
            self.tradable_kg[funder] -= quantity_kg
            self.pools.held_kg[pool_id] += quantity_kg
            self.pools.funders[pool_id].add(funder)

    @rule(
        organiser=st.sampled_from(HOLDERS),
        pool_id=st.sampled_from(sorted(POOLS)),
        calculated_kg=st.integers(1, 5_000),
    )
    def hold_meeting(self, organiser: str, pool_id: str, calculated_kg: int) -> None:
        meeting_id = f"M{sum(map(len, self.pools.meetings.values())) + 1}"
        held_on = date(POOLS[pool_id], 10, 1)
        inputs = MeetingInputs(electricity_kwh=calculated_kg)
        register = c.RegisterMeeting(
            pool_id, meeting_id, "Meeting", held_on, "event", 10, calculated_kg, "", TABLE, inputs
        )
        result = c.RecordMeetingResult(pool_id, meeting_id, 10, calculated_kg, "", TABLE, inputs)
        codes = (self.run(organiser, register), self.run(organiser, result))
        if pool_id in self.pools.shares:
            assert codes == (CheckCode.POOL_STATE, CheckCode.POOL_STATE)
        else:
            assert codes == (None, None)
            self.pools.meetings[pool_id].append((meeting_id, calculated_kg))

    @precondition(lambda self: any(self.pools.meetings.values()))
    @rule(pick=st.integers(0, 100), percent=PERCENT)
    def allocate_pool(self, pick: int, percent: int) -> None:
        ready = [
            pool_id
            for pool_id in sorted(POOLS)
            if self.pools.held_kg[pool_id] and pool_id not in self.pools.shares
        ]
        choices = ready if ready and pick % 4 else sorted(POOLS)
        pool_id = choices[pick % len(choices)]
        quantity_kg = self.pools.held_kg[pool_id] * percent // 100
        code = self.run(OPERATOR, c.AllocatePool(pool_id, quantity_kg))
        meetings = self.pools.meetings[pool_id]
        if pool_id in self.pools.shares or not meetings:
            assert code is CheckCode.POOL_STATE
        elif quantity_kg <= 0:
            assert code is CheckCode.INVALID_QUANTITY
        elif quantity_kg > self.pools.held_kg[pool_id]:
            assert code is CheckCode.POOL_UNDERFUNDED  # never more than the pool holds
        else:
            assert code is None
            self.pools.shares[pool_id] = largest_remainder(quantity_kg, meetings)
            self.pools.owed_kg[pool_id] = quantity_kg

    @precondition(lambda self: bool(self.pools.shares))
    @rule(pool_id=st.sampled_from(sorted(POOLS)), pick=st.integers(0, 1_000))
    def retire_for_meeting(self, pool_id: str, pick: int) -> None:
        meetings = self.pools.meetings[pool_id]
        if not meetings:
            return
        meeting_id, _kg = meetings[pick % len(meetings)]
        code = self.run(OPERATOR, c.RetireForMeeting(pool_id, meeting_id))
        shares = self.pools.shares.get(pool_id)
        if shares is None:
            assert code is CheckCode.POOL_STATE
        elif meeting_id in self.pools.retired:
            assert code is CheckCode.ALREADY_RETIRED
        elif shares[meeting_id] == 0:
            assert code is CheckCode.POOL_STATE
        else:
            assert code is None  # the share was reserved: the pool always has it
            self.pools.retired.add(meeting_id)
            self.pools.held_kg[pool_id] -= shares[meeting_id]
            self.pools.owed_kg[pool_id] -= shares[meeting_id]
            self.retired_kg += shares[meeting_id]

    @rule(pool_id=st.sampled_from(sorted(POOLS)), pick=st.integers(0, 100), percent=PERCENT)
    def return_remainder(self, pool_id: str, pick: int, percent: int) -> None:
        to = HOLDERS[pick % len(HOLDERS)] if pick % 4 == 0 else self._a_funder(pool_id, pick)
        quantity_kg = self.pools.free_kg(pool_id) * percent // 100
        code = self.run(OPERATOR, c.ReturnPoolRemainder(pool_id, to, quantity_kg))
        if to not in self.pools.funders[pool_id]:
            assert code is CheckCode.NOT_A_FUNDER
        elif quantity_kg <= 0:
            assert code is CheckCode.INVALID_QUANTITY
        elif quantity_kg > self.pools.free_kg(pool_id):
            assert code is CheckCode.POOL_UNDERFUNDED
        else:
            assert code is None
            self.pools.held_kg[pool_id] -= quantity_kg
            self.tradable_kg[to] += quantity_kg

    @rule(forward=st.booleans(), percent=PERCENT)
    def carry_remainder(self, forward: bool, percent: int) -> None:
        source, target = ("POOL-A", "POOL-B") if forward else ("POOL-B", "POOL-A")
        quantity_kg = max(1, self.pools.free_kg(source) * percent // 100)
        code = self.run(OPERATOR, c.CarryPoolRemainder(source, target, quantity_kg))
        if not forward or target in self.pools.shares:
            assert code is CheckCode.INVALID_CARRY  # only into a later, open pool
        elif quantity_kg > self.pools.free_kg(source):
            assert code is CheckCode.POOL_UNDERFUNDED
        else:
            assert code is None
            self.pools.held_kg[source] -= quantity_kg
            self.pools.held_kg[target] += quantity_kg
            self.pools.funders[target] |= self.pools.funders[source]

    def _a_funder(self, pool_id: str, pick: int) -> str:
        funders = sorted(self.pools.funders[pool_id]) or list(HOLDERS)
        return funders[pick % len(funders)]

    @rule(holder=st.sampled_from(HOLDERS), cosigned=st.booleans())
    def start_recovery(self, holder: str, cosigned: bool) -> None:
        self.recoveries += 1
        recovery_id = f"R-{self.recoveries}"
        new_key = _key(1_000 + self.recoveries)
        body = c.StartRecovery(holder, recovery_id, new_key, "both keys lost")
        code = self.run(OPERATOR, body, (AUDITOR,) if cosigned else ())
        if not cosigned:
            assert code is CheckCode.COSIGNATURE_REQUIRED
        elif holder in self.frozen:
            assert code is CheckCode.RECOVERY_PENDING
        else:
            assert code is None
            self.frozen[holder] = (recovery_id, self.now_us + RECOVERY_WAIT_US_MIN)
            self.pending_keys[recovery_id] = new_key

    @rule(holder=st.sampled_from(HOLDERS))
    def veto_recovery(self, holder: str) -> None:
        recovery_id = self.frozen.get(holder, ("R-0", 0))[0]
        code = self.run(holder, c.VetoRecovery(holder, recovery_id))
        expected = None if holder in self.frozen else CheckCode.UNKNOWN_RECOVERY
        assert code is expected
        self.frozen.pop(holder, None)

    @rule(holder=st.sampled_from(HOLDERS))
    def complete_recovery(self, holder: str) -> None:
        recovery_id, due_us = self.frozen.get(holder, ("R-0", 0))
        code = self.run(ISSUER, c.CompleteRecovery(holder, recovery_id))
        if holder not in self.frozen:
            assert code is CheckCode.UNKNOWN_RECOVERY
        elif self.now_us < due_us:
            assert code is CheckCode.RECOVERY_NOT_DUE
        else:
            assert code is None
            del self.frozen[holder]
            self.keys[holder] = self.pending_keys[recovery_id]

    @rule()
    def the_waiting_period_passes(self) -> None:
        self.now_us += RECOVERY_WAIT_US_MIN

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
    def pools_hold_what_the_model_says(self) -> None:
        for pool_id in POOLS:
            assert self.ledger.tradable_kg(pool_holder(pool_id)) == self.pools.held_kg[pool_id]
            assert self.pools.held_kg[pool_id] >= self.pools.owed_kg[pool_id]
            assert self.ledger.pools[pool_id].owed_kg == self.pools.owed_kg[pool_id]

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
    def frozen_exactly_while_a_recovery_is_pending(self) -> None:
        for holder in HOLDERS:
            pending = self.ledger.pending_recovery(holder)
            assert (pending.recovery_id if pending else None) == (
                self.frozen[holder][0] if holder in self.frozen else None
            )
            active = [k.public_key for k in self.ledger.active_keys(holder)]
            assert active == [self.keys[holder]]

    @invariant()
    def retired_credits_never_move(self) -> None:
        for batch_id, before in self.retired_before.items():
            now = self.ledger.retired[batch_id]
            assert all(any(s <= start and end <= e for s, e in now) for start, end in before)
        self.retired_before = dict(self.ledger.retired)


class PoolModel:
    """What the pools should hold: per pool, kg held, kg owed to meetings, funders, the
    meetings in registration order with their calculated kg, and the split once made."""

    def __init__(self) -> None:
        self.held_kg = dict.fromkeys(POOLS, 0)
        self.owed_kg = dict.fromkeys(POOLS, 0)
        self.funders: dict[str, set[str]] = {pool_id: set() for pool_id in POOLS}
        self.meetings: dict[str, list[tuple[str, int]]] = {pool_id: [] for pool_id in POOLS}
        self.shares: dict[str, dict[str, int]] = {}
        self.retired: set[str] = set()

    def free_kg(self, pool_id: str) -> int:
        return self.held_kg[pool_id] - self.owed_kg[pool_id]


LedgerMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=50, deadline=None)
TestLedger = LedgerMachine.TestCase
