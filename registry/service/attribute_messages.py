"""Labels and origins as protobuf messages, for the query servicer's answers."""

from __future__ import annotations

from collections.abc import Iterable

from projections.attribute_queries import LabelView
from registry.api.credit_registry.v1 import registry_pb2 as pb
from registry.domain.events import Origin


def label_messages(views: Iterable[LabelView]) -> list[pb.SerialLabel]:
    return [
        pb.SerialLabel(
            batch_id=view.batch_id,
            label=view.label,
            serial_start=view.serial_start,
            serial_end=view.serial_end,
            valid_from=view.valid_from.isoformat(),
            valid_until=view.valid_until.isoformat(),
        )
        for view in views
    ]


def origin_message(origin: Origin | None) -> pb.Origin | None:
    if origin is None:
        return None
    return pb.Origin(
        registry_id=origin.registry_id,
        project_id=origin.project_id,
        serial_start=origin.serial_start,
        serial_end=origin.serial_end,
    )
