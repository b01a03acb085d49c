"""Origin references: credits that already exist in another registry (J-VER credits in the
national registry, say) name that registry, the project there and the serial range there
when they are issued here. The same origin kilogram is never issued twice here, by any
issuer under any class: the ledger keeps every issued origin range (origin_index.py).

Origin serials are counted in kilograms, one per kilogram issued, like serials here: the
range's length must equal the quantity issued. A registry that numbers tonnes is given
as kilograms, tonne n being kilograms 1000n-999 to 1000n, so a tonne split between two
issuances here is still never issued twice."""

from __future__ import annotations

import re

from registry.domain.checks import CheckCode, Rejection
from registry.domain.events import Origin
from registry.domain.ledger import Ledger
from registry.domain.origin_index import OriginIndex

_REGISTRY_ID = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$")
REGISTRY_ID_LENGTH_MAX = 32
_PROJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
PROJECT_ID_LENGTH_MAX = 64
ORIGIN_SERIAL_MAX = 2**62  # far beyond any registry's kilograms, within int64


def require_new_origin(ledger: Ledger, origin: Origin, quantity_kg: int) -> None:
    """Refuse a malformed origin, or one any of whose kilograms was issued here before."""
    if not (
        _REGISTRY_ID.match(origin.registry_id)
        and 2 <= len(origin.registry_id) <= REGISTRY_ID_LENGTH_MAX
    ):
        raise Rejection(
            CheckCode.INVALID_ORIGIN,
            f"registry id {origin.registry_id[:40]!r}: upper-case words joined by '-', "
            "e.g. JP-JVER",
        )
    if not (
        _PROJECT_ID.match(origin.project_id) and len(origin.project_id) <= PROJECT_ID_LENGTH_MAX
    ):
        raise Rejection(CheckCode.INVALID_ORIGIN, f"project id there {origin.project_id[:80]!r}")
    if not 1 <= origin.serial_start <= origin.serial_end <= ORIGIN_SERIAL_MAX:
        raise Rejection(
            CheckCode.INVALID_ORIGIN, f"serials {origin.serial_start}-{origin.serial_end}"
        )
    if origin.quantity_kg != quantity_kg:
        raise Rejection(
            CheckCode.INVALID_ORIGIN,
            f"{origin.quantity_kg} origin kg for {quantity_kg} kg issued: one per kilogram",
        )
    index = ledger.origins.get((origin.registry_id, origin.project_id), OriginIndex())
    clash = index.overlapping(origin.serial_start, origin.serial_end)
    if clash is not None:
        raise Rejection(
            CheckCode.ORIGIN_ALREADY_ISSUED,
            f"{origin.registry_id} {origin.project_id} kg {origin.serial_start}-"
            f"{origin.serial_end}: kg {clash.serial_start}-{clash.serial_end} there are "
            f"batch {clash.batch_id}",
        )
