"""Emission factor tables in the history, and the rules' own calculation of a meeting.

The operator registers each table version once (a FactorTableRegistered event, each factor
with its unit and source, as whole milligrams CO2e per unit); a meeting's estimate before
and its calculation after name the version they use and carry their inputs. The rules
compute the figure with registry/domain/emissions.py and refuse a command whose figure
differs, so a share of a pool always follows a figure anyone can recompute from the log."""

from __future__ import annotations

from registry.domain import commands as cmd
from registry.domain import events as ev
from registry.domain.checks import CheckCode, Rejection
from registry.domain.emissions import Calculation, MeetingInputs, calculate, validate_factor_table
from registry.domain.ledger import Ledger
from registry.domain.parties import Party, Role


def register_factor_table(
    ledger: Ledger, actor: Party, body: cmd.RegisterFactorTable
) -> list[ev.Event]:
    if actor.role is not Role.OPERATOR:
        raise Rejection(
            CheckCode.ROLE_NOT_ALLOWED, f"{actor.role.value} may not register factor tables"
        )
    validate_factor_table(body.version, body.factors)
    if body.version in ledger.factor_tables:
        raise Rejection(CheckCode.FACTOR_TABLE_EXISTS, repr(body.version))
    return [ev.FactorTableRegistered(body.version, tuple(body.factors), actor.party_id)]


def decided_figure(
    ledger: Ledger,
    what: str,
    version: str | None,
    inputs: MeetingInputs | None,
    sent_kg: int,
) -> Calculation:
    """The rules' calculation of `inputs` under the registered table `version`; refuses
    the command unless the figure it sent is the same."""
    if version is None or inputs is None:
        raise Rejection(
            CheckCode.MALFORMED_COMMAND,
            f"the {what} carries its calculator inputs and the factor table version",
        )
    table = ledger.factor_tables.get(version)
    if table is None:
        raise Rejection(CheckCode.UNKNOWN_FACTOR_TABLE, repr(version))
    calculation = calculate(inputs, table)
    if calculation.total_kg != sent_kg:
        raise Rejection(
            CheckCode.CALCULATION_DIFFERS,
            f"{what}: {sent_kg} kg sent, the inputs give {calculation.total_kg} kg under {version}",
        )
    return calculation
