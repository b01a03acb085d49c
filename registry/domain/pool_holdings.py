"""A pool holds its credits. Buying into a pool moves the buyer's serial blocks into the
pool's own holding (holder id `pool:<POOL_ID>`, which no party can be); the allocation and
the retirements for its meetings draw only from there, so two pools never share a kilogram
and a pool can never allocate more than it holds.

Who may do what:
- FundPool: the pool's operator or one of its members, from its own tradable credits,
  while the pool is not yet allocated (after that its split is fixed).
- AllocatePool (pools.py): reserves each meeting's share inside the holding; what is
  allocated and not yet retired is owed to the meetings and can go nowhere else.
- ReturnPoolRemainder: the operator, to a party that funded the pool (or whose credits
  were carried into it), at most the free part: held minus owed.
- CarryPoolRemainder: the operator, into another pool it opened for a later fiscal year
  that is not allocated yet, at most the free part."""

from __future__ import annotations

from collections.abc import Callable

from registry.domain import commands as cmd
from registry.domain import events as ev
from registry.domain.checks import CheckCode, Rejection
from registry.domain.ledger import Ledger
from registry.domain.parties import Party
from registry.domain.records import Pool
from registry.domain.serials import SerialBlock

Take = Callable[[Ledger, str, int, str | None], tuple[SerialBlock, ...]]
POOL_MOVE_KG_MAX = 10**12  # as any other quantity of credits (rules.QUANTITY_KG_MAX)


def _pool(ledger: Ledger, pool_id: str) -> Pool:
    pool = ledger.pools.get(pool_id)
    if pool is None:
        raise Rejection(CheckCode.UNKNOWN_POOL, repr(pool_id))
    return pool


def _quantity(quantity_kg: int) -> None:
    if not 0 < quantity_kg <= POOL_MOVE_KG_MAX:
        raise Rejection(CheckCode.INVALID_QUANTITY, f"{quantity_kg} kg")


def free_kg(ledger: Ledger, pool: Pool) -> int:
    """What the pool holds beyond what it owes its meetings."""
    return ledger.tradable_kg(pool.holder_id) - pool.owed_kg


def _operator_only(actor: Party, pool: Pool, action: str) -> None:
    if actor.party_id != pool.opened_by:
        raise Rejection(
            CheckCode.ROLE_NOT_ALLOWED, f"only {pool.opened_by} {action} {pool.pool_id}"
        )


def _free_part(ledger: Ledger, pool: Pool, quantity_kg: int) -> None:
    _quantity(quantity_kg)
    available_kg = free_kg(ledger, pool)
    if quantity_kg > available_kg:
        raise Rejection(
            CheckCode.POOL_UNDERFUNDED,
            f"{pool.pool_id} has {available_kg} kg free (held less owed to its meetings), "
            f"{quantity_kg} kg asked",
        )


def fund_pool(ledger: Ledger, actor: Party, body: cmd.FundPool, take: Take) -> list[ev.Event]:
    pool = _pool(ledger, body.pool_id)
    if actor.party_id != pool.opened_by and actor.party_id not in pool.members:
        raise Rejection(CheckCode.NOT_A_MEMBER, f"{actor.party_id} in {pool.pool_id}")
    if pool.allocated:
        raise Rejection(CheckCode.POOL_STATE, f"{pool.pool_id} is already allocated")
    _quantity(body.quantity_kg)
    blocks = take(ledger, actor.party_id, body.quantity_kg, body.batch_id)
    return [ev.PoolFunded(pool.pool_id, actor.party_id, blocks, body.quantity_kg)]


def return_remainder(
    ledger: Ledger, actor: Party, body: cmd.ReturnPoolRemainder, take: Take
) -> list[ev.Event]:
    pool = _pool(ledger, body.pool_id)
    _operator_only(actor, pool, "returns what is left of")
    if body.to_party_id not in pool.funders:
        raise Rejection(CheckCode.NOT_A_FUNDER, f"{body.to_party_id!r} did not fund {pool.pool_id}")
    _free_part(ledger, pool, body.quantity_kg)
    blocks = take(ledger, pool.holder_id, body.quantity_kg, None)
    return [ev.PoolRemainderReturned(pool.pool_id, body.to_party_id, blocks, body.quantity_kg)]


def carry_remainder(
    ledger: Ledger, actor: Party, body: cmd.CarryPoolRemainder, take: Take
) -> list[ev.Event]:
    pool = _pool(ledger, body.pool_id)
    _operator_only(actor, pool, "carries what is left of")
    target = _pool(ledger, body.to_pool_id)
    if (
        target.pool_id == pool.pool_id
        or target.opened_by != pool.opened_by
        or target.fiscal_year <= pool.fiscal_year
        or target.allocated
    ):
        raise Rejection(
            CheckCode.INVALID_CARRY,
            f"{target.pool_id} (FY{target.fiscal_year}, opened by {target.opened_by}, "
            f"{'allocated' if target.allocated else 'open'}) for {pool.pool_id} "
            f"(FY{pool.fiscal_year})",
        )
    _free_part(ledger, pool, body.quantity_kg)
    blocks = take(ledger, pool.holder_id, body.quantity_kg, None)
    return [ev.PoolRemainderCarried(pool.pool_id, target.pool_id, blocks, body.quantity_kg)]
