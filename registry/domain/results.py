"""What a command gets back: accepted at a position, or refused with a check code."""

from __future__ import annotations

from dataclasses import dataclass

from registry.domain.checks import CheckCode, Rejection


@dataclass(frozen=True)
class CommandResult:
    command_id: str
    accepted: bool
    position: int | None = None
    code: CheckCode | None = None
    message: str = ""
    replayed: bool = False

    @classmethod
    def rejected(cls, command_id: str, rejection: Rejection) -> CommandResult:
        return cls(command_id, False, code=rejection.code, message=rejection.message)
