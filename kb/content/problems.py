"""A problem found in the content: what, where, and how to fix it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]


@dataclass
class Problem:
    severity: Severity
    kind: str
    path: str
    line: int
    message: str
    hint: str = ""
    fixed: str | None = None  # e.g. the repaired text for mojibake

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def __str__(self) -> str:
        out = f"{self.path}:{self.line}: {self.severity}: [{self.kind}] {self.message}"
        if self.fixed:
            out += f"\n    repaired: {self.fixed}"
        if self.hint:
            out += f"\n    fix: {self.hint}"
        return out
